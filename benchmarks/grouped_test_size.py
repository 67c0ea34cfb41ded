"""Size of the AUC comparisons on a clustered test set (a simulation).

Two detectors of equal true AUC score 6, 12 or 30 groups (360, 360, 900
videos, 80% fakes), equal or with one group holding 40% of the videos, with
a per-group, per-detector score shift (``synthetic.clustered_scores``): a
test of AUC(a) = AUC(b) should reject at 0.05 in 5% of the simulations.
Compared: plain DeLong (videos independent), the grouped jackknife t-test
with K - 1 degrees of freedom (the verdict's test before unbalanced groups
were accounted for), with Bell-McCaffrey's degrees of freedom, and with the
degrees of freedom the summary's verdict uses (their midpoint,
``stats.grouped_test``, ``stats.grouped_df``), and the same jackknife t
referred to a restricted wild cluster bootstrap with Webb's six-point
weights (``stats.wild_cluster_test``, ``--wild-boot`` draws, 9,999 by
default, 0 to leave it out: it takes most of the run); with ``--boot N``
also a paired percentile cluster bootstrap of the AUC difference (N
resamples of the groups; reject where the 95% interval of the difference
excludes 0).

    .venv/bin/python benchmarks/grouped_test_size.py [--sims 1000] [--boot 0]
        [--wild-boot 9999] [--delta 0]

Prints the rejection rates with their binomial standard errors, and the
verdict's test's power against a video-AUC difference of 0.05 at alpha 0.05
(``stats.power_at`` from each simulation's standard error and degrees of
freedom, averaged over the simulations). ``--delta D`` simulates an
alternative instead: detector a scores every fake D higher (D = 0.3 gives
a video-AUC difference of about 0.045), and the rates are the tests' power
(the table then also gives the mean AUC difference; ``--write`` puts it into
the ``grouped-test-power`` block).
Nothing is asserted (tests/test_stats.py asserts the grouped test's size).
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
from scipy.stats import t as student_t

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from deepfake_ensemble.evaluate.stats import (  # noqa: E402
    bell_mccaffrey_df,
    cluster_bootstrap_aucs,
    delong_test,
    group_shares,
    grouped_test,
    power_at,
    wild_cluster_test,
)
from deepfake_ensemble.ingest.synthetic import clustered_scores  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _markdown import write_table  # noqa: E402

#: (groups, videos per group): 360 videos for 6 and 12 groups, 900 for 30
DESIGNS = ((6, 60), (12, 30), (30, 30))
WILD = "jackknife t, wild cluster bootstrap (Webb)"


def bootstrap_rejects(y, a, b, g, n_boot: int, seed: int) -> bool:
    ids = np.arange(len(y))
    aucs = [
        # scores as probabilities (a monotone map: AUCs unchanged)
        cluster_bootstrap_aucs(ids, y, 1 / (1 + np.exp(-s)), n_boot, seed, "video", g)
        for s in (a, b)
    ]
    diff = aucs[0] - aucs[1]
    diff = diff[np.isfinite(diff)]
    lo, hi = np.quantile(diff, [0.025, 0.975])
    return not lo <= 0 <= hi


def rates(args, n_groups, per_group, big_share) -> tuple[dict[str, int], float, float]:
    """Rejections per test, the verdict's test's mean power at 0.05 and the
    mean AUC difference over ``args.sims`` simulations of one design."""
    rejected = {"plain DeLong": 0, "grouped jackknife t, K - 1 df": 0}
    rejected["grouped jackknife t, Bell-McCaffrey df"] = 0
    rejected["grouped jackknife t (verdict's df)"] = 0
    if args.wild_boot:
        rejected[WILD] = 0
    if args.boot:
        rejected["cluster bootstrap"] = 0
    power, diffs = [], []
    for seed in range(args.sims):
        y, a, b, g = clustered_scores(
            seed, n_groups, per_group, args.shift_sd, 1.0, args.fake_share, big_share
        )
        a = a + args.delta * y
        rejected["plain DeLong"] += delong_test(y, a, b)[3] < 0.05
        res = grouped_test(y, a, b, g)
        diffs.append(res["diff"])
        if res["p"] is not None:
            t = abs(res["t"])
            rejected["grouped jackknife t, K - 1 df"] += (
                2 * student_t.sf(t, res["n_groups"] - 1) < 0.05
            )
            bm = bell_mccaffrey_df(group_shares(y, g))
            rejected["grouped jackknife t, Bell-McCaffrey df"] += (
                2 * student_t.sf(t, bm) < 0.05
            )
            rejected["grouped jackknife t (verdict's df)"] += res["p"] < 0.05
            power.append(power_at(0.05, res["se"], res["df"], 0.05) or 0.0)
        if args.wild_boot:
            p = wild_cluster_test(y, a, b, g, args.wild_boot)[1]
            rejected[WILD] += p is not None and p < 0.05
        if args.boot:
            rejected["cluster bootstrap"] += bootstrap_rejects(
                y, a, b, g, args.boot, seed
            )
    return rejected, float(np.mean(power)), float(np.mean(diffs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=1000)
    ap.add_argument("--boot", type=int, default=0)
    ap.add_argument("--shift-sd", type=float, default=1.5)
    ap.add_argument("--fake-share", type=float, default=0.8)
    ap.add_argument("--big-share", type=float, default=0.4)
    ap.add_argument(
        "--wild-boot",
        type=int,
        default=9999,
        help="draws of the wild cluster bootstrap test (0: leave it out)",
    )
    ap.add_argument(
        "--delta",
        type=float,
        default=0.0,
        help="detector a scores fakes this much higher: rates are powers",
    )
    ap.add_argument("--write", type=Path, default=None, help="markdown file to update")
    args = ap.parse_args()
    started = time.perf_counter()
    table = {}
    for n_groups, per_group in DESIGNS:
        for big in (None, args.big_share):
            table[(n_groups, per_group, big)] = rates(args, n_groups, per_group, big)
            print(n_groups, big, table[(n_groups, per_group, big)], flush=True)
    seconds = time.perf_counter() - started
    tests = list(next(iter(table.values()))[0])
    truth = (
        f"detector a scoring fakes {args.delta:g} higher"
        if args.delta
        else "equal true AUCs"
    )
    target = (
        "Power: the rejection rate at 0.05"
        if args.delta
        else (
            "Rejection rate at 0.05 (binomial standard error about "
            f"{math.sqrt(0.05 * 0.95 / args.sims):.1%}); the target is [3%, 6.5%]"
        )
    )
    md = [
        f"{args.sims} simulations per design, per-group score shift sd "
        f"{args.shift_sd}, {args.fake_share:.0%} fakes, {truth}"
        + (f", {args.boot} bootstrap resamples" if args.boot else "")
        + (f", {args.wild_boot} wild bootstrap draws" if args.wild_boot else "")
        + f" ({seconds:.0f} s). {target}:",
        "",
        "| groups | videos | balance | "
        + ("mean ΔAUC | " if args.delta else "")
        + " | ".join(tests)
        + " | power at ΔAUC 0.05 (verdict's test) |",
        "|---:|---:|---|"
        + ("---:|" if args.delta else "")
        + "---:|" * (len(tests) + 1),
    ]
    for (n_groups, per_group, big), (rejected, power, diff) in table.items():
        balance = f"one group {big:.0%}" if big else "equal"
        cells = " | ".join(f"{rejected[t] / args.sims:.1%}" for t in tests)
        mean_diff = f"{diff:+.3f} | " if args.delta else ""
        md.append(
            f"| {n_groups} | {n_groups * per_group} | {balance} | {mean_diff}"
            f"{cells} | {power:.0%} |"
        )
    print("\n".join(md))
    if args.write:
        block = "grouped-test-power" if args.delta else "grouped-test-size"
        write_table(args.write, block, __file__, md)


if __name__ == "__main__":
    main()
