"""Rules of ``rules/preprocess.smk`` (environment ``envs/preprocess.yaml``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..io import write_csv
from .pipeline import contact_sheet, pack_shards, run_batch, write_report

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


def _read_reports(paths: Sequence[PathLike]) -> list[pd.DataFrame]:
    return [pd.read_csv(path, keep_default_na=False) for path in paths]


def preprocess_batch(
    split_csv: PathLike,
    batch: int,
    report_csv: PathLike,
    cache_dir: PathLike,
    cfg: Mapping[str, Any],
    dataset: str | None = None,
) -> None:
    """Sample frames and crop faces of videos ``batch * n .. (batch + 1) * n``
    of a split (``n = videos_per_job``), counted among the split's videos of
    ``dataset`` (``None``: all); one report row per video."""
    videos = pd.read_csv(split_csv, keep_default_na=False)
    if dataset is not None:
        videos = videos[videos["dataset"].astype(str) == str(dataset)]
    size = cfg["videos_per_job"]
    videos = videos.iloc[batch * size : (batch + 1) * size]
    report = run_batch(videos, cache_dir, dict(cfg), progress=True)
    write_csv(report, report_csv)
    log.info(
        "batch %d%s: %s",
        batch,
        f" of {dataset}" if dataset is not None else "",
        report["status"].value_counts().to_dict(),
    )


def pack_split_shards(
    batch_reports: Sequence[PathLike],
    shard_dir: PathLike,
    split: str,
    cfg: Mapping[str, Any],
) -> None:
    """The HDF5 shards of one split (of one dataset), from its batch reports."""
    report = pd.concat(_read_reports(batch_reports), ignore_index=True)
    shards = pack_shards(report, shard_dir, dict(cfg), split=split)
    log.info("wrote %d shards to %s", len(shards), shard_dir)


def preprocess_report(
    batch_reports: Sequence[PathLike],
    shard_dirs: Sequence[PathLike],
    outputs: Mapping[str, PathLike],
    seed: int,
) -> None:
    """The report of every video, the summary per split and a contact sheet
    (``outputs``: ``report, summary, contact_sheet``). ``shard_dirs``: the
    shard folders ``<dataset>/<split>``, one band each in the contact sheet
    (labelled by split, or by dataset and split with several datasets)."""
    report, summary = write_report(_read_reports(batch_reports))
    write_csv(report, outputs["report"])
    write_csv(summary, outputs["summary"])
    log.info("preprocessing summary:\n%s", summary.to_string(index=False))
    paths = [Path(d) for d in shard_dirs]
    several = len({p.parent.name for p in paths}) > 1
    contact_sheet(
        {f"{p.parent.name}/{p.name}" if several else p.name: p for p in paths},
        outputs["contact_sheet"],
        seed=seed,
    )


def degrade_test(
    split_csv: PathLike,
    out_csv: PathLike,
    video_dir: PathLike,
    condition: str,
    seed: int,
) -> None:
    """One degraded copy of the test videos (``condition``:
    ``<perturbation>-<severity>``) and its split list."""
    from ..layout import parse_condition
    from .degrade import degrade_split

    perturbation, severity = parse_condition(condition)
    out = degrade_split(split_csv, out_csv, video_dir, perturbation, severity, seed)
    n_ok = sum(Path(p).is_file() for p in out["path"])
    log.info("%s: %d of %d test videos degraded", condition, n_ok, len(out))
