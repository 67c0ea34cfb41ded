"""One GPU through the DDP launcher against the plain path: what a member's
training job pays for torchrun and DistributedDataParallel when it has a
single process.

``models.<name>.gpus: 1`` trains in the job's own process (the plain path);
``gpus`` above 1 starts the job's processes with torchrun, each with its model
in DistributedDataParallel (``src/deepfake_ensemble/train/distributed.py``).
This runs the same training job both ways on one device, each in a fresh
process as a SLURM job would be, alternating the two: the plain job calls
:func:`deepfake_ensemble.train.jobs.train`, the launcher's job calls
:func:`deepfake_ensemble.train.distributed.launch` with one process, which is
exactly what ``gpus: N`` does with N = 1. From each run it takes the wall
time of the job and the seconds of each epoch (training and validation,
``history.csv``); their difference is the job's set-up (imports, the CUDA
context, torchrun and the process group, reading the shards' index).

On a GPU node, with shards carried there (``benchmarks/jpeg_shards.py``)::

    python benchmarks/launcher_overhead.py --device cuda --shards .gpu/shards \\
        --model dsp_fwa --workers 7 --repeats 2 --write docs/cluster.md \\
        --set input_size=224 batch_size=56 epochs=3 max_steps_per_epoch=null

On the CPU (gloo), a small check that it runs::

    .venv/bin/python benchmarks/launcher_overhead.py --device cpu \\
        --shards results/shards/demo --model dsp_fwa \\
        --set input_size=32 epochs=2 max_steps_per_epoch=4 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _markdown import write_table  # noqa: E402

from deepfake_ensemble.bundle.plan import layered_config  # noqa: E402

PATHS = ("plain", "launcher")
LABELS = {"plain": "plain (`gpus: 1`)", "launcher": "torchrun + DDP, 1 process"}


def job(spec_file: str) -> None:
    """The training job of one run (a fresh process): ``path`` plain or
    launcher, the rest :func:`deepfake_ensemble.train.jobs.train`'s
    arguments."""
    import torch  # noqa: F401  (before the kernels are pinned, as in a job)

    from deepfake_ensemble import numerics
    from deepfake_ensemble.train import distributed
    from deepfake_ensemble.train.jobs import train
    from deepfake_ensemble.workflow import limit_threads

    spec = json.loads(Path(spec_file).read_text())
    path, arguments = spec.pop("path"), spec
    limit_threads(arguments["threads"])
    numerics.pin(arguments["train_config"].get("cpu_numerics", "portable"))
    if path == "plain":
        train(**arguments)
    else:
        distributed.launch(arguments, 1, Path(arguments["resume_dir"]))


def one_run(path: str, arguments: dict, tmp: Path) -> dict:
    """Run one job in a fresh process; its wall time, epoch seconds and peak
    GPU memory."""
    out = tmp / path
    arguments = {
        **arguments,
        "out_dir": str(out / "model"),
        "resume_dir": str(out / "resume"),
    }
    out.mkdir(parents=True, exist_ok=True)
    spec = out / "job.json"
    spec.write_text(json.dumps({"path": path, **arguments}))
    started = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--job", str(spec)], check=True)
    wall = time.perf_counter() - started
    import pandas as pd

    history = pd.read_csv(out / "model" / "history.csv")
    seconds = [float(s) for s in history["seconds"]]
    peak = history["peak_gpu_mb"].max() if "peak_gpu_mb" in history else None
    return {
        "wall": wall,
        "epochs": seconds,
        "setup": wall - sum(seconds),
        "peak_gib": None if pd.isna(peak) else float(peak) / 1024,
    }


def summarise(runs: list[dict]) -> dict:
    """Medians over the repeats (and the spread: the smallest and largest)."""

    def stat(values):
        return statistics.median(values), min(values), max(values)

    return {
        "wall": stat([r["wall"] for r in runs]),
        "setup": stat([r["setup"] for r in runs]),
        "first": stat([r["epochs"][0] for r in runs]),
        "later": stat([statistics.mean(r["epochs"][1:] or r["epochs"]) for r in runs]),
        "peak_gib": max((r["peak_gib"] or 0.0) for r in runs),
    }


def cell(stat: tuple[float, float, float], n: int) -> str:
    median, low, high = stat
    return f"{median:.2f}" + (f" ({low:.2f}–{high:.2f})" if n > 1 else "")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--job", help=argparse.SUPPRESS)
    p.add_argument("--model", default="dsp_fwa")
    p.add_argument("--shards", type=Path, help="folder with train/ and val/ shards")
    p.add_argument(
        "--configfile",
        type=Path,
        nargs="+",
        default=[],
        help="configs layered on config/config.yaml",
    )
    p.add_argument(
        "--set", nargs="*", default=[], help="KEY=VALUE of the model's block (YAML)"
    )
    p.add_argument("--device", default="cuda")
    p.add_argument("--workers", type=int, default=None, help="train.num_workers")
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--write", type=Path)
    args = p.parse_args(argv)
    if args.job:
        job(args.job)
        return
    if args.shards is None:
        p.error("--shards is required")
    config = layered_config(args.configfile)
    model_config = dict(config["models"][args.model])
    for item in args.set:
        key, value = item.split("=", 1)
        model_config[key] = yaml.safe_load(value)
    model_config["gpus"] = 1
    arguments = {
        "model": args.model,
        "train_shards": str(args.shards / "train"),
        "val_shards": str(args.shards / "val"),
        "model_config": model_config,
        "train_config": {
            **config.get("train", {}),
            "device": args.device,
            "num_workers": args.workers,
        },
        "seed": 1,
        "threads": args.threads,
        "val_predictions": None,
    }
    runs: dict[str, list[dict]] = {path: [] for path in PATHS}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for path in PATHS:
                run = one_run(path, arguments, Path(tmp) / f"{path}{repeat}")
                runs[path].append(run)
                print(
                    f"{path:<8} run {repeat + 1}: wall {run['wall']:.2f} s, "
                    f"set-up {run['setup']:.2f} s, epochs "
                    + ", ".join(f"{s:.2f}" for s in run["epochs"])
                    + " s",
                    flush=True,
                )
    summary = {path: summarise(runs[path]) for path in PATHS}
    n = args.repeats
    settings = ", ".join(
        f"{k} {model_config.get(k)}"
        for k in ("input_size", "batch_size", "epochs", "max_steps_per_epoch")
    )
    lines = [
        f"`{args.model}` ({settings}) on {args.shards}, {args.workers} loader "
        f"workers, device {args.device}; medians of {n} runs of each path, "
        "alternated" + (" (smallest–largest)" if n > 1 else "") + "; seconds:",
        "",
        "| path | job wall time | set-up (wall − epochs) | epoch 1 "
        "| later epochs (mean) | peak GPU memory |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for path in PATHS:
        s = summary[path]
        lines.append(
            f"| {LABELS[path]}"
            f" | {cell(s['wall'], n)} | {cell(s['setup'], n)} | {cell(s['first'], n)}"
            f" | {cell(s['later'], n)} | "
            + (f"{s['peak_gib']:.1f} GiB" if s["peak_gib"] else "-")
            + " |"
        )
    plain, launcher = summary["plain"], summary["launcher"]
    setup = launcher["setup"][0] - plain["setup"][0]
    lines += [
        "",
        f"Launcher against plain: set-up {setup:+.2f} s once per job, later "
        f"epochs ×{launcher['later'][0] / plain['later'][0]:.3f}, whole job "
        f"×{launcher['wall'][0] / plain['wall'][0]:.3f}.",
    ]
    print("\n".join(lines))
    if args.write:
        if args.device.startswith("cuda"):
            import torch

            torch.cuda.init()  # the block's machine line names the GPU
        write_table(args.write, "launcher-overhead", __file__, lines)


if __name__ == "__main__":
    main()
