"""Rules of ``rules/weights.smk`` (environment ``envs/train.yaml``).

The only jobs of the workflow that use the network; they run on the machine
Snakemake runs on (``localrules``), as cluster compute nodes often have no
internet access. Training jobs only read what these put in place.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..fetch import fetch_file
from ..io import write_text
from ..pretrained import hash_matches, sha256_file, show_pin

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


def fetch_weights_file(
    entry: Mapping[str, Any], dest: PathLike, mirror: str | None
) -> None:
    """Download one catalogue file (``entry``: name, url, sha256, ...) to
    ``dest``, from ``mirror`` when set, verified against its pinned hash."""
    fetch_file(dict(entry), dest, mirror=mirror)


def fetch_weights(
    files: Sequence[PathLike], pins: Mapping[str, str], checksums: PathLike
) -> None:
    """Check every fetched file against its pin (``pins``: file name -> pinned
    SHA-256 or prefix) and write their full SHA-256 to ``checksums`` in the
    format of ``sha256sum`` (``sha256sum -c`` verifies it)."""
    lines = []
    for path in files:
        path = Path(path)
        actual = sha256_file(path)
        pinned = pins[path.name]
        if not hash_matches(actual, pinned):
            raise InputError(
                f"{path}: SHA-256 {actual} is not the pinned {show_pin(pinned)}; "
                f"delete it and fetch it again"
            )
        log.info("%s: SHA-256 %s (pinned %s)", path, actual, show_pin(pinned))
        lines.append(f"{actual}  {path.name}\n")
    write_text("".join(lines), checksums)
    log.info("%d weights files verified -> %s", len(lines), checksums)
