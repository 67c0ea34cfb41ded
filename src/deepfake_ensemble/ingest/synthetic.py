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

from ..io import write_csv
from .manifest import MANIFEST_COLUMNS

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
            "identity": "",
            "source_identity": "",
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
    write_csv(
        manifest.iloc[:0].assign(split="", drop_reason=""),
        results / "splits" / "dropped.csv",
    )
    write_csv(
        pd.DataFrame(
            columns=[
                "split_by",
                "configured",
                "dataset",
                "test_fakes",
                "source_in_train",
                "overlap",
                "dropped",
            ]
        ),
        results / "splits" / "identity_overlap.csv",
    )
    return counts


def clustered_scores(
    seed: int,
    n_groups: int = 6,
    per_group: int = 60,
    shift_sd: float = 1.5,
    effect: float = 1.0,
    fake_share: float = 0.5,
    big_share: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two detectors of equal true AUC on a clustered test set.

    ``n_groups`` groups (identities) of ``per_group`` videos (unbalanced with
    ``big_share``: group 0 holds that share of the ``n_groups * per_group``
    videos, the others split the rest equally); a video is fake
    with probability ``fake_share``. Detector d scores a video of group g
    ``effect * label + u_dg + e``, where ``u_dg ~ N(0, shift_sd)`` is a
    per-group shift of that detector (it finds some identities easier than
    the other does) and ``e ~ N(0, 1)``. Both detectors follow the same model,
    so their AUCs are equal in expectation: a test of AUC(a) = AUC(b) should
    reject at its nominal rate. Returns ``labels, scores_a, scores_b,
    groups``.
    """
    rng = np.random.default_rng(seed)
    sizes = np.full(n_groups, per_group)
    if big_share is not None:
        total = n_groups * per_group
        sizes[0] = round(big_share * total)
        sizes[1:] = round((total - sizes[0]) / (n_groups - 1))
    groups = np.repeat(np.arange(n_groups), sizes)
    n = groups.size
    labels = (rng.random(n) < fake_share).astype(int)
    shift_a = rng.normal(0.0, shift_sd, n_groups)[groups]
    shift_b = rng.normal(0.0, shift_sd, n_groups)[groups]
    scores_a = effect * labels + shift_a + rng.normal(0.0, 1.0, n)
    scores_b = effect * labels + shift_b + rng.normal(0.0, 1.0, n)
    return labels, scores_a, scores_b, groups


def write_celebdf_tree(
    root: str | os.PathLike,
    n_identities: int = 30,
    real_clips: int = 3,
    sources_per_identity: int | None = None,
    fake_clips: int = 1,
    youtube: int = 10,
    test_targets: tuple[int, ...] | None = None,
    seed: int = 0,
) -> Path:
    """A Celeb-DF v2 shaped folder of empty files (names only), for ingest
    and split tests.

    ``Celeb-real/id{i}_{k:04d}.mp4`` (``real_clips`` per identity),
    ``Celeb-synthesis/id{i}_id{j}_{k:04d}.mp4``: for each target identity i,
    ``fake_clips`` clips for each of ``sources_per_identity`` source
    identities j != i (all others when ``None``, drawn with ``seed``
    otherwise), ``YouTube-real/{n:05d}.mp4`` (no identity in the name) and,
    with ``test_targets``, ``List_of_testing_videos.txt`` listing clip 0000 of
    those identities and their fakes (1 = real, 0 = fake, as the original).
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n_identities):
        for k in range(real_clips):
            rel = f"Celeb-real/id{i}_{k:04d}.mp4"
            _touch(root / rel)
            if test_targets is not None and i in test_targets and k == 0:
                lines.append(f"1 {rel}")
        others = [j for j in range(n_identities) if j != i]
        if sources_per_identity is not None:
            n = min(sources_per_identity, len(others))
            others = sorted(rng.choice(others, size=n, replace=False).tolist())
        for j in others:
            for k in range(fake_clips):
                rel = f"Celeb-synthesis/id{i}_id{j}_{k:04d}.mp4"
                _touch(root / rel)
                if test_targets is not None and i in test_targets and k == 0:
                    lines.append(f"0 {rel}")
    for n in range(youtube):
        _touch(root / f"YouTube-real/{n:05d}.mp4")
    if test_targets is not None:
        (root / "List_of_testing_videos.txt").write_text("\n".join(lines) + "\n")
    return root


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
