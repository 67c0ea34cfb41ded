"""Rules of ``rules/ingest.smk`` (environment ``envs/preprocess.yaml``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..ingest import build_manifest
from ..io import write_csv
from ..splits import (
    SPLIT_BY,
    assign_splits,
    check_splits,
    identity_overlap,
    split_counts,
)

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
    """Train, val and test lists (``outputs``: ``train, val, test, counts,
    dropped, overlap``).

    ``dropped``: the videos the split left out, with the reason (identity
    splits, official test sets with groups). ``overlap``: per split mode
    (``video``, ``group``, ``identity``; the configured one marked) and
    dataset, the share of test fakes whose source identity appears in train.
    """
    table = pd.read_csv(manifest, keep_default_na=False)

    def assign(split_by: str) -> pd.DataFrame:
        return assign_splits(
            table,
            ratios=tuple(cfg["ratios"]),
            split_by=split_by,
            use_official_test=cfg["use_official_test"],
            seed=cfg["seed"],
        )

    assigned = assign(cfg["split_by"])
    splits = {
        name: assigned[assigned["split"] == name]
        .drop(columns="drop_reason")
        .reset_index(drop=True)
        for name in ("train", "val", "test")
    }
    dropped = assigned[assigned["split"] == "dropped"].reset_index(drop=True)
    counts = split_counts(splits)
    log.info("videos per split, dataset and label:\n%s", counts.to_string(index=False))
    if len(dropped):
        log.info(
            "%d video(s) dropped:\n%s",
            len(dropped),
            dropped.groupby(["dataset", "label"]).size().to_string(),
        )
    overlap = []
    for mode in SPLIT_BY:
        other = assigned if mode == cfg["split_by"] else assign(mode)
        overlap.append(
            identity_overlap(other).assign(
                split_by=mode, configured=mode == cfg["split_by"]
            )
        )
    overlap = pd.concat(overlap, ignore_index=True)
    overlap = overlap[["split_by", "configured", *overlap.columns[:-2]]]
    log.info("identity overlap of the test fakes:\n%s", overlap.to_string(index=False))
    check_splits(splits)
    for name in ("train", "val", "test"):
        write_csv(splits[name], outputs[name])
    write_csv(counts, outputs["counts"])
    write_csv(dropped, outputs["dropped"])
    write_csv(overlap, outputs["overlap"])
