"""Rules of ``rules/bundle.smk``: the bundle, and scoring new videos with it.

``bundle`` runs in ``envs/train.yaml``. The scoring rules run in three
environments: ``score_videos``, ``score_preprocess`` and ``score_shards`` in
``envs/preprocess.yaml``, ``score_predict`` in ``envs/train.yaml``, ``score``
in ``envs/ensemble.yaml``. This module therefore imports only what all three
install (numpy, pandas) at import; each function imports what its own step
needs (scikit-learn only the last, ``score``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..defaults import DEFAULTS
from ..errors import InputError
from ..io import write_csv
from ..predictions import read_predictions
from .archive import export_bundle, manifest_digest, read_bundle
from .score import batch_of, list_videos, read_video_list, score_table

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


def export(
    out_dir: PathLike,
    checkpoints: Mapping[str, PathLike],
    model_metrics: Mapping[str, PathLike],
    ensembles: Mapping[str, Mapping[str, PathLike]],
    train_shards: PathLike,
    summary_csv: PathLike,
    split_counts: PathLike,
    split: Mapping[str, Any],
    datasets: Sequence[Mapping[str, Any]],
    evaluation: Mapping[str, Any],
    video_timeout_s: float | None = None,
) -> None:
    """The bundle folder ``out_dir``: every member's best checkpoint (weights
    and the fields that rebuild it), the ensembles' fitted parameters and
    validation thresholds, the preprocessing the members were trained on,
    versions, a model card and the manifest (SHA-256 of every file).

    ``ensembles``: name -> ``members``, ``weights``, ``metrics`` (the
    ensemble rule's JSON files); ``video_timeout_s``: the preprocessing
    time limit of one video when scoring (the workflow's)."""
    export_bundle(
        out_dir,
        checkpoints=dict(checkpoints),
        model_metrics=dict(model_metrics),
        ensembles={name: dict(files) for name, files in ensembles.items()},
        train_shards=train_shards,
        summary_csv=summary_csv,
        split_counts=split_counts,
        split=dict(split),
        datasets=[dict(d) for d in datasets],
        evaluation=dict(evaluation),
        video_timeout_s=video_timeout_s,
    )
    log.info(
        "bundle %s: %d members, %d ensembles; SHA-256 of its manifest %s",
        out_dir,
        len(checkpoints),
        len(ensembles),
        manifest_digest(out_dir),
    )


def score_videos(score_input: str | Sequence[str], out_csv: PathLike) -> None:
    """The videos of ``score_input`` (folders, ``.txt`` lists, files), one
    row each: ``video_id`` (the name as given) and ``path``."""
    videos = list_videos(score_input)
    if videos.empty:
        raise InputError(f"score_input {score_input!r}: no videos found")
    write_csv(videos, out_csv)
    log.info("%d video(s) to score", len(videos))


def _read_reports(paths: Sequence[PathLike]) -> pd.DataFrame:
    return pd.concat(
        [pd.read_csv(p, keep_default_na=False, dtype={"video_id": str}) for p in paths],
        ignore_index=True,
    )


def _preprocess_config(bundle_dir: PathLike, cfg: Mapping[str, Any]) -> dict:
    """The bundle's preprocessing settings and the run's batch sizes."""
    settings = read_bundle(bundle_dir).preprocess
    for key in ("videos_per_job", "shard_max_videos"):
        if key in cfg:
            settings[key] = cfg[key]
    return settings


def score_preprocess(
    videos_csv: PathLike,
    bundle_dir: PathLike,
    batch: int,
    report_csv: PathLike,
    cache_dir: PathLike,
    cfg: Mapping[str, Any],
) -> None:
    """Preprocess videos ``batch * n .. (batch + 1) * n`` of the list (``n``
    = ``cfg["videos_per_job"]``, the workflow's batches) with the bundle's
    settings and the workflow's per-video cache; one report row a video."""
    from ..preprocess.pipeline import run_batch

    settings = _preprocess_config(bundle_dir, cfg)
    size = int(settings.get("videos_per_job", DEFAULTS["preprocess.videos_per_job"]))
    videos = batch_of(read_video_list(videos_csv), batch, size)
    report = run_batch(videos, cache_dir, settings, progress=True)
    write_csv(report, report_csv)
    log.info("batch %d: %s", batch, report["status"].value_counts().to_dict())


def score_shards(
    batch_reports: Sequence[PathLike],
    bundle_dir: PathLike,
    shard_dir: PathLike,
    cfg: Mapping[str, Any],
) -> None:
    """The faces of the scored videos in HDF5 shards, as training's."""
    from ..preprocess.pipeline import pack_shards

    settings = _preprocess_config(bundle_dir, cfg)
    report = _read_reports(batch_reports)
    shards = pack_shards(report, shard_dir, settings, split="score")
    log.info("wrote %d shard(s) to %s", len(shards), shard_dir)


def score_predict(
    bundle_dir: PathLike,
    model: str,
    shards: PathLike,
    out_csv: PathLike,
    train_config: Mapping[str, Any],
    threads: int | None = None,
) -> None:
    """Frame predictions of one bundled member on the scored videos: rule
    ``predict``'s step with the bundle's checkpoint."""
    from ..train.jobs import predict

    checkpoint = read_bundle(bundle_dir).checkpoint(model)
    predict(checkpoint, shards, out_csv, train_config, threads)


def score(
    videos_csv: PathLike,
    batch_reports: Sequence[PathLike],
    predictions: Mapping[str, PathLike],
    bundle_dir: PathLike,
    out_csv: PathLike,
) -> None:
    """One row per video: status, every member's and ensemble's score and
    the decisions at the validation thresholds (the table of
    ``deepfake-ensemble score``)."""
    bundle = read_bundle(bundle_dir)
    videos = read_video_list(videos_csv)
    report = _read_reports(batch_reports)
    frames = {m: read_predictions(p) for m, p in predictions.items()}
    table = score_table(videos, report, frames, bundle)
    write_csv(table, out_csv)
    log.info(
        "%d video(s) scored: %s -> %s",
        len(table),
        table["status"].value_counts().to_dict(),
        out_csv,
    )
