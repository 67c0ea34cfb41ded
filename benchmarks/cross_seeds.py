"""How much the cross-dataset demo's answer moves with the training seed, and
what a member trained on self-blended fakes changes.

``make demo-cross CROSS_EXTRA=config/demo_cross_sbi.yaml`` trains the study's
four and ``sbi`` (an EfficientNet trained on self-blended fakes of its
training set's real faces only) on each demo dataset and tests each on both.
This retrains every detector and ensemble of that run under further training
seeds (``seed:``; the two datasets, the split and the shards stay the
finished run's) and answers, over the seeds:

* does ``sbi`` generalise better than the supervised members: its mean
  cross-domain video AUC against each of theirs, and how often it is the
  highest of the single detectors;
* does it change whether an ensemble beats its best member: every ensemble
  against its best member (chosen per training set on validation; for the
  ensembles over all five members that may be ``sbi``), the mean
  cross-domain difference and the cells the Holm-corrected grouped test
  calls better or worse (results/cross_dataset_members.csv of each run),
  the study's ensembles (over the four) beside those over all five::

    make demo-cross CROSS_EXTRA=config/demo_cross_sbi.yaml      # seed 1
    .venv/bin/python benchmarks/cross_seeds.py --seeds 1 2 3 \\
        --write docs/cross-dataset.md --answer README.md

Each further seed runs in ``results/demo-cross/seeds/seed-N`` (the run's data,
split and shards hard-linked); a seed already run is reused. ``--write`` puts
the tables in that file's ``cross-seeds`` block with the commit and the
numerics the run used; ``--answer`` puts the answer in two sentences in
that file's ``cross-seeds-answer`` block.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _markdown import commit, write_block  # noqa: E402
from demo_seeds import config_seed, provenance, run_seed  # noqa: E402

from deepfake_ensemble.evaluate.cross_dataset import (  # noqa: E402
    choose_best_ensemble,
    ensemble_vs_members,
)
from deepfake_ensemble.layout import MEMBER_ENSEMBLES  # noqa: E402

CONFIGS = (ROOT / "config" / "demo_cross.yaml", ROOT / "config" / "demo_cross_sbi.yaml")
#: the finished run's inputs of training, linked into each seed's run
SHARED = ("demo", "demo_b", "manifest", "splits", "faces", "preprocess", "shards")
TARGETS = ("cross_dataset_drop.csv", "cross_dataset_members.csv")


def seed_tables(results: Path) -> dict[str, pd.DataFrame]:
    """One run's drop table (per detector and ensemble) and every ensemble
    against its best member."""
    drop = pd.read_csv(results / "cross_dataset_drop.csv")
    members = pd.read_csv(results / "cross_dataset_members.csv")
    return {"drop": drop, "versus": ensemble_vs_members(members, drop)}


def stats(values: list[float], fmt: str = ".3f") -> str:
    """The first seed's value, then the smallest, median and largest."""
    s = pd.Series(values, dtype=float)
    return " | ".join(f"{v:{fmt}}" for v in (s.iloc[0], s.min(), s.median(), s.max()))


def signed(values: list[float]) -> str:
    return stats(values, "+.3f")


def singles_cross(runs: dict[int, dict[str, pd.DataFrame]]) -> dict[int, pd.Series]:
    """Seed -> each single detector's mean cross-domain video AUC."""
    out = {}
    for s, tables in runs.items():
        drop = tables["drop"]
        singles = drop[drop["kind"] == "single"].set_index("name")
        out[s] = singles["cross_domain_auc"].astype(float)
    return out


def gaps_to_best_other(cross: dict[int, pd.Series], member: str) -> list[float]:
    """Per seed: ``member``'s cross-domain AUC minus the best other single's."""
    return [float(c[member] - c.drop(member).max()) for _, c in sorted(cross.items())]


def report(runs: dict[int, dict[str, pd.DataFrame]], member: str) -> list[str]:
    seeds = sorted(runs)
    n = len(seeds)
    cross = singles_cross(runs)
    singles = list(cross[seeds[0]].index)
    top = Counter(cross[s].idxmax() for s in seeds)
    lines = [
        f"Over {n} training seeds ({', '.join(map(str, seeds))}), the two "
        "datasets, the split and the shards fixed. Mean cross-domain video AUC "
        "(the two cells where the test set is not the training set): seed "
        f"{seeds[0]}, then the smallest, median and largest over the seeds.",
        "",
        "| single detector | seed "
        f"{seeds[0]} | min | median | max | highest of the singles |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name in singles:
        lines.append(
            f"| {name} | {stats([cross[s][name] for s in seeds])} "
            f"| {top.get(name, 0)} of {n} |"
        )
    gaps = gaps_to_best_other(cross, member)
    lines += [
        "",
        f"`{member}` minus the best supervised member's mean cross-domain AUC "
        f"(that seed's best): {signed(gaps).replace(' | ', ', ')} "
        "(seed, min, median, max).",
        "",
        "Every ensemble against its best member (per training set, chosen on "
        "validation): mean cross-domain AUC difference, and the cross-domain "
        "cells over all seeds where the Holm-corrected grouped test says "
        f"better or worse ({n} seeds × 2 cells); `chosen`: the seeds in which "
        "it had the highest mean validation AUC of all ensembles:",
        "",
        f"| ensemble | members | best members, seed {seeds[0]} | diff, seed "
        f"{seeds[0]} | min | median | max | better | worse | chosen |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    chosen = Counter(choose_best_ensemble(runs[s]["versus"]) for s in seeds)
    versus = {s: runs[s]["versus"].set_index("ensemble") for s in seeds}
    for name in versus[seeds[0]].index:
        rows = [versus[s].loc[name] for s in seeds]
        over = "all five" if name in MEMBER_ENSEMBLES else "study's four"
        lines.append(
            f"| {name} | {over} | {rows[0]['best_members']} | "
            f"{signed([r['diff'] for r in rows])} | "
            f"{sum(int(r['better']) for r in rows)} | "
            f"{sum(int(r['worse']) for r in rows)} | {chosen.get(name, 0)} |"
        )
    return lines


def answer(runs: dict[int, dict[str, pd.DataFrame]], member: str) -> list[str]:
    """The answer in two sentences (the README's): how often the member is
    the best single detector across datasets, and the tested cells of the
    ensembles over the study's four and over all five."""
    seeds = sorted(runs)
    n = len(seeds)
    cross = singles_cross(runs)
    firsts = sum(int(cross[s].idxmax() == member) for s in seeds)
    gap = pd.Series(gaps_to_best_other(cross, member))
    parts = []
    for label, members in (("the study's four", False), ("all five", True)):
        cells = pd.concat(
            [
                v[v["ensemble"].isin(MEMBER_ENSEMBLES) == members]
                for v in (runs[s]["versus"] for s in seeds)
            ]
        )
        parts.append(
            f"ensembles over {label}: better than their best member in "
            f"{int(cells['better'].sum())}, worse in {int(cells['worse'].sum())} "
            f"of {int(cells['n_cross_domain'].sum())} cross-domain cells"
        )
    return [
        f"Over {n} training seeds, `{member}` (trained on self-blended fakes of "
        f"real faces only) had the highest mean cross-domain video AUC of the "
        f"single detectors in {firsts} of {n}; minus the best supervised "
        f"member's: median {gap.median():+.3f} (from {gap.min():+.3f} to "
        f"{gap.max():+.3f}).",
        "Holm-corrected grouped tests, all seeds together: " + "; ".join(parts) + ".",
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument(
        "--run", type=Path, default=ROOT / "results/demo-cross", help="its folder"
    )
    ap.add_argument("--configfile", type=Path, nargs="+", default=list(CONFIGS))
    ap.add_argument("--member", default="sbi", help="the self-blended member")
    ap.add_argument("--cores", default="all")
    ap.add_argument("--write", type=Path, default=None)
    ap.add_argument(
        "--answer", type=Path, default=None, help="file for the two-line answer"
    )
    args = ap.parse_args(argv)
    source = args.run.resolve() / "results"
    for name in TARGETS:
        if not (source / name).is_file():
            raise SystemExit(
                f"error: {source / name} not found: run "
                "`make demo-cross CROSS_EXTRA=config/demo_cross_sbi.yaml`"
            )
    own = config_seed(tuple(args.configfile))
    runs = {}
    for seed in args.seeds:
        if seed == own:
            results = source
        else:
            work = args.run.resolve() / "seeds" / f"seed-{seed}"
            configs = tuple(p.resolve() for p in args.configfile)
            # one rule writes both tables
            target = f"results/{TARGETS[-1]}"
            run_seed(source, work, seed, args.cores, configs, target, SHARED)
            results = work / "results"
        runs[seed] = seed_tables(results)
    lines = report(runs, args.member)
    text = f"({provenance(source)}.)\n\n" + "\n".join(lines) + "\n"
    print(text)
    short = " ".join(answer(runs, args.member))
    print(short)
    if args.write:
        write_block(args.write, "cross-seeds", text)
        print(f"written: {args.write}")
    if args.answer:
        line = f"(commit {commit()}.) {short}\n"
        write_block(args.answer, "cross-seeds-answer", line)
        print(f"written: {args.answer}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
