"""Synthetic manifests and splits, for planning the workflow at any scale.

A dry run only needs ``results/manifest/videos.csv`` and the split tables to
plan every later job: these helpers write them for ``n`` made-up videos
(pairs of a real video and a fake made from it, sharing a group), so that the
DAG of a large dataset can be drawn, timed and checked without its files.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .ingest import MANIFEST_COLUMNS
from .io import write_csv

SPLITS = ("train", "val", "test")


def synthetic_manifest(n_videos: int, dataset: str = "dfdc") -> pd.DataFrame:
    """``n_videos`` rows in the manifest format: even rows real, odd rows fakes
    of the real video before them (same group)."""
    ids = np.arange(n_videos)
    frame = pd.DataFrame(
        {
            "video_id": [f"{dataset}/v{i:06d}" for i in ids],
            "path": [f"/data/{dataset}/v{i:06d}.mp4" for i in ids],
            "label": ids % 2,
            "dataset": dataset,
            "group": [f"{dataset}/g{i // 2:06d}" for i in ids],
            "original": [f"{dataset}/v{i - 1:06d}" if i % 2 else "" for i in ids],
            "official_split": "",
        }
    )
    return frame[MANIFEST_COLUMNS]


def write_split_tree(
    workdir: str | os.PathLike, manifest: pd.DataFrame, seed: int | None = None
) -> dict[str, int]:
    """Write the manifest and an 8:1:1 split by group (pairs of rows), as the
    ``ingest`` and ``split`` rules would; returns the videos per split.

    Groups go to train, val, test by their index modulo 10 (8, 1, 1 of every
    10), in a seeded random order of groups when ``seed`` is given.
    """
    results = Path(workdir) / "results"
    group = np.arange(len(manifest)) // 2
    if seed is not None:
        group = np.random.default_rng(seed).permutation(group.max() + 1)[group]
    bucket = group % 10
    split = np.where(bucket < 8, "train", np.where(bucket == 8, "val", "test"))
    write_csv(manifest, results / "manifest" / "videos.csv")
    counts = {}
    for name in SPLITS:
        part = manifest[split == name].assign(split=name)
        write_csv(part, results / "splits" / f"{name}.csv")
        counts[name] = len(part)
    write_csv(
        pd.DataFrame({"split": list(counts), "videos": list(counts.values())}),
        results / "splits" / "counts.csv",
    )
    return counts
