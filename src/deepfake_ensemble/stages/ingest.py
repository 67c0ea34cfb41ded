"""Rules of ``rules/ingest.smk`` (environment ``envs/preprocess.yaml``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..ingest import build_manifest
from ..io import write_csv
from ..splits import check_splits, make_splits, split_counts

log = logging.getLogger(__name__)


def ingest(datasets: Sequence[Mapping[str, Any]], manifest: str | os.PathLike) -> None:
    """Every video of the configured datasets, in one manifest."""
    table = build_manifest([dict(d) for d in datasets])
    write_csv(table, manifest)
    log.info(
        "manifest: %d videos\n%s",
        len(table),
        table.groupby(["dataset", "label"]).size().to_string(),
    )


def split(
    manifest: str | os.PathLike,
    outputs: Mapping[str, str | os.PathLike],
    cfg: Mapping[str, Any],
) -> None:
    """Train, val and test lists (``outputs``: ``train, val, test, counts``)."""
    table = pd.read_csv(manifest, keep_default_na=False)
    splits = make_splits(
        table,
        ratios=tuple(cfg["ratios"]),
        split_by=cfg["split_by"],
        use_official_test=cfg["use_official_test"],
        seed=cfg["seed"],
    )
    counts = split_counts(splits)
    log.info("videos per split, dataset and label:\n%s", counts.to_string(index=False))
    check_splits(splits)
    for name in ("train", "val", "test"):
        write_csv(splits[name], outputs[name])
    write_csv(counts, outputs["counts"])
