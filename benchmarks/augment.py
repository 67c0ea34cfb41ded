"""Training images per second with degradation augmentation
(``train.augment``, :mod:`deepfake_ensemble.train.augment`) against plain
face reads.

``--n`` random faces per size are written to a raw HDF5 shard (as
``benchmarks/synthesis.py`` does), then read in a random order on one core
(page cache warm, OpenCV and torch on one thread): plain reads
(``FrameDataset``), the schema's augmentation (each kind at its default
probability and range), and each kind alone on every item. Prints images
per second and the ratio to plain reads; the best of ``--repeats`` passes.

    .venv/bin/python benchmarks/augment.py [--n 300] [--sizes 64 224]

``--write FILE`` puts the table into that file's ``augment-speed`` block.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import numpy as np
from _markdown import write_table
from synthesis import items_per_s, speed_rows


def measure(shard: Path, n: int, repeats: int) -> dict[str, float]:
    """Images per second of each reading, by name."""
    from deepfake_ensemble.train.augment import KINDS, AugmentedItems, default_config
    from deepfake_ensemble.train.datasets import FrameDataset

    order = np.random.default_rng(1).permutation(n)
    plain = FrameDataset(shard)
    rates = {
        "plain reads (FrameDataset)": items_per_s(plain.__getitem__, order, 3 * repeats)
    }
    cfg = default_config()
    aug = AugmentedItems(plain, cfg, seed=0)
    rates["augment at the defaults"] = items_per_s(aug.__getitem__, order, repeats)
    for kind in KINDS:
        one = {
            k: {**v, "p": 1.0 if k == kind else 0.0}
            for k, v in cfg.items()
            if k in KINDS
        }
        aug = AugmentedItems(plain, one, seed=0)
        rates[f"{kind} on every item"] = items_per_s(aug.__getitem__, order, repeats)
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300, help="faces per size")
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 224])
    ap.add_argument("--repeats", type=int, default=2, help="passes; the best")
    ap.add_argument("--write", type=Path, default=None, help="markdown file to update")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cv2.setNumThreads(1)
    import torch

    from deepfake_ensemble.train.augment import default_config

    torch.set_num_threads(1)
    cfg = default_config()
    defaults = ", ".join(
        f"{k} p={v['p']:g} [{v['range'][0]:g}, {v['range'][1]:g}]"
        for k, v in cfg.items()
        if k != "enabled"
    )
    md = [
        f"{args.n} random faces per size, read from a raw HDF5 shard in a random "
        f"order on one core (page cache warm); best of {args.repeats} passes. "
        f"Defaults: {defaults}.",
        "",
        "| face size | reading | images/s | × plain reads |",
        "|---:|---|---:|---:|",
    ]
    md += speed_rows(args.sizes, args.n, args.repeats, measure)
    if args.write:
        write_table(args.write, "augment-speed", __file__, md)


if __name__ == "__main__":
    main()
