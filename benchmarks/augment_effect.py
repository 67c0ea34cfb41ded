"""The effect of ``train.augment`` on one member's robustness: the member
trained twice on a finished run's shards, without and with augmentation (the
schema's defaults), each scored on the clean test shards and on every
degraded copy the run's robustness stage made.

``--run`` is a finished run with the robustness stage on (its
``results/robustness/<condition>/shards``); ``--configfile`` its configs
(the member's settings and the seed). Training and prediction run on one
thread, as in the demo. Prints and writes the video AUC per condition for
both, and the mean drop from clean.

    .venv/bin/python benchmarks/augment_effect.py --run RUN \
        --configfile config/ci.yaml [--model dsp_fwa]

``--write FILE`` puts the table into that file's ``augment-effect`` block.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
from _markdown import write_table
from robustness_cost import merged

from deepfake_ensemble.defaults import DEFAULTS
from deepfake_ensemble.evaluate.videos import evaluate_on_split, read_split_videos
from deepfake_ensemble.layout import CLEAN
from deepfake_ensemble.predictions import read_predictions
from deepfake_ensemble.train.augment import default_config
from deepfake_ensemble.train.jobs import predict, train
from deepfake_ensemble.workflow import limit_threads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--configfile", type=Path, nargs="+", required=True)
    ap.add_argument("--model", default="dsp_fwa")
    ap.add_argument("--write", type=Path)
    args = ap.parse_args()
    limit_threads(1)
    cfg = merged(args.configfile)
    res = args.run / "results"
    datasets = sorted(p.parent.name for p in (res / "shards").glob("*/train"))
    conditions = sorted(p.name for p in (res / "robustness").iterdir() if p.is_dir())
    test_sets = {CLEAN: [res / "shards" / d / "test" for d in datasets]}
    for c in conditions:
        test_sets[c] = [
            res / "robustness" / c / "shards" / d / "test" for d in datasets
        ]
    split = read_split_videos(res / "splits" / "test.csv")
    model_config = dict(cfg.get("models", {}).get(args.model) or {})
    seed = int(cfg.get("seed", DEFAULTS["seed"]))
    aucs: dict[str, dict[str, float]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="augment-effect-"))
    try:
        for variant, enabled in (("without", False), ("with", True)):
            train_config = {
                "device": "cpu",
                "augment": {**default_config(), "enabled": enabled},
            }
            out = tmp / variant
            train(
                args.model,
                [res / "shards" / d / "train" for d in datasets],
                [res / "shards" / d / "val" for d in datasets],
                out,
                out / "resume",
                model_config,
                train_config,
                seed,
                threads=1,
                val_predictions=out / "val.csv",
            )
            aucs[variant] = {}
            for name, shards in test_sets.items():
                csv = out / f"{name}.csv"
                predict(out / "best.pt", shards, csv, train_config, threads=1)
                m, _ = evaluate_on_split(read_predictions(csv), None, split)
                aucs[variant][name] = m["video_auc"]
                print(f"{variant:8s} {name:14s} {m['video_auc']:.3f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    md = [
        f"`{args.model}` trained twice on the run's shards ({', '.join(datasets)}; "
        f"{len(split)} test videos), without and with `train.augment` at its "
        "defaults, the same seed; video AUC on the clean test videos and on each "
        "degraded copy of the robustness stage:",
        "",
        "| condition | without | with |",
        "|---|---:|---:|",
        *[
            f"| {c} | {aucs['without'][c]:.3f} | {aucs['with'][c]:.3f} |"
            for c in test_sets
        ],
    ]
    drops = {
        v: aucs[v][CLEAN] - float(np.mean([aucs[v][c] for c in conditions]))
        for v in aucs
    }
    md += [
        "",
        f"Mean drop from clean: without {drops['without']:+.3f}, with "
        f"{drops['with']:+.3f}.",
    ]
    print(md[-1])
    if args.write:
        write_table(args.write, "augment-effect", __file__, md)


if __name__ == "__main__":
    main()
