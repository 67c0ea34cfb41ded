"""Scores of a trained detector for every sampled frame of a split.

``predict(checkpoint, shards)`` loads the checkpoint once, builds the
detector's dataset with :func:`deepfake_ensemble.train.datasets.shard_dataset` (the
window length stored in the checkpoint's config) and returns one row per
(video_id, frame_index) with the fake probability (``score``): frame models
average the scores of a frame's faces; the eye-sequence model gives every
frame of a window the window's probability (a frame in several windows gets
their mean). ``predict_dataset(checkpoint, dataset)`` does the same for a
dataset built elsewhere.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..defaults import DEFAULTS
from ..errors import InputError
from ..predictions import PREDICTION_COLUMNS
from .checkpoint import read_checkpoint
from .datasets import ShardSource, shard_dataset
from .models import EYE_SEQUENCE, create_member, member_spec
from .models.base import Detector, ModelSpec


def resolve_device(
    device: str | torch.device = DEFAULTS["train.device"],
) -> torch.device:
    if isinstance(device, torch.device):
        return device
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} requested but CUDA is not available")
    return dev


def loader_workers(num_workers: int | None, threads: int | None, device) -> int:
    """DataLoader workers of a training or prediction job: ``num_workers``
    when set, else the job's threads minus one (at most 8) beside a GPU and
    none on CPU, where the job's threads compute."""
    if num_workers is not None:
        return int(num_workers)
    if torch.device(device).type != "cuda":
        return 0
    return max(min(int(threads or 4) - 1, 8), 0)


def unpack_batch(batch: Any, kind: str):
    """DataLoader batch -> (uint8 input, mask or None, labels, item indices)."""
    if kind == EYE_SEQUENCE:
        x, mask, y, idx = batch[:4]
    else:
        x, y, idx = batch[:3]
        mask = None
    return x, mask, torch.as_tensor(y).long(), torch.as_tensor(idx).long()


def forward_batch(
    model,
    spec,
    batch,
    device: torch.device,
    input_size: int,
    normalisation: str,
    amp: bool,
    train: bool = False,
    generator: torch.Generator | None = None,
    forward=None,
):
    """Move one batch to ``device``, prepare it and run the model on it.

    Returns ``(outputs, loss, labels, mask, item indices)``; ``amp`` turns on
    bf16 autocast and channels-last (CUDA). ``forward``: what runs the
    forward pass in place of ``model`` (its DistributedDataParallel wrapper);
    the loss is always ``model``'s.
    """
    x, mask, y, idx = unpack_batch(batch, spec.input_kind)
    x = x.to(device, non_blocking=True)
    y = y.to(device)
    if mask is not None:
        mask = mask.to(device)
    x = spec.prepare(
        x,
        input_size=input_size,
        normalisation=normalisation,
        train=train,
        generator=generator,
        channels_last=amp,
    )
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        net = forward or model
        out = net(x, mask) if mask is not None else net(x)
    return out, model.loss(out, y, mask), y, mask, idx


@torch.no_grad()
def infer(
    model: Detector,
    spec: ModelSpec,
    dataset,
    *,
    input_size: int,
    normalisation: str,
    device: torch.device,
    batch_size: int = 64,
    num_workers: int = 0,
    progress: bool = True,
    amp: bool = False,
    desc: str = "predict",
) -> tuple[np.ndarray, np.ndarray, float]:
    """Run ``model`` over ``dataset`` in eval mode.

    Returns item indices, fake probabilities and the mean loss per item.
    """
    model.eval()
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
    )
    idx_all, score_all = [], []
    loss_sum, n = 0.0, 0
    for batch in tqdm(
        loader, desc=desc, disable=None if progress else True, file=sys.stderr
    ):
        out, loss, y, mask, idx = forward_batch(
            model, spec, batch, device, input_size, normalisation, amp
        )
        loss_sum += float(loss) * len(y)
        n += len(y)
        idx_all.append(idx.cpu())
        score_all.append(model.scores(out, mask).float().cpu())
    if n == 0:
        raise InputError(f"{desc}: the dataset is empty")
    return (
        torch.cat(idx_all).numpy(),
        torch.cat(score_all).numpy().astype(np.float64),
        loss_sum / n,
    )


def frame_table(
    dataset, kind: str, idx: np.ndarray, scores: np.ndarray
) -> pd.DataFrame:
    """Item scores -> one row per (video_id, frame_index), sorted."""
    meta = dataset.meta
    if kind == EYE_SEQUENCE:
        rows = []
        for i, s in zip(idx.tolist(), scores.tolist(), strict=True):
            vid, label = meta.iloc[i]["video_id"], int(meta.iloc[i]["label"])
            for f in dataset.frame_indices(i):
                rows.append((vid, int(f), label, s))
        df = pd.DataFrame(rows, columns=list(PREDICTION_COLUMNS))
    else:
        m = meta.iloc[idx]
        df = pd.DataFrame(
            {
                "video_id": m["video_id"].to_numpy(),
                "frame_index": m["frame_index"].to_numpy().astype(int),
                "label": m["label"].to_numpy().astype(int),
                "score": scores,
            }
        )
    df = (
        df.groupby(["video_id", "frame_index"], sort=True)
        .agg(label=("label", "first"), score=("score", "mean"))
        .reset_index()
    )
    return df[list(PREDICTION_COLUMNS)]


def load_checkpoint(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[Detector, ModelSpec, dict]:
    """Rebuild the detector stored in a checkpoint written by ``train_model``."""
    ckpt = read_checkpoint(path)
    spec = member_spec(ckpt["model_name"], ckpt.get("config"))
    model = create_member(spec, ckpt.get("model_kwargs", {}))
    model.load_state_dict(ckpt["model"])
    model.to(resolve_device(device)).eval()
    return model, spec, ckpt


def predict(
    checkpoint_path: str | os.PathLike,
    shards: ShardSource,
    *,
    device: str | torch.device = DEFAULTS["train.device"],
    batch_size: int = 64,
    num_workers: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Fake probability per sampled frame of ``shards`` (a shard directory,
    file, list of them or an open ``ShardSet``): columns video_id,
    frame_index, label, score; unique on (video_id, frame_index) and sorted
    by it; an empty table when no video has a face. The checkpoint is read
    once."""
    return _predict(
        checkpoint_path,
        lambda spec, ckpt: shard_dataset(spec.name, shards, ckpt.get("config") or {}),
        device=device,
        batch_size=batch_size,
        num_workers=num_workers,
        progress=progress,
    )


def predict_dataset(
    checkpoint_path: str | os.PathLike,
    dataset,
    *,
    device: str | torch.device = DEFAULTS["train.device"],
    batch_size: int = 64,
    num_workers: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """As :func:`predict`, on a dataset already built (items and ``meta`` as
    the datasets of :mod:`deepfake_ensemble.train.datasets`)."""
    return _predict(
        checkpoint_path,
        lambda spec, ckpt: dataset,
        device=device,
        batch_size=batch_size,
        num_workers=num_workers,
        progress=progress,
    )


def _predict(checkpoint_path, make_dataset, *, device, **kwargs) -> pd.DataFrame:
    """Load the checkpoint once, build the dataset from its spec and config
    (``make_dataset(spec, ckpt)``) and score it; an empty table when the
    dataset has no item."""
    dev = resolve_device(device)
    model, spec, ckpt = load_checkpoint(checkpoint_path, dev)
    dataset = make_dataset(spec, ckpt)
    if len(dataset) == 0:
        return empty_predictions()
    return score_frames(model, spec, ckpt, dataset, device=dev, **kwargs)


def empty_predictions() -> pd.DataFrame:
    """A frame table with no row."""
    return pd.DataFrame(columns=list(PREDICTION_COLUMNS))


def score_frames(
    model: Detector,
    spec: ModelSpec,
    ckpt: dict,
    dataset,
    *,
    device: torch.device,
    batch_size: int = 64,
    num_workers: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """The frame table of a loaded checkpoint (``load_checkpoint``'s triple)
    on ``dataset``."""
    amp = device.type == "cuda"
    if amp:
        model.to(memory_format=torch.channels_last)
    idx, scores, _ = infer(
        model,
        spec,
        dataset,
        input_size=int(ckpt.get("input_size", spec.input_size)),
        normalisation=ckpt.get("normalisation", spec.normalisation),
        device=device,
        batch_size=batch_size,
        num_workers=num_workers,
        progress=progress,
        amp=amp,
        desc=f"predict {spec.name}",
    )
    return frame_table(dataset, spec.input_kind, idx, scores)
