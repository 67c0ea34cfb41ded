"""Peak memory of one ``preprocess_batch`` job, as its rule runs it.

Each variant runs in a fresh process on the 20 s 1280x720 clip of
``benchmarks/preprocess.py`` (one core, one thread) and calls what
``scripts/preprocess/preprocess_batch.py`` calls: the job context of
``deepfake_ensemble.workflow`` and ``preprocess.jobs.preprocess_batch``
with the schema's preprocessing defaults.

a. baseline: the same job with torch imported first, as the thread limit of
   earlier versions did (``import torch; torch.set_num_threads``);
b. this project: the job as it runs now (torch is never imported).

Prints each variant's peak resident memory (ru_maxrss) and the ratio b/a;
``rules/preprocess.smk`` sets the rule's ``mem_mb`` from b.

    .venv/bin/python benchmarks/job_memory.py [--duration 20]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def schema_defaults() -> dict:
    schema = yaml.safe_load((ROOT / "config/schema/config.schema.yaml").read_text())
    props = schema["properties"]["preprocess"]["properties"]
    return {key: prop["default"] for key, prop in props.items()}


def run_job(variant: str, video: str, workdir: str) -> dict:
    """Child process: one preprocessing job on one video."""
    import os

    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    if variant == "a":
        import torch

        torch.set_num_threads(1)
    import pandas as pd

    from deepfake_ensemble.preprocess.jobs import preprocess_batch
    from deepfake_ensemble.workflow import limit_threads, logged

    work = Path(workdir)
    split_csv = work / "split.csv"
    pd.DataFrame(
        [{"video_id": "bench/clip", "path": video, "label": 0, "dataset": "bench"}]
    ).to_csv(split_csv, index=False)
    with logged(work / "job.log"):
        limit_threads(1)
        preprocess_batch(
            split_csv=split_csv,
            batch=0,
            report_csv=work / "batch-00000.csv",
            cache_dir=work / "faces",
            cfg=schema_defaults(),
        )
    report = pd.read_csv(work / "batch-00000.csv")
    return {
        "status": str(report["status"].iloc[0]),
        "frames": int(report["frames_sampled"].iloc[0]),
        "torch_loaded": "torch" in sys.modules,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--video", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:
        print(json.dumps(run_job(args.variant, args.video, args.workdir)))
        return

    from preprocess import make_clip

    with tempfile.TemporaryDirectory() as tmp:
        video = make_clip(Path(tmp) / "clip.mp4", args.duration)
        results = {}
        for variant in ("a", "b"):
            workdir = Path(tmp) / variant
            workdir.mkdir()
            cmd = [sys.executable, __file__, "--variant", variant]
            cmd += ["--video", str(video), "--workdir", str(workdir)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True)
            results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
    a, b = results["a"], results["b"]
    print(f"clip: {args.duration:.0f} s 1280x720, {b['frames']} sampled frames")
    print(f"a. baseline (torch imported): {a['maxrss_mb']:7.0f} MB peak RSS")
    print(f"b. this project:              {b['maxrss_mb']:7.0f} MB peak RSS")
    print(f"ratio b/a: {b['maxrss_mb'] / a['maxrss_mb']:.2f}")
    assert b["status"] == a["status"] == "ok", results
    assert not b["torch_loaded"], "the preprocessing job imported torch"


if __name__ == "__main__":
    main()
