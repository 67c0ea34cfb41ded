"""Rule of ``rules/bundle.smk`` (environment ``envs/train.yaml``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from ..bundle import export_bundle, manifest_digest

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
