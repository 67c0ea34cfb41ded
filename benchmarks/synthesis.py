"""Training items per second with fakes synthesised on the fly, against plain
face reads (:mod:`deepfake_ensemble.train.synthesis`).

For each face size, ``--n`` random faces (uniform noise, with the 68
landmarks of an upright face, jittered) are written to a raw HDF5 shard, then
read in a random order on one core (page cache warm, OpenCV and torch on one
thread): plain reads (``FrameDataset``, the loader's items today), the fakes
of each kind alone (the odd items of ``SynthesisDataset``: read the face and
its landmarks, synthesise), and an epoch of ``SynthesisDataset`` with both
kinds (half real faces, half fakes). Prints items per second and the ratio
to plain reads; the best of ``--repeats`` passes.

    .venv/bin/python benchmarks/synthesis.py [--n 300] [--sizes 64 224]

``--write FILE`` puts the table into that file's ``synthesis-speed`` block
(``<!-- synthesis-speed:begin -->``), with the command, the commit and the
machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
from _markdown import write_table

from deepfake_ensemble.preprocess.faces import FaceRecord
from deepfake_ensemble.preprocess.shards import ShardWriter, make_rows

EYE_SIZE = 16


def upright_landmarks(size: int, rng: np.random.Generator) -> np.ndarray:
    """68 points of an upright face filling the middle of a crop: jaw on the
    lower half of an ellipse, brows on its upper part, nose, eyes and mouth
    inside; the face's centre, size and tilt jittered a little."""
    u = np.zeros((68, 2))  # in units of the face's half-width
    t = np.linspace(0.05 * np.pi, 0.95 * np.pi, 17)
    u[0:17] = np.c_[-np.cos(t), 1.2 * np.sin(t)]
    t = np.linspace(0.2 * np.pi, 0.8 * np.pi, 10)
    u[17:27] = np.c_[-0.8 * np.cos(t), -0.7 * np.sin(t)]
    u[27:36] = np.c_[np.zeros(9), np.linspace(-0.45, 0.3, 9)]
    a = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    u[36:42] = np.c_[-0.45 + 0.15 * np.cos(a), -0.35 + 0.06 * np.sin(a)]
    u[42:48] = np.c_[0.45 + 0.15 * np.cos(a), -0.35 + 0.06 * np.sin(a)]
    a = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    u[48:68] = np.c_[0.35 * np.cos(a), 0.6 + 0.12 * np.sin(a)]
    half = size * rng.uniform(0.3, 0.36)
    tilt = np.deg2rad(rng.uniform(-10, 10))
    rot = np.array([[np.cos(tilt), -np.sin(tilt)], [np.sin(tilt), np.cos(tilt)]])
    centre = size / 2 + rng.uniform(-0.03, 0.03, 2) * size
    return (half * u @ rot.T + centre).astype(np.float32)


def write_faces(path: Path, n: int, size: int, seed: int = 0) -> None:
    """``n`` random faces of side ``size`` in one shard, 20 per real video."""
    rng = np.random.default_rng(seed)
    with ShardWriter(path, "raw", size, EYE_SIZE) as w:
        for v in range(0, n, 20):
            items = [
                (
                    i,
                    i * 0.5,
                    FaceRecord(
                        face=rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
                        eyes=np.zeros((2, EYE_SIZE, EYE_SIZE, 3), np.uint8),
                        landmarks=upright_landmarks(size, rng),
                        box=np.zeros(4, np.float32),
                        crop_box=np.zeros(4, np.float32),
                        face_index=0,
                    ),
                )
                for i in range(min(20, n - v))
            ]
            rows = make_rows(items, "raw", size, EYE_SIZE)
            w.add_video(f"bench/{v:06d}", 0, "bench", "train", rows)


def items_per_s(get: Callable[[int], object], order: Sequence[int], repeats: int):
    """The best rate over ``repeats`` passes of ``get`` over ``order``."""
    get(int(order[0]))  # files open, caches warm
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in order:
            get(int(i))
        best = max(best, len(order) / (time.perf_counter() - t0))
    return best


def speed_rows(
    sizes: Sequence[int],
    n: int,
    repeats: int,
    measure: Callable[[Path, int, int], dict[str, float]],
) -> list[str]:
    """Table rows (size, reading, rate, ratio to plain reads) of ``measure``
    on a raw shard of ``n`` random faces per size, each printed too."""
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="faces-bench-"))
    try:
        for size in sizes:
            shard = tmp / f"faces-{size}.h5"
            write_faces(shard, n, size)
            rates = measure(shard, n, repeats)
            base = rates["plain reads (FrameDataset)"]
            for name, rate in rates.items():
                print(f"  {size:4d}px  {name:44s} {rate:9.0f}/s  {rate / base:6.3f}x")
                rows.append(f"| {size} | {name} | {rate:.0f} | {rate / base:.3f}× |")
    finally:
        shutil.rmtree(tmp)
    return rows


def measure(shard: Path, n: int, repeats: int) -> dict[str, float]:
    """Items per second of each reading, by name."""
    from deepfake_ensemble.train.datasets import FrameDataset
    from deepfake_ensemble.train.synthesis import (
        FACE_WARP,
        KINDS,
        SELF_BLENDED,
        ShardFaces,
        SynthesisDataset,
    )

    faces = ShardFaces(shard)
    order = np.random.default_rng(1).permutation(n)
    plain = FrameDataset(shard)
    # plain reads are the fastest and the noisiest: the best of more passes
    rates = {
        "plain reads (FrameDataset)": items_per_s(plain.__getitem__, order, 3 * repeats)
    }
    for kind in (SELF_BLENDED, FACE_WARP):
        ds = SynthesisDataset(faces, kind, seed=0)
        rates[f"{kind} fakes"] = items_per_s(
            lambda i, ds=ds: ds[2 * i + 1], order, repeats
        )
    ds = SynthesisDataset(faces, KINDS, seed=0)
    both = np.random.default_rng(2).permutation(len(ds))
    rates["epoch: half real, half fakes of both kinds"] = items_per_s(
        ds.__getitem__, both, repeats
    )
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

    torch.set_num_threads(1)
    print(f"{args.n} random faces per size, random order, one core")
    md = [
        f"{args.n} random faces per size, read from a raw HDF5 shard in a random "
        "order on one core (page cache warm); best of "
        f"{args.repeats} passes:",
        "",
        "| face size | items | items/s | × plain reads |",
        "|---:|---|---:|---:|",
    ]
    md += speed_rows(args.sizes, args.n, args.repeats, measure)
    if args.write:
        write_table(args.write, "synthesis-speed", __file__, md)


if __name__ == "__main__":
    main()
