"""How much the demo's answer moves with the training seed.

The demo's models are barely trained: its AUCs move with the seed that
draws their initial weights, batches and flips. This retrains every model
and ensemble of ``make demo`` under each training seed (``seed:`` of the
config; the demo data, the split and the shards stay those of the finished
demo) and writes, for every row of the summary, the range of its video AUC
over the seeds, how often each model is the best single model, and how
often each verdict comes out::

    make demo                                     # seed 1, the README's run
    .venv/bin/python benchmarks/demo_seeds.py --seeds 1 2 3 4 5 \
        --write README.md                         # about 12 min a seed, 2 cores

Each seed runs in ``results/seeds/seed-N`` (the demo's data, split and
shards hard-linked from ``results``); the seed of ``results`` itself is read,
not run again. A seed already run is reused. ``--write`` puts the table in
that file between ``<!-- demo-seeds:begin -->`` and ``<!-- demo-seeds:end -->``,
with the commit and the numerics it ran with (pinned: the same on every
x86-64 machine with AVX2).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from _markdown import commit, write_block  # noqa: E402

from deepfake_ensemble import numerics  # noqa: E402

#: the finished demo's inputs of training, linked into each seed's run
SHARED = ("demo", "manifest", "splits", "faces", "preprocess", "shards")
STUDY_ENSEMBLES = (
    "best2_hard",
    "best2_soft",
    "small2_hard",
    "small2_soft",
    "all_hard",
    "all_soft",
)


def run_seed(
    source: Path,
    work: Path,
    seed: int,
    cores: str,
    configfiles: tuple[Path, ...] = (),
    target: str = "results/summary.csv",
    shared: tuple[str, ...] = SHARED,
) -> Path:
    """``target`` of the demo (``make demo``'s, or the run of
    ``configfiles``) retrained with ``seed`` in ``work``, the ``shared``
    folders of the finished run's ``source`` (its results folder)
    hard-linked in."""
    summary = work / target
    if summary.is_file():
        return summary
    for name in shared:
        dst = work / "results" / name
        if not dst.exists():
            shutil.copytree(source / name, dst, copy_function=os.link)
    configs = ["--configfile", *map(str, configfiles)] if configfiles else []
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(work),
        "--profile",
        str(ROOT / "profiles" / "default"),
        "--set-threads",
        "train=1",
        "predict=1",
        "--cores",
        cores,
        *configs,
        "--config",
        f"seed={seed}",
        "--",
        target,
    ]
    print(f"seed {seed}: {' '.join(cmd[3:])}", flush=True)
    subprocess.run(cmd, check=True, cwd=work)
    return summary


def config_seed(configfiles: tuple[Path, ...] = ()) -> int:
    """The training seed of ``make demo`` (config/config.yaml), or of the run
    of ``configfiles`` layered on it."""
    from deepfake_ensemble.bundle.plan import layered_config

    return int(layered_config(configfiles)["seed"])


def study_rows(summary: pd.DataFrame) -> pd.Series:
    """The study's rows: its four detectors and six ensembles."""
    return summary["variant"].astype(str).str.startswith("study")


def spread(summaries: dict[int, pd.DataFrame], all_rows: bool = False) -> list[str]:
    seeds = sorted(summaries)
    n = len(seeds)
    best = Counter(
        df.loc[df["verdict"] == "best single model", "name"].iloc[0]
        for df in summaries.values()
    )
    lines = [
        f"Over {n} training seeds ({', '.join(map(str, seeds))}), the demo's "
        "data, split and shards fixed: best single model (chosen on validation) "
        + ", ".join(f"`{m}` in {k} of {n}" for m, k in best.most_common())
        + ".",
        "",
        "| name | video AUC, seed "
        + str(seeds[0])
        + " | min | median | max | verdicts over the seeds |",
        "|---|---|---|---|---|---|",
    ]
    first = summaries[seeds[0]]
    names = list(first["name"] if all_rows else first.loc[study_rows(first), "name"])
    for name in names:
        rows = [df.set_index("name").loc[name] for df in summaries.values()]
        aucs = pd.Series([float(r["video_auc"]) for r in rows])
        verdicts = Counter(str(r["verdict"]) for r in rows)
        lines.append(
            f"| {name} | {aucs.iloc[0]:.3f} | {aucs.min():.3f} | "
            f"{aucs.median():.3f} | {aucs.max():.3f} | "
            + "; ".join(f"{v} {k} of {n}" for v, k in verdicts.most_common())
            + " |"
        )
    study = [
        f"`{e}` "
        + ", ".join(
            f"{v} in {k} of {n}"
            for v, k in Counter(
                str(df.set_index("name").loc[e, "verdict"]) for df in summaries.values()
            ).most_common()
        )
        for e in STUDY_ENSEMBLES
    ]
    lines += ["", "The study's six ensembles against the best single model: "]
    lines[-1] += "; ".join(study) + "."
    return lines


def provenance(source: Path) -> str:
    recs = [
        json.loads(p.read_text()).get("numerics")
        for p in sorted((source / "models").glob("*/*/start.json"))
    ]
    rec = next((r for r in recs if r), None)
    where = numerics.fingerprint_line(rec) if rec else "numerics not recorded"
    return f"commit {commit()}; {where}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--source", type=Path, default=ROOT / "results")
    ap.add_argument("--work", type=Path, default=ROOT / "results" / "seeds")
    ap.add_argument("--cores", default="all")
    ap.add_argument("--write", type=Path, default=None)
    ap.add_argument(
        "--all-rows",
        action="store_true",
        help="every row of the summary (default: the study's detectors and ensembles)",
    )
    args = ap.parse_args(argv)
    source = args.source.resolve()
    if not (source / "summary.csv").is_file():
        raise SystemExit(f"error: {source}/summary.csv not found: run `make demo`")
    own = config_seed()
    summaries = {}
    for seed in args.seeds:
        summary = (
            source / "summary.csv"
            if seed == own
            else run_seed(
                source, args.work.resolve() / f"seed-{seed}", seed, args.cores
            )
        )
        summaries[seed] = pd.read_csv(summary)
    lines = spread(summaries, args.all_rows)
    text = f"({provenance(source)}.)\n\n" + "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_block(args.write, "demo-seeds", text)
        print(f"written: {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
