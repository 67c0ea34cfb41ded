"""Reading the package's torch files: the one module that calls
``torch.load``, always with ``weights_only=True`` (tensors and plain values,
nothing pickled is executed).

:func:`load_tensors` reads any such file (pretrained weights, a training
run's resume state); :func:`read_checkpoint` reads a checkpoint written by
training (``best.pt``) or a bundle's member, checking that it is one;
:func:`save_tensors` writes one.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from ..errors import InputError

PathLike = str | os.PathLike


def load_tensors(path: PathLike) -> Any:
    """A torch file's contents, on the CPU, as tensors and plain values."""
    return torch.load(path, map_location="cpu", weights_only=True)


def save_tensors(obj: Any, path: PathLike) -> None:
    """Write ``obj`` (tensors and plain values) as a torch file."""
    torch.save(obj, path)


def read_checkpoint(path: PathLike) -> dict:
    """A checkpoint of this project: its ``model`` state dict, ``model_name``
    and the other fields training wrote; :class:`InputError` when the file is
    missing or holds no such checkpoint."""
    try:
        ckpt = load_tensors(path)
    except FileNotFoundError:
        raise InputError(f"checkpoint not found: {path}") from None
    for key in ("model", "model_name"):
        if key not in ckpt:
            raise InputError(f"{path}: not a checkpoint of this project (no {key!r})")
    return ckpt
