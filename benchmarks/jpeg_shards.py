"""A demo split's shards re-packed as JPEG, small enough to carry to a GPU node.

The demo's shards are raw (about 120 MB for the train split); the data-wait
check of ``benchmarks/train_throughput.py --shards`` on a GPU machine needs
real shards that travel light. This preprocesses the split's videos again
with the run's own settings but ``encoding: jpeg`` (about 22 MB), into
``--out``/``{split}`` (shards and ``index.json``, as the workflow writes
them):

    .venv/bin/python benchmarks/jpeg_shards.py --split train --out .gpu/shards

Run it after ``make demo``, from the checkout that ran it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from deepfake_ensemble.preprocess.pipeline import pack_shards, run_batch  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="train")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--config", type=Path, default=ROOT / "config" / "config.yaml")
    args = ap.parse_args(argv)
    cfg = {**yaml.safe_load(args.config.read_text())["preprocess"], "encoding": "jpeg"}
    videos = pd.read_csv(ROOT / "results" / "splits" / f"{args.split}.csv")
    with tempfile.TemporaryDirectory() as cache:
        report = run_batch(videos, cache, cfg)
        pack_shards(report, args.out / args.split, cfg, args.split)
    size = sum(p.stat().st_size for p in (args.out / args.split).glob("*.h5"))
    print(
        f"{args.split}: {int((report['status'] == 'ok').sum())} of {len(report)} "
        f"videos, {size / 1e6:.1f} MB of JPEG shards in {args.out / args.split}"
    )


if __name__ == "__main__":
    main()
