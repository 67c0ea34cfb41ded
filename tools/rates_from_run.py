"""Rates measured by a finished run of the workflow, for ``deepfake-ensemble
plan --cpu KIND --gpu KIND``.

A run records what its jobs took: ``results/preprocess/report.csv`` the
seconds and the sampled frames of every video (one core per batch job),
``results/models/<set>/<model>/history.csv`` the seconds of every epoch
(training steps and the validation pass). This writes

* ``resources/rates/preprocess-speed-KIND.json``: sampled frames per second
  of the videos processed (not taken from the cache);
* ``resources/rates/train-throughput-KIND.json``: per model, the images (eye
  frames) of an epoch, training and validation, per second of epoch, with
  the run's batch and input size;

with the commit the run was made at (its bundle's) and the machine this
tool runs on (a run folder does not record its machine: run the tool where
the run ran). The rates hold for that machine and the run's concurrency
(``make demo``: one-thread jobs side by side on the machine's cores).

    .venv/bin/python tools/rates_from_run.py RUN_DIR --kind demo-cpu \\
        [--configfile config/config.yaml]

``make demo``'s run gives ``demo-cpu``, against which
``tests/test_plan.py`` checks the plan of the CI configuration's real run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import pandas as pd  # noqa: E402
from _markdown import machine  # noqa: E402

from deepfake_ensemble.bundle.plan import (  # noqa: E402
    RATES_DIR,
    enabled_models,
    load_config,
    rates_document,
)
from deepfake_ensemble.layout import EYE_SEQUENCE_MODELS  # noqa: E402


def epoch_items(report: pd.DataFrame, split: str, model: str, cfg: dict) -> int:
    """Items (images; eye frames, windows padded to seq_len) of a split."""
    faces = report.loc[report["split"] == split, "faces_found"]
    if model in EYE_SEQUENCE_MODELS:
        seq = int(cfg["seq_len"])
        return int(sum(math.ceil(f / seq) * seq for f in faces))
    return int(faces.sum())


def run_rates(run: Path, config: dict, train_set: str = "pooled") -> tuple[dict, dict]:
    report = pd.read_csv(run / "results" / "preprocess" / "report.csv")
    fresh = report[(report["status"] == "ok") & ~report["cached"].astype(bool)]
    pre = {
        "sampled_frames_per_core_s": round(
            fresh["frames_sampled"].sum() / fresh["seconds"].sum(), 3
        ),
        "videos": len(fresh),
        "clip": f"the run's own videos ({run.name}/results/preprocess/report.csv)",
    }
    models = {}
    for model in enabled_models(config):
        cfg = config["models"][model]
        history = pd.read_csv(
            run / "results" / "models" / train_set / model / "history.csv"
        )
        eye = model in EYE_SEQUENCE_MODELS
        seq = int(cfg["seq_len"]) if eye else 1
        batch = int(cfg["batch_size"]) * seq
        n_train = epoch_items(report, "train", model, cfg)
        steps = n_train // batch if n_train > batch else 1
        if cfg.get("max_steps_per_epoch"):
            steps = min(steps, int(cfg["max_steps_per_epoch"]))
        per_epoch = min(n_train, steps * batch) + epoch_items(report, "val", model, cfg)
        models[model] = {
            "per_s": round(per_epoch * len(history) / history["seconds"].sum(), 3),
            "unit": "frames/s" if eye else "images/s",
            "batch": int(cfg["batch_size"]),
            "input_size": int(cfg["input_size"]),
            "seq_len": seq if eye else None,
            "peak_gpu_gib": None,
            "data": f"{len(history)} epochs of the run (training and validation)",
        }
    return pre, {"models": models}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="the run's working directory")
    ap.add_argument("--kind", required=True)
    ap.add_argument("--configfile", nargs="*", default=[])
    args = ap.parse_args()
    config = load_config(args.configfile)
    pre, train = run_rates(args.run, config)
    bundle = args.run / "results" / "bundle" / "bundle.json"
    commit = (
        json.loads(bundle.read_text())["commit"][:7] if bundle.is_file() else "unknown"
    )
    for name, rates in (("preprocess-speed", pre), ("train-throughput", train)):
        doc = rates_document(
            name,
            rates,
            command=f"tools/rates_from_run.py {args.run.name} --kind {args.kind}"
            + "".join(f" --configfile {c}" for c in args.configfile),
            commit=commit,
            machine=f"{machine()} (where the tool ran; the run records none)",
            source=f"measured by the run in {args.run.name}/ "
            "(results/preprocess/report.csv, results/models/*/*/history.csv)",
            kind=args.kind,
        )
        path = RATES_DIR / f"{name}-{args.kind}.json"
        path.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"written: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
