"""PyTorch datasets over HDF5 face shards (format in :mod:`.shards`).

``shard_dataset(model_name, shards, model_config)`` gives the dataset a
detector consumes: one item per face crop (:class:`FrameDataset`) for the
frame models, windows of ``seq_len`` eye crops (:class:`EyeSequenceDataset`)
for the eye-sequence model. :func:`resolve_seq_len` is the one place where a
window length is decided: the model config's ``seq_len``, else the one of the
model's registry spec.

:func:`training_dataset` is the dataset a detector trains on: the same,
unless ``models.<name>.fakes`` asks for fakes synthesised from the real
faces (:mod:`.synthesis`; :func:`resolve_fakes` reads the key).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..config import fakes_problem
from ..defaults import DEFAULTS
from ..errors import InputError
from ..preprocess.shards import ShardSet
from .models import EYE_SEQUENCE, member_spec

__all__ = [
    "FAKES",
    "ConcatFrames",
    "EyeSequenceDataset",
    "FrameDataset",
    "resolve_fakes",
    "resolve_seq_len",
    "shard_dataset",
    "training_dataset",
]

#: ``models.<name>.fakes`` -> the kinds of :mod:`.synthesis` it trains on (the
#: schema's enum; none: the dataset's own fakes) and whether the dataset's
#: own items stay in the training set
FAKES: dict[str, tuple[tuple[str, ...], bool]] = {
    "dataset": ((), True),
    "self_blended": (("self_blended",), False),
    "face_warp": (("face_warp",), False),
    "mixed": (("self_blended", "face_warp"), True),
}

ShardSource = str | os.PathLike | Iterable[str | os.PathLike] | ShardSet


def _shard_set(source: ShardSource) -> ShardSet:
    return source if isinstance(source, ShardSet) else ShardSet(source)


class FrameDataset:
    """One item per face row: ``(image, label, index)``.

    ``image`` is a uint8 tensor 3 x S x S (RGB); ``transform``, if given, is
    called on it and its result returned instead. ``.meta`` has one line per
    item: ``video_id, frame_index, label, face_index, timestamp, shard, row``.
    """

    def __init__(self, shard_paths: ShardSource, transform=None):
        self.shards = _shard_set(shard_paths)
        self.transform = transform
        m = self.shards.rows
        self.meta = m[
            [
                "video_id",
                "frame_index",
                "label",
                "face_index",
                "timestamp",
                "shard",
                "row",
            ]
        ].reset_index(drop=True)
        self._shard = m["shard"].to_numpy(np.int64)
        self._row = m["row"].to_numpy(np.int64)
        self._label = m["label"].to_numpy(np.int64)

    def __len__(self) -> int:
        return len(self.meta)

    def __getitem__(self, i: int):
        if i < 0:
            i += len(self)
        img = self.shards.face(int(self._shard[i]), int(self._row[i]))
        x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        if self.transform is not None:
            x = self.transform(x)
        return x, int(self._label[i]), i


class EyeSequenceDataset:
    """Eye-crop sequences of the largest face (``face_index`` 0) per video.

    A video's frames are cut into consecutive windows of ``seq_len`` frames
    (so every sampled frame with a face belongs to exactly one item); the
    last window is padded by repeating its last frame, with ``mask`` False on
    the padding. Item ``i``: ``(eyes, mask, label, i)`` where ``eyes`` is a
    uint8 tensor T x 2 x 3 x E x E (T = ``seq_len``) and ``mask`` a bool
    tensor T. ``.meta``: ``video_id, label, window, n_frames, shard``;
    ``frame_indices(i)`` gives the frame indices of the real (unpadded) steps.
    """

    def __init__(self, shard_paths: ShardSource, seq_len: int):
        if int(seq_len) < 1:
            raise ValueError("seq_len must be >= 1")
        self.seq_len = int(seq_len)
        self.shards = _shard_set(shard_paths)
        r = self.shards.rows
        r = r[r["face_index"] == 0].sort_values(
            ["video_id", "frame_index"], kind="stable"
        )
        items = []
        self._rows: list[np.ndarray] = []
        self._frames: list[np.ndarray] = []
        for vid, g in r.groupby("video_id", sort=True):
            rows = g["row"].to_numpy(np.int64)
            frames = g["frame_index"].to_numpy(np.int64)
            shard = int(g["shard"].iloc[0])
            label = int(g["label"].iloc[0])
            for w, start in enumerate(range(0, len(rows), self.seq_len)):
                sl = slice(start, start + self.seq_len)
                items.append(
                    {
                        "video_id": vid,
                        "label": label,
                        "window": w,
                        "n_frames": len(rows[sl]),
                        "shard": shard,
                    }
                )
                self._rows.append(rows[sl])
                self._frames.append(frames[sl])
        self.meta = pd.DataFrame(
            items, columns=["video_id", "label", "window", "n_frames", "shard"]
        )

    def __len__(self) -> int:
        return len(self.meta)

    def frame_indices(self, i: int) -> list[int]:
        return [int(x) for x in self._frames[i]]

    def __getitem__(self, i: int):
        if i < 0:
            i += len(self)
        rows = self._rows[i]
        eyes = self.shards.eyes_rows(int(self.meta.at[i, "shard"]), rows)
        n = len(rows)
        if n < self.seq_len:
            pad = np.repeat(eyes[-1:], self.seq_len - n, axis=0)
            eyes = np.concatenate([eyes, pad])
        mask = np.zeros(self.seq_len, bool)
        mask[:n] = True
        x = torch.from_numpy(np.ascontiguousarray(eyes.transpose(0, 1, 4, 2, 3)))
        return x, torch.from_numpy(mask), int(self.meta.at[i, "label"]), i


def resolve_seq_len(
    model_name: str, model_config: Mapping[str, Any] | None
) -> int | None:
    """Window length of ``model_name``'s eye sequences.

    The config's ``seq_len`` (a model's raw config block or the resolved one
    stored in a checkpoint), else the registry spec's; ``None`` for a frame
    model that sets none. An eye-sequence model without either is an error.
    """
    spec = member_spec(model_name, model_config)
    value = (model_config or {}).get("seq_len") or spec.seq_len
    if value is None:
        if spec.input_kind == EYE_SEQUENCE:
            raise InputError(f"models.{model_name}.seq_len is not set")
        return None
    try:
        seq_len = int(value)
    except (TypeError, ValueError):
        seq_len = 0
    if seq_len < 1 or seq_len != value:
        raise InputError(
            f"models.{model_name}.seq_len must be a positive integer, not {value!r}"
        )
    return seq_len


def shard_dataset(
    model_name: str,
    shards: ShardSource,
    model_config: Mapping[str, Any] | None = None,
) -> FrameDataset | EyeSequenceDataset:
    """The dataset detector ``model_name`` consumes from ``shards`` (a shard
    directory, a shard file, a list of them, or an open :class:`ShardSet`):
    face frames, or eye-crop sequences of :func:`resolve_seq_len` frames."""
    spec = member_spec(model_name, model_config)
    if spec.input_kind == EYE_SEQUENCE:
        return EyeSequenceDataset(
            shards, seq_len=resolve_seq_len(model_name, model_config)
        )
    return FrameDataset(shards)


def resolve_fakes(model_name: str, model_config: Mapping[str, Any] | None) -> str:
    """``models.<model_name>.fakes`` (a key of :data:`FAKES`; the schema's
    default when unset), checked: synthesis feeds frame models only."""
    value = (model_config or {}).get("fakes") or DEFAULTS["models.<model>.fakes"]
    if value not in FAKES:
        raise InputError(
            f"models.{model_name}.fakes must be one of {', '.join(FAKES)}, "
            f"not {value!r}"
        )
    problem = fakes_problem(model_name, value)
    if problem:
        raise InputError(problem.removeprefix("config key "))
    return value


class ConcatFrames:
    """Frame datasets one after the other: item ``i`` of the whole is
    ``(image, label, i)``. ``.meta``: the parts' ``.meta`` in order, with
    ``part`` (the part's position); :meth:`set_epoch` reaches every part
    that has one."""

    def __init__(self, parts):
        self.parts = list(parts)
        self._ends = np.cumsum([len(p) for p in self.parts], dtype=np.int64)
        self.meta = pd.concat(
            [p.meta.assign(part=j) for j, p in enumerate(self.parts)],
            ignore_index=True,
        )

    def set_epoch(self, epoch: int) -> None:
        for part in self.parts:
            set_epoch = getattr(part, "set_epoch", None)
            if callable(set_epoch):
                set_epoch(epoch)

    def __len__(self) -> int:
        return int(self._ends[-1]) if len(self._ends) else 0

    def __getitem__(self, i: int):
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        j = int(np.searchsorted(self._ends, i, side="right"))
        start = int(self._ends[j - 1]) if j else 0
        x, label, _ = self.parts[j][i - start]
        return x, label, i


def training_dataset(
    model_name: str,
    shards: ShardSource,
    model_config: Mapping[str, Any] | None = None,
    seed: int = DEFAULTS["seed"],
):
    """The dataset detector ``model_name`` trains on from ``shards``.

    ``models.<name>.fakes`` (:func:`resolve_fakes`): ``dataset`` gives
    :func:`shard_dataset`'s, item for item; ``self_blended`` or
    ``face_warp`` a :class:`~.synthesis.SynthesisDataset` of that kind over
    the shards' real faces (each real face, then a fake made from it);
    ``mixed`` the shards' items followed by a synthesis dataset of both
    kinds (:class:`ConcatFrames`), so every real face is seen twice an
    epoch, as itself and beside its fake. The fakes are seeded by ``seed``
    (the run's) and the epoch the training loop sets."""
    fakes = resolve_fakes(model_name, model_config)
    dataset = shard_dataset(model_name, shards, model_config)
    kinds, keep_dataset = FAKES[fakes]
    if not kinds:
        return dataset
    from .synthesis import ShardFaces, SynthesisDataset

    faces = ShardFaces(dataset.shards)
    if len(faces) == 0:
        raise InputError(
            f"models.{model_name}.fakes: {fakes!r} synthesises fakes from the "
            f"real faces of the training split, and it has none"
        )
    # the item seeds are non-negative (numpy's SeedSequence); any seed maps to one
    synthesis = SynthesisDataset(faces, kinds=kinds, seed=int(seed) % 2**64)
    return ConcatFrames([dataset, synthesis]) if keep_dataset else synthesis
