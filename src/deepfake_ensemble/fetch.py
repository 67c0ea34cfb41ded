"""Fetch pinned pretrained files (rule ``fetch_weights_file``), nothing else.

``fetch_file(entry, dest, mirror)`` downloads one catalogue file
(:class:`deepfake_ensemble.pretrained.WeightsFile`) with torch.hub's
``download_url_to_file``: it streams into a temporary name beside ``dest``
with a progress bar, checks the SHA-256 (or the published prefix) while
reading, and renames the file into place only when the hash agrees; a
mismatch or a broken connection leaves nothing at ``dest``. A file already at
``dest`` with the pinned hash is not fetched again.

``mirror`` (config key ``weights_mirror``: ``http(s)://`` or ``file://``)
replaces the publisher's URL base: the file is looked up under its
catalogue name there, and the pinned hash stays the same.

Only this module and the rules of ``rules/weights.smk`` reach the network;
training and prediction only read local files.
"""

from __future__ import annotations

import logging
import os
import re
import urllib.error
from pathlib import Path
from typing import Any

from .errors import InputError
from .pretrained import (
    MIRROR_KEY,
    WeightsFile,
    hash_matches,
    sha256_file,
    show_pin,
    source_url,
)

log = logging.getLogger(__name__)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason).strip().splitlines()
    return text[0] if text else type(exc).__name__


def fetch_file(
    entry: WeightsFile | dict[str, Any],
    dest: str | os.PathLike,
    mirror: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Put ``entry``'s file at ``dest``, verified; returns ``{"file", "url",
    "sha256", "downloaded"}``. Raises :class:`InputError` (one line) naming
    the file, the URL and, for a network failure, the mirror key."""
    if not isinstance(entry, WeightsFile):
        entry = WeightsFile.from_dict(entry["name"], entry)
    dest = Path(dest)
    url = source_url(entry, mirror)
    if dest.is_file():
        actual = sha256_file(dest)
        if not hash_matches(actual, entry.sha256):
            raise InputError(
                f"{dest}: already there but its SHA-256 {actual} is not the "
                f"pinned {show_pin(entry.sha256)}; delete it to fetch it again"
            )
        log.info("%s: present, SHA-256 %s verified; nothing to fetch", dest, actual)
        return {"file": str(dest), "url": url, "sha256": actual, "downloaded": False}
    dest.parent.mkdir(parents=True, exist_ok=True)
    log.info("%s: fetching %s (pinned SHA-256 %s)", dest, url, show_pin(entry.sha256))
    from torch.hub import download_url_to_file

    try:
        download_url_to_file(
            url, str(dest), hash_prefix=entry.sha256, progress=progress
        )
    except RuntimeError as exc:
        match = re.search(
            r'invalid hash value \(expected "\w+", got "(\w+)"\)', str(exc)
        )
        if not match:
            raise
        raise InputError(
            f"{dest.name}: SHA-256 mismatch for {url}: expected "
            f"{show_pin(entry.sha256)}, got {match.group(1)}; the download was "
            f"discarded, nothing was written to {dest}"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise InputError(
            f"cannot fetch {entry.name} from {url} ({_reason(exc)}); without "
            f"internet access set config key {MIRROR_KEY} to a mirror "
            f"(http(s):// or file://) that holds {entry.name}, or put the file "
            f"at {dest}"
        ) from None
    actual = sha256_file(dest)
    log.info("%s: fetched, SHA-256 %s", dest, actual)
    return {"file": str(dest), "url": url, "sha256": actual, "downloaded": True}
