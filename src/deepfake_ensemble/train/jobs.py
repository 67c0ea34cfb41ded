"""Rules of ``rules/train.smk`` (environment ``envs/train.yaml``).

``fetch_weights`` and ``fetch_weights_file`` are the only jobs of the workflow
that use the network; they run on the machine Snakemake runs on
(``localrules``), as cluster compute nodes often have no internet access.
Training jobs only read what these put in place.

torch is imported here, before the rule's job pins its CPU kernels
(:func:`deepfake_ensemble.workflow.rule_job`, which pins a torch already
loaded); the modules that import torchvision (about 3 s more: it loads
torch's compiler) are imported inside the training and prediction functions
only, so that the download jobs do not wait for them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch  # noqa: F401  (loaded before the job pins its kernels)

from ..defaults import DEFAULTS
from ..errors import InputError
from ..io import write_csv, write_text
from ..pretrained import hash_matches, sha256_file, show_pin
from .fetch import fetch_file
from .staging import stage_shards

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


def _paths(shards: ShardDirs) -> str | list[str]:
    if isinstance(shards, str | os.PathLike):
        return str(shards)
    return [str(d) for d in shards]


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
    per dataset of the training set), read as one dataset. The training
    items follow ``models.<model>.fakes`` (:func:`.datasets.training_dataset`,
    fakes seeded by ``seed``); validation is always the val shards' own."""
    from . import distributed
    from .datasets import shard_dataset, training_dataset
    from .loop import train_model

    model_config = dict(model_config)
    world = int(model_config.get("gpus") or DEFAULTS["models.<model>.gpus"])
    if world > 1 and distributed.ranks().world == 1:
        # the job: stage the shards once, then one process per GPU
        distributed.launch(
            {
                "model": model,
                "train_shards": _paths(_local(train_shards, train_config)),
                "val_shards": _paths(_local(val_shards, train_config)),
                "out_dir": str(out_dir),
                "resume_dir": str(resume_dir),
                "model_config": model_config,
                "train_config": {**train_config, "stage_dir": None},
                "seed": seed,
                "threads": max(1, int(threads) // world),
                "val_predictions": val_predictions and str(val_predictions),
            },
            world,
            Path(resume_dir),
        )
        return
    train_ds = training_dataset(
        model, _local(train_shards, train_config), model_config, seed=seed
    )
    augment = train_config.get("augment") or {}
    if augment.get("enabled"):
        from .augment import AugmentedItems

        train_ds = AugmentedItems(train_ds, augment, seed)
        log.info("%s: training items augmented (train.augment)", model)
    log.info(
        "%s: %d training items (fakes: %s)",
        model,
        len(train_ds),
        model_config.get("fakes") or DEFAULTS["models.<model>.fakes"],
    )
    history = train_model(
        model,
        model_config,
        train_ds,
        shard_dataset(model, _local(val_shards, train_config), model_config),
        out_dir=out_dir,
        resume_dir=resume_dir,
        seed=seed,
        device=train_config.get("device", DEFAULTS["train.device"]),
        num_workers=train_config.get("num_workers"),
        threads=threads,
        balance=bool(train_config.get("balance", DEFAULTS["train.balance"])),
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
    # not .loop: prediction needs neither the training loop nor scikit-learn
    from .predict import loader_workers, resolve_device
    from .predict import predict as predict_frames

    device = resolve_device(train_config.get("device", DEFAULTS["train.device"]))
    frame = predict_frames(
        checkpoint,
        _local(shards, train_config),
        device=device,
        num_workers=loader_workers(train_config.get("num_workers"), threads, device),
    )
    write_csv(frame, out_csv)
    log.info("%d frame predictions -> %s", len(frame), out_csv)


def synthesis_sheet(
    shards: Sequence[PathLike], out_png: PathLike, n: int, seed: int
) -> None:
    """The contact sheet of ``n`` real faces of the training shards and the
    fakes synthesised from them, drawn with ``seed``
    (:mod:`deepfake_ensemble.train.sheet`)."""
    from .sheet import contact_sheet

    samples = contact_sheet(list(shards), out_png, n=n, seed=seed)
    log.info("%d real faces and their fakes -> %s", len(samples), out_png)


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
