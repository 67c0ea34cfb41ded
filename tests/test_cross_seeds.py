"""benchmarks/cross_seeds.py: the spread of the cross-dataset demo's answer over
training seeds, from each run's tables (the runs themselves are
benchmarks; here, tables written by evaluate.cross_dataset's functions)."""

from __future__ import annotations

import sys

import pandas as pd
from conftest import ROOT

from deepfake_ensemble.evaluate.cross_dataset import ensemble_vs_members

sys.path.insert(0, str(ROOT / "benchmarks"))
from cross_seeds import answer, report  # noqa: E402


def run(cross: dict[str, float], better: str, seed_gap: float) -> dict:
    """One seed's tables: singles' mean cross-domain AUCs, and two ensembles
    (one over the study's four, one over all five) each against its best
    member in two cross-domain cells, ``better`` called better in one."""
    drop = pd.DataFrame(
        [
            {
                "name": n,
                "kind": "single",
                "cross_domain_auc": a,
                "mean_val_video_auc": a,
            }
            for n, a in cross.items()
        ]
        + [
            {
                "name": "all_soft",
                "kind": "ensemble",
                "cross_domain_auc": 0.7,
                "mean_val_video_auc": 0.8,
            },
            {
                "name": "allm_soft",
                "kind": "ensemble",
                "cross_domain_auc": 0.7,
                "mean_val_video_auc": 0.8 + seed_gap,
            },
        ]
    )
    rows = []
    for e in ("all_soft", "allm_soft"):
        for t, s in (("a", "b"), ("b", "a")):
            rows.append(
                {
                    "ensemble": e,
                    "train_set": t,
                    "test_set": s,
                    "in_domain": False,
                    "best_member": "xception",
                    "ensemble_auc": 0.7 + seed_gap,
                    "member_auc": 0.7,
                    "verdict": "better" if e == better and t == "a" else "inconclusive",
                }
            )
    members = pd.DataFrame(rows)
    return {"drop": drop, "versus": ensemble_vs_members(members, drop)}


def three_seeds() -> dict:
    return {
        1: run({"xception": 0.7, "sbi": 0.8, "capsule": 0.5}, "allm_soft", 0.01),
        2: run({"xception": 0.75, "sbi": 0.6, "capsule": 0.5}, "none", -0.02),
        3: run({"xception": 0.6, "sbi": 0.9, "capsule": 0.5}, "allm_soft", 0.03),
    }


def test_spread_counts_the_seeds_and_the_cells():
    runs = three_seeds()
    text = "\n".join(report(runs, "sbi"))
    # sbi is the highest single detector in seeds 1 and 3
    assert "| sbi | 0.800 | 0.600 | 0.800 | 0.900 | 2 of 3 |" in text
    assert "| xception | 0.700 | 0.600 | 0.700 | 0.750 | 1 of 3 |" in text
    # sbi minus the best supervised member: +0.1, -0.15, +0.3
    assert "+0.100, -0.150, +0.100, +0.300 (seed, min, median, max)" in text
    rows = {
        line.split(" | ")[0].strip("| "): line.split(" | ")
        for line in text.splitlines()
        if line.startswith("| all")
    }
    # the member ensemble: better in one cell of seeds 1 and 3, chosen on
    # validation where its mean validation AUC is the higher (seeds 1, 3)
    assert rows["allm_soft"][1] == "all five"
    assert rows["allm_soft"][-3:] == ["2", "0", "2 |"]
    assert rows["all_soft"][1] == "study's four"
    assert rows["all_soft"][-3:] == ["0", "0", "1 |"]


def test_answer_sums_the_tested_cells_of_both_kinds_of_ensemble():
    first, tests = answer(three_seeds(), "sbi")
    assert "single detectors in 2 of 3" in first
    assert "median +0.100 (from -0.150 to +0.300)" in first
    assert (
        "over the study's four: better than their best member in 0, worse in 0 of 6"
        in tests
    )
    assert "over all five: better than their best member in 2, worse in 0 of 6" in tests
