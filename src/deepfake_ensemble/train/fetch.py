"""Fetch pinned pretrained files (rule ``fetch_weights_file``), nothing else.

``fetch_file(entry, dest, mirror)`` downloads one catalogue file
(:class:`deepfake_ensemble.pretrained.WeightsFile`): it streams into a
temporary name beside ``dest`` with a progress bar, counts the bytes and
computes the SHA-256 while reading, and renames the file into place only
when the whole file arrived and its hash agrees with the pin (the SHA-256 or
the published prefix). A transfer that ends before the ``Content-Length`` the
server announced is reported as such, with both byte counts (without a
``Content-Length`` the hash is the guard); it, a mismatch or a broken
connection leaves nothing at ``dest``. A file already at ``dest`` with the
pinned hash is not fetched again.

``mirror`` (config key ``weights_mirror``: ``http(s)://`` or ``file://``)
replaces the publisher's URL base: the file is looked up under its
catalogue name there, and the pinned hash stays the same.

Only this module and the rules ``fetch_weights`` and ``fetch_weights_file``
reach the network; training and prediction only read local files.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..pretrained import (
    MIRROR_KEY,
    WeightsFile,
    hash_matches,
    sha256_file,
    show_pin,
    source_url,
)

log = logging.getLogger(__name__)


#: bytes read at a time while streaming a download
READ_CHUNK = 128 * 1024


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason).strip().splitlines()
    return text[0] if text else type(exc).__name__


@dataclass
class _Transfer:
    """What one download delivered: bytes received, the ``Content-Length``
    announced (``None``: none), SHA-256 of the bytes received, and why the
    body stopped before its end (``None``: it did not, as far as the
    connection tells: compare ``received`` with ``expected``)."""

    received: int
    expected: int | None
    sha256: str
    cut: str | None

    @property
    def ended_early(self) -> bool:
        return self.cut is not None or (
            self.expected is not None and self.received < self.expected
        )


def _content_length(response: Any) -> int | None:
    try:
        value = int(response.headers.get("Content-Length", ""))
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


def _stream(url: str, out: Any, progress: bool) -> _Transfer:
    """Copy the body of ``url`` into the open file ``out``. A failure to
    connect propagates; one while reading the body ends the transfer, which
    records it (``cut``)."""
    from tqdm import tqdm

    # the User-Agent of torch.hub's download, as the publishers' hosts saw it
    request = urllib.request.Request(url, headers={"User-Agent": "torch.hub"})
    digest = hashlib.sha256()
    received, cut = 0, None
    with urllib.request.urlopen(request) as response:
        expected = _content_length(response)
        with tqdm(
            total=expected,
            disable=not progress,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
        ) as bar:
            while True:
                try:
                    block = response.read(READ_CHUNK)
                except http.client.IncompleteRead as exc:
                    # a chunk cut short: its bytes are counted (the read of
                    # chunks keeps those of the short one in the cause)
                    cause = exc.__cause__
                    block = exc.partial + (
                        cause.partial
                        if isinstance(cause, http.client.IncompleteRead)
                        else b""
                    )
                    out.write(block)
                    digest.update(block)
                    received += len(block)
                    cut = "IncompleteRead: the connection closed inside a chunk"
                    break
                except (http.client.HTTPException, OSError) as exc:
                    cut = f"{type(exc).__name__}: {_reason(exc)}"  # a reset
                    break
                if not block:
                    break
                out.write(block)
                digest.update(block)
                received += len(block)
                bar.update(len(block))
    return _Transfer(received, expected, digest.hexdigest(), cut)


def _ended_early(transfer: _Transfer, url: str, dest: Path) -> str:
    if transfer.expected is not None:
        got = (
            f"received {transfer.received} of the {transfer.expected} bytes "
            f"announced (Content-Length)"
        )
    else:
        got = f"received {transfer.received} bytes (no Content-Length announced)"
    why = f" ({transfer.cut})" if transfer.cut else ""
    return (
        f"{dest.name}: the transfer from {url} ended early{why}: {got}; the "
        f"partial download was discarded, nothing was written to {dest}"
    )


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
    # a fresh name beside dest, created with the umask's permissions (as the
    # file in place will have them; mkstemp's would be the owner's only)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.partial")
    try:
        with open(tmp, "xb") as out:
            transfer = _stream(url, out, progress)
        if transfer.ended_early:
            raise InputError(_ended_early(transfer, url, dest))
        if not hash_matches(transfer.sha256, entry.sha256):
            raise InputError(
                f"{dest.name}: SHA-256 mismatch for {url}: expected "
                f"{show_pin(entry.sha256)}, got {transfer.sha256}; the download "
                f"was discarded, nothing was written to {dest}"
            )
        os.replace(tmp, dest)
    except InputError:
        raise
    except (
        urllib.error.URLError,
        http.client.HTTPException,
        OSError,
        ValueError,
    ) as exc:
        raise InputError(
            f"cannot fetch {entry.name} from {url} ({_reason(exc)}); without "
            f"internet access set config key {MIRROR_KEY} to a mirror "
            f"(http(s):// or file://) that holds {entry.name}, or put the file "
            f"at {dest}"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    log.info(
        "%s: fetched, %d bytes, SHA-256 %s", dest, transfer.received, transfer.sha256
    )
    return {
        "file": str(dest),
        "url": url,
        "sha256": transfer.sha256,
        "downloaded": True,
    }
