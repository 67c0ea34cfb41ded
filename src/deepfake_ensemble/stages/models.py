"""Rules of ``rules/models.smk`` (environment ``envs/train.yaml``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from ..datasets import shard_dataset
from ..io import write_csv
from ..predict import predict as predict_frames
from ..predict import resolve_device
from ..staging import stage_shards
from ..train import loader_workers, train_model

log = logging.getLogger(__name__)

PathLike = str | os.PathLike
#: one shard folder, or several read as one (the datasets of a training set)
ShardDirs = PathLike | Sequence[PathLike]


def _local(shards: ShardDirs, train_config: Mapping[str, Any]) -> ShardDirs:
    """The shard folder(s) to read: each staged to ``train.stage_dir`` when
    that is set."""
    stage_dir = train_config.get("stage_dir")
    if isinstance(shards, str | os.PathLike):
        return stage_shards(shards, stage_dir) if stage_dir else shards
    return [_local(d, train_config) for d in shards]


def train(
    model: str,
    train_shards: ShardDirs,
    val_shards: ShardDirs,
    out_dir: PathLike,
    resume_dir: PathLike,
    model_config: Mapping[str, Any],
    train_config: Mapping[str, Any],
    seed: int,
    threads: int,
    val_predictions: PathLike | None = None,
) -> None:
    """Train one detector into ``out_dir`` (``best.pt, last.pt, history.csv,
    training_curve.png, size.json``); resumes from ``resume_dir``. The best
    epoch's validation frame scores go to ``val_predictions`` (the model's val
    predictions in the workflow).

    ``train_shards``/``val_shards``: a shard folder or a list of them (one
    per dataset of the training set), read as one dataset."""
    model_config = dict(model_config)
    history = train_model(
        model,
        model_config,
        shard_dataset(model, _local(train_shards, train_config), model_config),
        shard_dataset(model, _local(val_shards, train_config), model_config),
        out_dir=out_dir,
        resume_dir=resume_dir,
        seed=seed,
        device=train_config.get("device", "auto"),
        num_workers=train_config.get("num_workers"),
        threads=threads,
        balance=bool(train_config.get("balance", False)),
        val_predictions=val_predictions,
    )
    log.info("%s: trained %d epochs", model, len(history))


def predict(
    checkpoint: PathLike,
    shards: ShardDirs,
    out_csv: PathLike,
    train_config: Mapping[str, Any],
    threads: int | None = None,
) -> None:
    """Per-frame fake probabilities of one trained detector on the test
    split(s) (``shards``: a shard folder, or one folder per test dataset).
    The val predictions come from training itself (:func:`train`)."""
    device = resolve_device(train_config.get("device", "auto"))
    frame = predict_frames(
        checkpoint,
        _local(shards, train_config),
        device=device,
        num_workers=loader_workers(train_config.get("num_workers"), threads, device),
    )
    write_csv(frame, out_csv)
    log.info("%d frame predictions -> %s", len(frame), out_csv)
