"""The cost of staging a split's shards to node-local disk (train.stage_dir).

Writes a shard folder of random 320 px faces (raw encoding, as the default
config), then measures side by side:

a. baseline: one pass of random face reads over the folder in place (what a
   training epoch does), with a cold page cache where the system allows
   (``/proc/sys/vm/drop_caches``, as root), else warm;
b. staging: ``stage_shards`` (copy, size and row-count check, rename);
c. the same random pass over the staged copy.

Prints MB/s of the copy, seconds per GB, and b/a: how many epochs' worth of
reads the copy costs. On a cluster, a is read from the shared file system and
c from the node's disk; here both lie on the same disk, so the figure that
carries over is the copy rate.

    .venv/bin/python benchmarks/stage_shards.py [--megabytes 300]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from deepfake_ensemble.io import write_json  # noqa: E402
from deepfake_ensemble.preprocess.faces import FaceRecord  # noqa: E402
from deepfake_ensemble.preprocess.shards import (  # noqa: E402
    ShardWriter,
    make_rows,
    open_shards,
)
from deepfake_ensemble.train.staging import stage_shards  # noqa: E402

FACE, EYE = 320, 64
FACES_PER_VIDEO = 10
VIDEOS_PER_SHARD = 20


def write_split(out: Path, megabytes: int) -> None:
    rng = np.random.default_rng(0)
    face_bytes = FACE * FACE * 3 + 2 * EYE * EYE * 3
    n_videos = max(1, megabytes * 2**20 // (face_bytes * FACES_PER_VIDEO))
    shards = []
    for start in range(0, n_videos, VIDEOS_PER_SHARD):
        path = out / f"shard-{start // VIDEOS_PER_SHARD:05d}.h5"
        with ShardWriter(path, "raw", FACE, EYE, 95, {"face_size": FACE}) as w:
            count = min(VIDEOS_PER_SHARD, n_videos - start)
            for v in range(start, start + count):
                items = [
                    (
                        f,
                        f * 0.5,
                        FaceRecord(
                            face=rng.integers(0, 256, (FACE, FACE, 3), np.uint8),
                            eyes=rng.integers(0, 256, (2, EYE, EYE, 3), np.uint8),
                            landmarks=np.zeros((68, 2), np.float32),
                            box=np.array([0, 0, 1, 1], np.float32),
                            crop_box=np.array([0, 0, 1, 1], np.float32),
                            face_index=0,
                        ),
                    )
                    for f in range(FACES_PER_VIDEO)
                ]
                rows = make_rows(items, "raw", FACE, EYE)
                w.add_video(f"bench/{v:05d}", v % 2, "bench", "train", rows)
            shards.append({"file": path.name, "n_videos": count, "n_rows": w.n_rows})
    write_json(
        {"format_version": 1, "split": "train", "shards": shards}, out / "index.json"
    )


def drop_caches() -> bool:
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def random_pass(shard_dir: Path) -> float:
    data = open_shards(shard_dir)
    shard = data.rows["shard"].to_numpy()
    row = data.rows["row"].to_numpy()
    order = np.random.default_rng(1).permutation(len(data))
    t0 = time.perf_counter()
    for i in order:
        data.face(int(shard[i]), int(row[i]))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--megabytes", type=int, default=300)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=ROOT / "benchmarks") as tmp:
        src = Path(tmp) / "shards" / "train"
        src.mkdir(parents=True)
        write_split(src, args.megabytes)
        size = sum(p.stat().st_size for p in src.iterdir()) / 2**20
        cold = drop_caches()
        a = random_pass(src)
        drop_caches()
        scratch = Path(tmp) / "scratch"
        scratch.mkdir()
        t0 = time.perf_counter()
        staged = stage_shards(src, str(scratch))
        b = time.perf_counter() - t0
        drop_caches()
        c = random_pass(staged)
    print(f"{size:.0f} MB of raw 320 px faces, {'cold' if cold else 'warm'} page cache")
    print(f"a. random pass in place:   {a:7.2f} s")
    print(
        f"b. staging (copy + check): {b:7.2f} s = {size / b:6.0f} MB/s, "
        f"{b / size * 1024:5.1f} s per GB"
    )
    print(f"c. random pass on the copy: {c:6.2f} s")
    print(f"b/a = {b / a:.2f} (staging costs this many in-place passes)")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
