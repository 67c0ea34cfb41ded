"""Size of the AUC comparisons on a clustered test set (a simulation).

Two detectors of equal true AUC score 6 groups x 60 videos (80% fakes) with
a per-group, per-detector score shift (``synthetic.clustered_scores``): a
test of AUC(a) = AUC(b) should reject at 0.05 in 5% of the simulations.
Compared: plain DeLong (videos independent), the grouped jackknife t-test
the summary's verdict uses (``stats.grouped_test``), and a paired percentile
cluster bootstrap of the AUC difference (``--boot`` resamples of the groups;
reject where the 95% interval of the difference excludes 0).

    .venv/bin/python benchmarks/grouped_test_size.py [--sims 1000] [--boot 500]

Prints the rejection rates with their binomial standard errors. Nothing is
asserted (tests/test_stats.py asserts the grouped test's size).
``--write docs/statistics.md`` puts the table into that file's
``grouped-test-size`` block, with the command, the commit and the machine.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from deepfake_ensemble.evaluate.stats import (  # noqa: E402
    cluster_bootstrap_aucs,
    delong_test,
    grouped_test,
)
from deepfake_ensemble.ingest.synthetic import clustered_scores  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _markdown import write_table  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=1000)
    ap.add_argument("--boot", type=int, default=500)
    ap.add_argument("--groups", type=int, default=6)
    ap.add_argument("--per-group", type=int, default=60)
    ap.add_argument("--shift-sd", type=float, default=1.5)
    ap.add_argument("--fake-share", type=float, default=0.8)
    ap.add_argument("--write", type=Path, default=None, help="markdown file to update")
    args = ap.parse_args()
    rejected = {"plain DeLong": 0, "grouped jackknife t": 0, "cluster bootstrap": 0}
    started = time.perf_counter()
    for seed in range(args.sims):
        y, a, b, g = clustered_scores(
            seed, args.groups, args.per_group, args.shift_sd, 1.0, args.fake_share
        )
        rejected["plain DeLong"] += delong_test(y, a, b)[3] < 0.05
        rejected["grouped jackknife t"] += grouped_test(y, a, b, g)["p"] < 0.05
        ids = np.arange(len(y))
        aucs = [
            # scores as probabilities (a monotone map: AUCs unchanged)
            cluster_bootstrap_aucs(
                ids, y, 1 / (1 + np.exp(-s)), args.boot, seed, "video", g
            )
            for s in (a, b)
        ]
        diff = aucs[0] - aucs[1]
        diff = diff[np.isfinite(diff)]
        lo, hi = np.quantile(diff, [0.025, 0.975])
        rejected["cluster bootstrap"] += not lo <= 0 <= hi
    seconds = time.perf_counter() - started
    print(
        f"{args.sims} simulations, {args.groups} groups x {args.per_group} videos, "
        f"shift sd {args.shift_sd}, {args.fake_share:.0%} fakes, "
        f"{args.boot} bootstrap resamples ({seconds:.1f} s)"
    )
    print("test                  rejection rate at 0.05")
    md = [
        f"{args.sims} simulations, {args.groups} groups × {args.per_group} videos, "
        f"per-group score shift sd {args.shift_sd}, {args.fake_share:.0%} fakes, "
        f"equal true AUCs, {args.boot} bootstrap resamples:",
        "",
        "| test | rejection rate at 0.05 | standard error |",
        "|---|---:|---:|",
    ]
    for name, n in rejected.items():
        rate = n / args.sims
        se = math.sqrt(rate * (1 - rate) / args.sims)
        print(f"{name:<22}{rate:.3f} +- {se:.3f}")
        md.append(f"| {name} | {rate:.1%} | {se:.1%} |")
    if args.write:
        write_table(args.write, "grouped-test-size", __file__, md)


if __name__ == "__main__":
    main()
