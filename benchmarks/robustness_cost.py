"""What the robustness stage costs: its jobs run over a finished workflow
run, timed.

Copies ``--run`` (a finished run's working folder, e.g. the CI config's;
``--in-place``: runs in it, as ``make demo-robust`` does in the demo's), then
runs the workflow there with the robustness stage on for
``--perturbations`` at ``--severities`` (the run's own configs, plus that
overlay) on ``--cores``, and reports the wall time, the CPU seconds of each
rule (Snakemake's benchmark files), and the cost per test video and
condition. ``--estimate CONFIG...`` scales that cost to another config's
conditions and test videos (its demo's videos times the test share of
``split.ratios``): a rough figure, labelled as such, since videos of another
length and size cost more or less to degrade and preprocess.

    .venv/bin/python benchmarks/robustness_cost.py --run RUN \
        --configfile config/ci.yaml \
        [--estimate config/config.yaml config/demo_robust.yaml]

``--write FILE`` puts the tables into that file's ``robustness-cost`` block.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml
from _markdown import ROOT, write_table

from deepfake_ensemble.layout import robustness_conditions

RULES = ("degrade_test", "robust_preprocess", "robust_shards", "robust_predict")


def merged(configs: list[Path]) -> dict:
    """The configs, later ones over earlier ones (as Snakemake merges them)."""

    def update(a: dict, b: dict) -> dict:
        for k, v in b.items():
            a[k] = update(dict(a.get(k) or {}), v) if isinstance(v, dict) else v
        return a

    out: dict = {}
    for path in configs:
        out = update(out, yaml.safe_load(Path(path).read_text()) or {})
    return out


def rule_seconds(bench_dir: Path) -> dict[str, tuple[int, float]]:
    """rule -> (jobs, summed wall seconds) from Snakemake's benchmark files."""
    out = {}
    for rule in (*RULES, "robustness"):
        files = sorted(bench_dir.glob(f"{rule}/**/*.tsv")) or sorted(
            bench_dir.glob(f"{rule}.tsv")
        )
        out[rule] = (
            len(files),
            sum(float(pd.read_csv(f, sep="\t")["s"].iloc[0]) for f in files),
        )
    return out


def the_answer(md: Path) -> str:
    """The paragraph of results/robustness.md that answers the question."""
    text = md.read_text()
    head = "## Is the ensemble's drop smaller than its best member's?"
    return text.split(head, 1)[1].strip().split("\n\n", 1)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--configfile", type=Path, nargs="+", required=True)
    ap.add_argument("--perturbations", nargs="+", default=["jpeg", "blur"])
    ap.add_argument("--severities", nargs="+", type=int, default=[1, 5])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--estimate", type=Path, nargs="+")
    ap.add_argument("--write", type=Path)
    ap.add_argument(
        "--in-place",
        action="store_true",
        help="run in --run itself (its robustness outputs stay), not in a copy",
    )
    args = ap.parse_args()
    robust = {
        "enabled": True,
        "perturbations": args.perturbations,
        "severities": args.severities,
    }
    conditions = robustness_conditions(robust)
    tmp = Path(tempfile.mkdtemp(prefix="robustness-cost-"))
    try:
        work = args.run.resolve() if args.in_place else tmp / "run"
        if not args.in_place:
            shutil.copytree(args.run, work, symlinks=True)
        shutil.rmtree(work / "results" / "robustness", ignore_errors=True)
        overlay = tmp / "robust.yaml"
        overlay.write_text(yaml.safe_dump({"evaluation": {"robustness": robust}}))
        cmd = [
            sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
            "--directory", str(work), "--profile", str(ROOT / "profiles" / "default"),
            "--configfile", *(str(p.resolve()) for p in args.configfile), str(overlay),
            "--set-threads", "train=1", "predict=1", "--cores", str(args.cores),
        ]  # fmt: skip
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
        if done.returncode:
            sys.exit(
                f"the workflow failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        wall = time.perf_counter() - t0
        n_videos = len(pd.read_csv(work / "results" / "splits" / "test.csv"))
        seconds = rule_seconds(work / "results" / "benchmarks")
        answer = the_answer(work / "results" / "robustness.md")
        drops = pd.read_csv(work / "results" / "robustness_drop.csv")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    per = wall / (n_videos * len(conditions))
    configs = " + ".join(
        f"`{p.relative_to(ROOT) if p.is_absolute() else p}`" for p in args.configfile
    )
    md = [
        f"The stage over a finished run of {configs} ({n_videos} test videos), "
        f"{len(conditions)} conditions "
        f"({', '.join(conditions)}), {args.cores} cores: **{wall:.0f} s** wall, "
        f"{per:.2f} s per test video and condition.",
        "",
        "| rule | jobs | job seconds (summed) |",
        "|---|---:|---:|",
        *[f"| {rule} | {n} | {s:.1f} |" for rule, (n, s) in seconds.items()],
    ]
    md += [
        "",
        "What that run answers (`results/robustness.md`; the models as trained "
        "there, on that run's test groups):",
        "",
        f"> {answer}",
        "",
        "| name | kind | clean AUC | mean degraded AUC | mean drop |",
        "|---|---|---:|---:|---:|",
        *[
            f"| {r.name} | {r.kind} | {r.clean_auc:.3f} | "
            f"{r.mean_degraded_auc:.3f} | {r.mean_drop:+.3f} |"
            for r in drops.itertuples(index=False)
        ],
    ]
    print("\n".join(md))
    if args.estimate:
        cfg = merged(args.estimate)
        demo = cfg["demo"]
        share = cfg.get("split", {}).get("ratios", [0.8, 0.1, 0.1])[2]
        videos = round((demo["n_real"] + demo["n_fake"]) * share)
        n_cond = len(robustness_conditions(cfg["evaluation"]["robustness"]))
        names = " + ".join(f"`{p}`" for p in args.estimate)
        # upper: every second grows with the test videos; lower: only the
        # jobs that handle each video (degrade, preprocess, pack), the
        # prediction jobs' time (mostly start-up at this size) as measured
        scale = videos / n_videos
        total = sum(s for _, s in seconds.values())
        per_video = sum(seconds[r][1] for r in RULES[:3])
        lower = wall * (per_video * scale + total - per_video) / total
        upper = wall * scale
        ratio = n_cond / len(conditions)
        md += [
            "",
            f"Scaled to {names} (about {videos} test videos × {n_cond} "
            f"conditions, {args.cores} cores), a rough range from this "
            f"run: **{lower * ratio / 60:.0f}–{upper * ratio / 60:.0f} min** "
            "(low: only the jobs that handle each video grow with the number "
            "of videos; high: every second does; videos of another length and "
            "size also cost more or less).",
        ]
        print(md[-1])
    if args.write:
        write_table(args.write, "robustness-cost", __file__, md)


if __name__ == "__main__":
    main()
