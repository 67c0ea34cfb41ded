"""The robustness table and the test of "is the ensemble's drop smaller than
its best member's?" (evaluate/robustness.py, stats.grouped_contrast_test)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import CI_CONFIG, ROOT, demo_threads, shared_run, snakemake
from sklearn.metrics import roc_auc_score

from deepfake_ensemble.defaults import DEFAULTS
from deepfake_ensemble.errors import InputError
from deepfake_ensemble.evaluate import robustness as r
from deepfake_ensemble.evaluate.stats import grouped_contrast_test, grouped_test
from deepfake_ensemble.layout import CLEAN, PERTURBATIONS, robustness_conditions
from deepfake_ensemble.preprocess.perturb import LEVELS


def test_the_perturbation_names_agree_everywhere():
    assert tuple(LEVELS) == PERTURBATIONS
    assert set(DEFAULTS["evaluation.robustness.perturbations"]) <= set(PERTURBATIONS)
    cfg = {"perturbations": ["jpeg", "blur"], "severities": [1, 5]}
    assert robustness_conditions(cfg) == ["jpeg-1", "jpeg-5", "blur-1", "blur-5"]
    with pytest.raises(InputError, match="'fog' is not one of"):
        robustness_conditions({"perturbations": ["fog"], "severities": [1]})


def test_a_contrast_of_aucs_is_jackknifed_over_groups_by_hand():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 160)
    g = np.repeat(np.arange(8), 20)
    rows = np.vstack([y + rng.normal(0, s, 160) for s in (0.8, 1.0, 1.5, 1.2)])
    w = np.array([-1.0, 1.0, 1.0, -1.0])
    res = grouped_contrast_test(y, rows, w, g)
    auc = lambda keep: np.array([roc_auc_score(y[keep], s[keep]) for s in rows])  # noqa: E731
    assert res["diff"] == pytest.approx(w @ auc(np.ones(160, bool)))
    d = np.array([w @ auc(g != i) for i in range(8)])
    assert res["se"] == pytest.approx(math.sqrt(7 / 8 * ((d - d.mean()) ** 2).sum()))
    assert res["diff_ci_lo"] < res["diff"] < res["diff_ci_hi"]
    # (1, -1) is the paired test of two AUCs
    pair = grouped_contrast_test(y, rows[:2], [1, -1], g)
    plain = grouped_test(y, rows[0], rows[1], g)
    assert pair["p"] == plain["p"] and pair["diff"] == plain["diff"]
    assert pair["aucs"] == [plain["auc_a"], plain["auc_b"]]
    with pytest.raises(InputError, match="3 contrast weights for 4 AUCs"):
        grouped_contrast_test(y, rows, [1, 1, 1], g)


def _tables(seed: int, ens_noise: float, member_noise: float, n_groups: int = 30):
    """Video tables of an ensemble and a member, clean and under one
    condition in which each loses signal (more noise: a larger drop)."""
    rng = np.random.default_rng(seed)
    n = n_groups * 8
    y = np.tile([0, 1], n // 2)
    groups = np.repeat([f"g{i:02d}" for i in range(n_groups)], 8)
    ids = [f"v{i:04d}" for i in range(n)]
    signal = y * 2.0
    out = {}
    for name, noise in (("ens", ens_noise), ("mem", member_noise)):
        base = signal + rng.normal(0, 1, n)
        out[(CLEAN, name)] = pd.DataFrame(
            {"video_id": ids, "label": y, "group": groups, "score": base}
        )
        out[("blur-3", name)] = out[(CLEAN, name)].assign(
            score=base + rng.normal(0, noise, n)
        )
    return out


def test_an_ensemble_that_degrades_less_is_better_and_one_that_does_not_is_not():
    ev = {"alpha": 0.05, "relevant_difference": 0.05, "target_power": 0.8}
    less = r.drop_comparisons(_tables(1, 0.2, 4.0), "ens", "mem", ["blur-3"], ev)
    assert list(less["condition"]) == [r.MEAN, "blur-3"]
    m = less.iloc[0]
    assert m["member_drop"] > m["ensemble_drop"] > -0.05
    assert m["gain"] == pytest.approx(m["member_drop"] - m["ensemble_drop"])
    assert m["verdict"] == "better" and m["gain_ci_lo"] > 0
    more = r.drop_comparisons(_tables(1, 4.0, 0.2), "ens", "mem", ["blur-3"], ev)
    assert more.iloc[0]["verdict"] == "worse"
    same = r.drop_comparisons(_tables(2, 1.0, 1.0), "ens", "mem", ["blur-3"], ev)
    assert same.iloc[0]["verdict"] in {"inconclusive", "no significant difference"}
    assert "**yes**" in r.answer(less) and "**no**" in r.answer(more)


def test_the_table_drop_summary_and_figure(tmp_path):
    rows = []
    for name, kind, aucs in (
        ("a", "single", [0.9, 0.8, 0.6]),
        ("b", "single", [0.8, 0.79, 0.78]),
        ("e", "ensemble", [0.92, 0.85, 0.7]),
    ):
        for cond, auc in zip([CLEAN, "blur-1", "blur-5"], aucs, strict=True):
            rows.append(
                {"test_set": cond, "name": name, "kind": kind, "members": name,
                 "video_auc": auc, "video_auc_ci_lo": auc - 0.1,
                 "video_auc_ci_hi": min(auc + 0.05, 1), "n_videos": 10,
                 "n_groups": 4, "n_no_face": 0, "val_video_auc": 0.8}
            )  # fmt: skip
    table = r.robustness_table(pd.DataFrame(rows))
    blur5 = table[(table["name"] == "a") & (table["condition"] == "blur-5")].iloc[0]
    assert blur5["perturbation"] == "blur" and blur5["severity"] == 5
    assert blur5["drop"] == pytest.approx(0.3)
    drops = r.drop_summary(table)
    assert list(drops["name"]) == ["b", "e", "a"]  # smallest mean drop first
    a = drops[drops["name"] == "a"].iloc[0]
    assert a["mean_drop"] == pytest.approx(0.2) and a["worst_condition"] == "blur-5"
    png = tmp_path / "robustness.png"
    r.plot_robustness(table, png, highlight=("e", "a"))
    assert png.stat().st_size > 5000


# ------------------------------------------ end to end over the local CI run

ROBUST_OVERLAY = {
    "evaluation": {
        "robustness": {
            "enabled": True,
            "perturbations": ["jpeg", "blur"],
            "severities": [5],
        }
    }
}
ROBUST_RULES = {
    "degrade_test",
    "robust_preprocess",
    "robust_shards",
    "robust_predict",
    "robustness",
    "all",
}


def _add_robustness(local_run: Path):
    """A copy of the local CI run, then the same workflow with the
    robustness stage on (two conditions)."""

    def build(workdir: Path) -> None:
        shutil.copytree(local_run, workdir, symlinks=True, dirs_exist_ok=True)
        overlay = workdir / "robust.yaml"
        overlay.write_text(yaml.safe_dump(ROBUST_OVERLAY))
        result = snakemake(
            workdir,
            "--profile",
            str(ROOT / "profiles" / "default"),
            "--configfile",
            str(CI_CONFIG),
            str(overlay),
            *demo_threads(),
            "--cores",
            "2",
        )
        (workdir / "robust-run.log").write_text(result.stdout + result.stderr)

    return build


@pytest.fixture(scope="module")
def robust_run(request, tmp_path_factory, local_ci_run) -> Path:
    return shared_run(
        request, tmp_path_factory, "robust-run", _add_robustness(local_ci_run)
    )


@pytest.mark.slow
def test_the_stage_scores_degraded_copies_with_the_clean_fits(robust_run, local_ci_run):
    from test_members import jobs_run

    ran = jobs_run((robust_run / "robust-run.log").read_text())
    assert {rule for rule, _ in ran} == ROBUST_RULES, ran
    # the models are those of the clean run: nothing was trained again
    for model in ("capsule", "dsp_fwa", "ictu_oculi", "xception"):
        rel = Path("results/models/pooled") / model / "best.pt"
        assert (robust_run / rel).read_bytes() == (local_ci_run / rel).read_bytes()
    res = robust_run / "results"
    table = pd.read_csv(res / "robustness.csv")
    summary = pd.read_csv(res / "summary.csv").set_index("name")
    names = [n for n in summary.index if "@" not in n]
    assert set(table["name"]) == set(names)
    assert set(table["condition"]) == {CLEAN, "jpeg-5", "blur-5"}
    assert len(table) == 3 * len(names)
    # the clean rows are the summary's: every ensemble applied as fitted
    clean = table[table["condition"] == CLEAN].set_index("name")
    for name in names:
        assert clean.loc[name, "video_auc"] == pytest.approx(
            summary.loc[name, "video_auc"], abs=1e-12
        ), name
    degraded = table[table["condition"] != CLEAN]
    assert (degraded["severity"] == 5).all()
    assert np.allclose(
        degraded["drop"],
        degraded["name"].map(clean["video_auc"]) - degraded["video_auc"],
    )
    assert (degraded["video_auc_ci_lo"] <= degraded["video_auc"]).all()
    # the degraded copies differ from the clean test videos
    split = pd.read_csv(res / "robustness/jpeg-5/test.csv")
    clean_split = pd.read_csv(res / "splits/test.csv")
    assert list(split["video_id"]) == list(clean_split["video_id"])
    copy, source = (robust_run / t["path"].iloc[0] for t in (split, clean_split))
    assert copy.is_file() and copy.read_bytes() != source.read_bytes()
    tests = pd.read_csv(res / "robustness_tests.csv")
    assert list(tests["condition"]) == [r.MEAN, "jpeg-5", "blur-5"]
    drops = pd.read_csv(res / "robustness_drop.csv")
    assert set(drops["name"]) == set(names)
    md = (res / "robustness.md").read_text()
    assert "Is the ensemble's drop smaller than its best member's?" in md
    assert f"is `{tests['ensemble'].iloc[0]}`" in md
    assert (res / "figures/robustness.png").stat().st_size > 10_000


def test_the_stage_needs_the_pooled_protocol(tmp_path):
    overlay = tmp_path / "o.yaml"
    overlay.write_text(
        yaml.safe_dump(
            {
                "evaluation": {
                    "protocol": "cross_dataset",
                    **ROBUST_OVERLAY["evaluation"],
                }
            }
        )
    )
    result = snakemake(
        tmp_path,
        "-n",
        "--configfile",
        str(ROOT / "config" / "demo_cross.yaml"),
        str(overlay),
        check=False,
    )
    assert result.returncode != 0
    assert (
        "evaluation.robustness.enabled needs evaluation.protocol pooled, not "
        "cross_dataset" in result.stdout + result.stderr
    )
