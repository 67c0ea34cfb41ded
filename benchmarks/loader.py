"""Random-access face reads: HDF5 shards (raw and JPEG) against the study's
layout (a folder of JPEG files read one by one with ``cv2.imread``).

Face crops are cut from ``skimage.data.astronaut()`` with random shifts and
scales (realistic JPEG sizes), written in the three layouts, then read in a
random order on one core (page cache warm: files were just written). Prints
reads per second, the ratio to the folder of files, and the bytes on disk.

    .venv/bin/python benchmarks/loader.py [--n 2000] [--size 320]

``--workers 1 2`` also runs the training access pattern: a shuffled
``torch.utils.data.DataLoader`` over ``FrameDataset`` (raw and JPEG shards)
with that many worker processes, batch ``--batch`` (56, DSP-FWA's), and prints
images per second in all and per worker, against the rates the GPU consumes
at the study's batch sizes (H100, bf16 + channels-last, measured without a
loader: dsp_fwa 2,452, capsule 2,176, xception 1,203 img/s), and the workers a
GPU job needs for each.

``--write docs/shards.md`` puts the tables into that file's ``loader`` block
(``<!-- loader:begin -->``), with the command, the commit and the machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from _markdown import write_rates, write_table
from skimage import data

from deepfake_ensemble.preprocess.faces import FaceRecord
from deepfake_ensemble.preprocess.shards import ShardSet, ShardWriter, make_rows


def crops(n: int, size: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    img = data.astronaut()
    out = []
    for _ in range(n):
        side = int(rng.integers(140, 300))
        x = int(rng.integers(60, 512 - side)) if side < 452 else 0
        y = int(rng.integers(0, 512 - side))
        out.append(cv2.resize(img[y : y + side, x : x + side], (size, size)))
    return out


def write_shard(path: Path, faces, encoding: str, size: int, per_video: int = 20):
    eye = 32
    with ShardWriter(path, encoding, size, eye) as w:
        for v in range(0, len(faces), per_video):
            items = [
                (
                    i,
                    i * 0.5,
                    FaceRecord(
                        face=f,
                        eyes=np.zeros((2, eye, eye, 3), np.uint8),
                        landmarks=np.zeros((68, 2), np.float32),
                        box=np.zeros(4, np.float32),
                        crop_box=np.zeros(4, np.float32),
                        face_index=0,
                    ),
                )
                for i, f in enumerate(faces[v : v + per_video])
            ]
            rows = make_rows(items, encoding, size, eye, 95)
            w.add_video(f"bench/{v:06d}", 0, "bench", "train", rows)


def reads_per_s(fn, order) -> float:
    t0 = time.perf_counter()
    for i in order:
        fn(int(i))
    return len(order) / (time.perf_counter() - t0)


#: training images/s of one H100 at the study's batch sizes, no loader
GPU_RATES = {"dsp_fwa": 2452, "capsule": 2176, "xception": 1203}


def loader_rate(shard: Path, workers: int, batch: int, epochs: int = 2) -> float:
    """Images/s of a shuffled DataLoader over ``shard`` (after a warm-up)."""
    import torch

    from deepfake_ensemble.train.datasets import FrameDataset

    loader = torch.utils.data.DataLoader(
        FrameDataset(shard),
        batch_size=batch,
        shuffle=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(0),
    )
    for _ in loader:  # warm-up epoch: workers start, files open
        pass
    t0 = time.perf_counter()
    n = 0
    for _ in range(epochs):
        for x, _, _ in loader:
            n += x.shape[0]
    return n / (time.perf_counter() - t0)


def training_pattern(tmp: Path, workers: list[int], batch: int) -> list[str]:
    print(f"training access pattern: shuffled DataLoader, batch {batch}")
    md = [
        "",
        f"Training access pattern: shuffled DataLoader, batch {batch}:",
        "",
        "| shards | workers | img/s | per worker | workers per GPU job |",
        "|---|---:|---:|---:|---|",
    ]
    for encoding in ("raw", "jpeg"):
        for w in workers:
            rate = loader_rate(tmp / f"{encoding}.h5", w, batch)
            per = rate / max(w, 1)
            need = ", ".join(
                f"{m} {max(1, -(-gpu // int(per)))}" for m, gpu in GPU_RATES.items()
            )
            print(
                f"  {encoding:4s} shards, {w} workers: {rate:7.0f} img/s, "
                f"{per:6.0f} per worker -> workers per GPU job: {need}"
            )
            md.append(f"| {encoding} | {w} | {rate:.0f} | {per:.0f} | {need} |")
    return md


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--workers", type=int, nargs="*", default=[])
    ap.add_argument("--batch", type=int, default=56)
    ap.add_argument("--write", type=Path, default=None, help="markdown file to update")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cv2.setNumThreads(1)
    faces = crops(args.n, args.size)
    order = np.random.default_rng(1).permutation(args.n)
    tmp = Path(tempfile.mkdtemp(prefix="loader-bench-"))
    try:
        folder = tmp / "jpeg_files"
        folder.mkdir()
        for i, f in enumerate(faces):
            cv2.imwrite(
                str(folder / f"{i:06d}.jpg"),
                cv2.cvtColor(f, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 95],
            )
        write_shard(tmp / "raw.h5", faces, "raw", args.size)
        write_shard(tmp / "jpeg.h5", faces, "jpeg", args.size)
        size_files = sum(p.stat().st_size for p in folder.iterdir())

        def read_file(i):
            img = cv2.imread(str(folder / f"{i:06d}.jpg"))
            return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

        raw, jpg = ShardSet(tmp / "raw.h5"), ShardSet(tmp / "jpeg.h5")
        np.testing.assert_array_equal(raw.face(0, 5), faces[5])
        results = {
            "folder of JPEG files (cv2.imread)": (
                reads_per_s(read_file, order),
                size_files,
            ),
            "HDF5 shard, raw uint8": (
                reads_per_s(lambda i: raw.face(0, i), order),
                (tmp / "raw.h5").stat().st_size,
            ),
            "HDF5 shard, JPEG bytes": (
                reads_per_s(lambda i: jpg.face(0, i), order),
                (tmp / "jpeg.h5").stat().st_size,
            ),
        }
        base = results["folder of JPEG files (cv2.imread)"][0]
        print(f"{args.n} random reads of {args.size}x{args.size} face crops, one core")
        md = [
            f"{args.n} random reads of {args.size}×{args.size} face crops, one core "
            "(page cache warm):",
            "",
            "| layout | reads/s | × folder of files | KiB per face |",
            "|---|---:|---:|---:|",
        ]
        for name, (rate, nbytes) in results.items():
            print(
                f"  {name:36s} {rate:8.0f} reads/s  {rate / base:5.2f}x  "
                f"{nbytes / args.n / 1024:7.1f} KiB/face"
            )
            md.append(
                f"| {name} | {rate:.0f} | {rate / base:.2f}× | "
                f"{nbytes / args.n / 1024:.1f} |"
            )
        if args.workers:
            if hasattr(os, "sched_setaffinity"):
                os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
            md += training_pattern(tmp, args.workers, args.batch)
        if args.write:
            write_table(args.write, "loader", __file__, md)
            keys = {"folder": "files", "raw": "raw", "JPEG bytes": "jpeg"}
            short = {
                next(v for k, v in keys.items() if k in name): (rate, nbytes)
                for name, (rate, nbytes) in results.items()
            }
            write_rates(
                "loader",
                __file__,
                {
                    "face_size": args.size,
                    "bytes_per_face": {k: b / args.n for k, (_, b) in short.items()},
                    "reads_per_s": {k: round(r, 1) for k, (r, _) in short.items()},
                },
            )
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
