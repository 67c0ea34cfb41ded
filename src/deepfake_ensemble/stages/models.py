"""Rules of ``rules/models.smk`` (environment ``envs/train.yaml``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from ..datasets import shard_dataset
from ..io import write_csv
from ..predict import predict as predict_frames
from ..train import train_model

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


def train(
    model: str,
    train_shards: PathLike,
    val_shards: PathLike,
    out_dir: PathLike,
    resume_dir: PathLike,
    model_config: Mapping[str, Any],
    train_config: Mapping[str, Any],
    seed: int,
    threads: int,
) -> None:
    """Train one detector into ``out_dir`` (``best.pt, last.pt, history.csv,
    training_curve.png, size.json``); resumes from ``resume_dir``."""
    model_config = dict(model_config)
    history = train_model(
        model,
        model_config,
        shard_dataset(model, train_shards, model_config),
        shard_dataset(model, val_shards, model_config),
        out_dir=out_dir,
        resume_dir=resume_dir,
        seed=seed,
        device=train_config.get("device", "auto"),
        num_workers=int(train_config.get("num_workers", 0)),
        threads=threads,
    )
    log.info("%s: trained %d epochs", model, len(history))


def predict(
    checkpoint: PathLike,
    shards: PathLike,
    out_csv: PathLike,
    train_config: Mapping[str, Any],
) -> None:
    """Per-frame fake probabilities of one trained detector on one split."""
    frame = predict_frames(
        checkpoint,
        shards,
        device=train_config.get("device", "auto"),
        num_workers=int(train_config.get("num_workers", 0)),
    )
    write_csv(frame, out_csv)
    log.info("%d frame predictions -> %s", len(frame), out_csv)
