import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as student_t
from sklearn.metrics import roc_auc_score

from deepfake_ensemble.errors import InputError
from deepfake_ensemble.evaluate.stats import (
    bell_mccaffrey_df,
    bootstrap_auc_ci,
    cluster_bootstrap_aucs,
    compare_to_best,
    dataset_of,
    delong_covariance,
    delong_test,
    detectable_difference,
    effective_groups,
    group_shares,
    grouped_auc_jackknife,
    grouped_df,
    grouped_test,
    holm,
    holm_matched_interval,
    per_dataset_metrics,
    per_dataset_table,
    power_at,
    verdict_of,
    wild_cluster_test,
)
from deepfake_ensemble.ingest.synthetic import clustered_scores

# pROC's example data set ``aSAH`` (Turck et al. 2010, Intensive Care Medicine
# 36(1):107-115; shipped with the R package pROC): 113 patients, outcome
# Poor = 1 (41) / Good = 0, and three predictors. pROC's own test suite
# (tests/testthat/test-roc.test.R and test-var.R) records the DeLong results
# checked below.
ASAH_POOR = [
    0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0,
    0, 0, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 1, 0, 0, 0,
    0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0,
    0,
]  # fmt: skip
ASAH_WFNS = [
    1, 1, 1, 1, 3, 2, 5, 4, 1, 2, 5, 2, 5, 5, 1, 2, 5, 2, 2, 5, 2, 1, 1, 1, 1, 2, 1, 2,
    1, 1, 3, 4, 2, 1, 4, 5, 4, 1, 4, 2, 5, 5, 1, 1, 2, 4, 1, 1, 2, 5, 5, 2, 1, 2, 5, 1,
    2, 2, 2, 1, 5, 1, 1, 2, 5, 2, 1, 4, 5, 2, 4, 4, 1, 4, 1, 2, 1, 4, 2, 1, 2, 3, 2, 4,
    2, 1, 4, 5, 1, 1, 5, 4, 2, 2, 1, 1, 1, 3, 1, 2, 5, 2, 2, 5, 5, 5, 2, 4, 4, 5, 1, 1,
    1,
]  # fmt: skip
ASAH_S100B = [
    0.13, 0.14, 0.1, 0.04, 0.13, 0.1, 0.47, 0.16, 0.18, 0.1, 0.12, 0.1, 0.44, 0.71,
    0.04, 0.08, 0.49, 0.04, 0.07, 0.33, 0.09, 0.09, 0.07, 0.11, 0.07, 0.17, 0.07, 0.11,
    0.13, 0.19, 0.05, 0.16, 0.41, 0.14, 0.34, 0.35, 0.48, 0.09, 0.96, 0.25, 0.5, 0.46,
    0.16, 0.07, 0.43, 0.45, 0.11, 0.08, 0.09, 0.86, 0.52, 0.08, 0.06, 0.13, 2.07, 0.1,
    0.14, 0.15, 0.07, 0.06, 0.77, 0.05, 0.09, 0.3, 0.03, 0.09, 0.04, 0.23, 0.7, 0.09,
    0.27, 0.71, 0.08, 0.26, 0.08, 0.16, 0.09, 0.13, 0.1, 0.08, 0.11, 0.33, 0.11, 0.28,
    0.07, 0.1, 0.32, 0.22, 0.07, 0.05, 0.24, 0.38, 0.1, 0.15, 0.08, 0.14, 0.1, 0.07,
    0.04, 0.19, 0.56, 0.14, 0.58, 0.32, 0.82, 0.74, 0.15, 0.47, 0.17, 0.44, 0.15, 0.5,
    0.48,
]  # fmt: skip
ASAH_NDKA = [
    3.01, 8.54, 8.09, 10.42, 17.4, 12.75, 6.0, 13.2, 15.54, 6.01, 15.96, 17.86, 5.18,
    8.9, 13.41, 20.75, 11.6, 16.11, 32.37, 54.82, 32.41, 49.94, 40.34, 9.47, 6.29,
    12.53, 6.54, 6.3, 80.3, 12.8, 9.8, 9.81, 9.85, 18.21, 5.03, 14.04, 21.93, 8.02,
    7.42, 8.38, 6.59, 9.63, 13.12, 7.96, 14.34, 41.43, 7.63, 7.06, 12.59, 13.56, 3.87,
    9.44, 7.66, 12.98, 419.19, 27.19, 22.27, 9.95, 21.22, 11.73, 10.4, 58.83, 6.39,
    11.09, 12.22, 13.67, 17.21, 22.63, 12.9, 9.7, 21.57, 8.23, 72.57, 15.54, 10.51,
    10.6, 14.57, 5.19, 9.63, 4.61, 21.48, 17.3, 12.71, 9.44, 11.07, 19.46, 10.83, 5.37,
    11.97, 7.75, 9.83, 10.55, 28.49, 8.53, 12.57, 12.9, 46.83, 11.68, 12.67, 9.01, 9.57,
    34.06, 11.72, 14.26, 47.61, 11.67, 24.58, 10.33, 13.87, 15.89, 22.43, 6.79, 13.45,
]  # fmt: skip


def slow_delong(y, a, b):
    """DeLong 1988 by explicit pairwise comparisons (psi = 1, 1/2, 0)."""
    y = np.asarray(y)
    comps = []
    for s in (np.asarray(a, float), np.asarray(b, float)):
        pos, neg = s[y == 1], s[y == 0]
        psi = np.zeros((pos.size, neg.size))
        for i, x in enumerate(pos):
            for j, z in enumerate(neg):
                psi[i, j] = 1.0 if x > z else (0.5 if x == z else 0.0)
        comps.append((psi.mean(), psi.mean(axis=1), psi.mean(axis=0)))
    (auc_a, v10a, v01a), (auc_b, v10b, v01b) = comps
    m, n = v10a.size, v01a.size
    s10 = np.cov(np.vstack([v10a, v10b]))
    s01 = np.cov(np.vstack([v01a, v01b]))
    cov = s10 / m + s01 / n
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    z = (auc_a - auc_b) / math.sqrt(var)
    return auc_a, auc_b, z, cov


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_delong_equals_pairwise_reference_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 61)
    y[:2] = [0, 1]
    a = np.round(0.4 * y + rng.random(61), 1)  # coarse: many ties
    b = np.round(0.2 * y + rng.random(61), 2)
    auc_a, auc_b, z, p = delong_test(y, a, b)
    ref_a, ref_b, ref_z, ref_cov = slow_delong(y, a, b)
    assert auc_a == pytest.approx(ref_a, abs=1e-12)
    assert auc_b == pytest.approx(roc_auc_score(y, b), abs=1e-12)
    assert auc_b == pytest.approx(ref_b, abs=1e-12)
    assert z == pytest.approx(ref_z, rel=1e-9)
    assert p == pytest.approx(2 * (1 - 0.5 * (1 + math.erf(abs(ref_z) / 2**0.5))))
    _, cov = delong_covariance(y, np.vstack([a, b]))
    np.testing.assert_allclose(cov, ref_cov, rtol=1e-9)


def test_delong_reproduces_proc_on_asah():
    y = ASAH_POOR
    assert (len(y), sum(y)) == (113, 41)
    # pROC: roc.test(r.wfns, r.s100b) -> Z = 2.20898359144091, p = 0.0271757822291882
    auc_w, auc_s, z, p = delong_test(y, ASAH_WFNS, ASAH_S100B)
    assert auc_w == pytest.approx(0.823678861788618, rel=1e-10)
    assert auc_s == pytest.approx(0.731368563685637, rel=1e-10)
    assert z == pytest.approx(2.20898359144091, rel=1e-10)
    assert p == pytest.approx(0.0271757822291882, rel=1e-9)
    # roc.test(r.wfns, r.ndka) -> Z = 2.79777591868904, p = 0.00514557970691098
    _, _, z, p = delong_test(y, ASAH_WFNS, ASAH_NDKA)
    assert z == pytest.approx(2.79777591868904, rel=1e-10)
    assert p == pytest.approx(0.00514557970691098, rel=1e-9)
    # roc.test(r.ndka, r.s100b) -> Z = -1.39077002573558
    _, _, z, _ = delong_test(y, ASAH_NDKA, ASAH_S100B)
    assert z == pytest.approx(-1.39077002573558, rel=1e-10)
    # var(r.wfns), var(r.ndka), var(r.s100b) with the DeLong method
    _, cov = delong_covariance(y, np.vstack([ASAH_WFNS, ASAH_NDKA, ASAH_S100B]))
    np.testing.assert_allclose(
        np.diag(cov),
        [0.00146991470882363, 0.0031908105493913, 0.00266868245717244],
        rtol=1e-10,
    )


def test_delong_identical_scores_and_bad_input():
    y = [0, 0, 1, 1, 0, 1]
    s = [0.1, 0.4, 0.35, 0.8, 0.2, 0.9]
    assert delong_test(y, s, s)[2:] == (0.0, 1.0)
    with pytest.raises(InputError, match="both"):
        delong_test([1, 1, 1], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])
    with pytest.raises(InputError):
        delong_test([0, 1, 1], [0.1, 0.2], [0.3, 0.2])


def frame_table(n_videos=40, n_frames=3, strength=1.0, seed=0, prefix="demo"):
    rng = np.random.default_rng(seed)
    rows = []
    for v in range(n_videos):
        y = v % 2
        base = rng.normal(strength * y, 1.0)
        for f in range(n_frames):
            z = base + rng.normal(0, 0.5)
            rows.append((f"{prefix}/v{v:03d}", f, y, 1 / (1 + math.exp(-z))))
    return pd.DataFrame(rows, columns=["video_id", "frame_index", "label", "score"])


def test_bootstrap_ci_contains_estimate_and_is_deterministic():
    df = frame_table()
    args = (df["video_id"], df["label"], df["score"])
    lo, hi, n_valid = bootstrap_auc_ci(*args, n=300, seed=1, level="frame")
    assert n_valid == 300
    assert lo <= roc_auc_score(df["label"], df["score"]) <= hi
    assert bootstrap_auc_ci(*args, n=300, seed=1, level="frame") == (lo, hi, 300)
    assert bootstrap_auc_ci(*args, n=300, seed=2, level="frame") != (lo, hi, 300)
    vlo, vhi, _ = bootstrap_auc_ci(*args, n=300, seed=1, level="video")
    v = df.groupby("video_id").agg(label=("label", "first"), score=("score", "mean"))
    assert vlo <= roc_auc_score(v["label"], v["score"]) <= vhi
    with pytest.raises(ValueError):
        bootstrap_auc_ci(*args, n=10, level="clip")


def test_frame_bootstrap_resamples_whole_videos():
    # every frame of a video has its video's score: resampling videos makes
    # the frame-level interval equal the video-level one; resampling frames
    # one by one would not
    df = frame_table(n_videos=30, n_frames=4)
    df["score"] = df.groupby("video_id")["score"].transform("mean")
    args = (df["video_id"], df["label"], df["score"])
    frame = bootstrap_auc_ci(*args, n=200, seed=4, level="frame")
    video = bootstrap_auc_ci(*args, n=200, seed=4, level="video")
    assert frame == pytest.approx(video)


def test_bootstrap_skips_one_class_resamples():
    df = frame_table(n_videos=12, n_frames=1)
    df["label"] = 0
    df.loc[0, "label"] = 1  # one fake video: most resamples miss it
    lo, hi, n_valid = bootstrap_auc_ci(df["video_id"], df["label"], df["score"], 200)
    assert 0 < n_valid < 200
    assert 0 <= lo <= hi <= 1
    df["label"] = 0
    assert bootstrap_auc_ci(df["video_id"], df["label"], df["score"], 20) == (
        None,
        None,
        0,
    )


def videos_of(df):
    return (
        df.groupby("video_id", as_index=False)
        .agg(label=("label", "first"), score=("score", "mean"))
        .sort_values("video_id")
    )


def test_compare_to_best_verdicts():
    weak = videos_of(frame_table(n_videos=80, strength=0.5, seed=1))
    strong = weak.copy()
    strong["score"] = np.where(strong["label"] == 1, 0.9, 0.1)  # perfect
    c = compare_to_best("all_soft", strong, "xception", weak, n_boot=100)
    assert c["verdict"] == "better" and c["p"] < 0.05
    assert c["auc"] == pytest.approx(1.0)
    assert c["sentence"].startswith("all_soft: video AUC 1.000 [")
    assert "vs best single xception" in c["sentence"]
    assert "DeLong p = " in c["sentence"] and c["sentence"].endswith("better.")
    assert "grouped p = " in c["sentence"] and "intervals overlap" not in c["sentence"]
    same = compare_to_best("twin", weak, "xception", weak, n_boot=50)
    assert same["verdict"] == "no significant difference" and same["p"] == 1.0
    assert same["p_grouped"] == 1.0 and same["diff"] == 0.0
    worse = compare_to_best("bad", weak, "oracle", strong, n_boot=50)
    assert worse["verdict"] == "worse"
    flipped = weak.assign(label=1 - weak["label"])
    with pytest.raises(InputError, match="disagree on the label"):
        compare_to_best("x", flipped, "y", weak, n_boot=10)


def test_per_dataset_breakdown():
    df = pd.concat(
        [
            frame_table(n_videos=6, prefix="celebdf"),
            frame_table(n_videos=4, n_frames=2, prefix="dfdc", seed=3),
        ]
    )
    assert dataset_of("celebdf/Celeb-real/id0_0000") == "celebdf"
    out = per_dataset_metrics(df)
    assert list(out["dataset"]) == ["celebdf", "dfdc"]
    assert list(out["n_videos"]) == [6, 4]
    assert list(out["n_frames"]) == [18, 8]
    assert (out[["tn", "fp", "fn", "tp"]].sum(axis=1) == out["n_videos"]).all()
    table = per_dataset_table({"a": df, "b": df})
    assert list(table.columns[:2]) == ["name", "dataset"] and len(table) == 4


def test_bootstrap_equals_a_plain_resampling_loop():
    # the documented scheme, replayed with scikit-learn on duplicated rows
    df = frame_table(n_videos=15, n_frames=3, seed=5)
    df["score"] = df["score"].round(1)  # ties across videos
    n, seed = 40, 9
    lo, hi, n_valid = bootstrap_auc_ci(
        df["video_id"], df["label"], df["score"], n=n, seed=seed, level="frame"
    )
    videos = sorted(df["video_id"].unique())
    draws = np.random.default_rng(seed).integers(0, len(videos), (n, len(videos)))
    aucs = []
    for row in draws:
        parts = [df[df["video_id"] == videos[i]] for i in row]
        sample = pd.concat(parts)
        if sample["label"].nunique() == 2:
            aucs.append(roc_auc_score(sample["label"], sample["score"]))
    assert n_valid == len(aucs)
    assert (lo, hi) == pytest.approx(tuple(np.quantile(aucs, [0.025, 0.975])))


def test_one_class_comparison_reports_none():
    # an undefined AUC is None in every field, never NaN
    fakes = videos_of(frame_table(n_videos=10, seed=2)).assign(label=1)
    c = compare_to_best("all_soft", fakes, "xception", fakes, n_boot=20)
    assert c["verdict"] == "not comparable" and c["n_videos"] == 10
    for key in ("auc", "ci_lo", "ci_hi", "best_auc", "z", "p", "p_grouped", "diff"):
        assert c[key] is None
    assert "undefined" in c["sentence"] and "nan" not in c["sentence"].lower()


# ------------------------------------------------------- grouped inference


def test_leave_one_group_out_aucs_equal_a_refit():
    rng = np.random.default_rng(11)
    for _ in range(10):
        y = rng.integers(0, 2, 90)
        s = np.round(rng.random((2, 90)), 1)  # many ties, within and across groups
        g = rng.integers(0, 7, 90).astype(str)
        jk = grouped_auc_jackknife(y, s, g)
        assert list(jk["groups"]) == sorted(set(g)) and jk["n_groups"] == 7
        for r in range(2):
            assert jk["aucs"][r] == pytest.approx(roc_auc_score(y, s[r]))
            for i, name in enumerate(jk["groups"]):
                keep = g != name
                assert jk["loo"][r, i] == pytest.approx(
                    roc_auc_score(y[keep], s[r][keep])
                )


def test_grouped_test_by_hand_and_with_singleton_groups():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 120)
    a = y + rng.normal(0, 1, 120)
    b = y + rng.normal(0, 1.4, 120)
    g = np.repeat(np.arange(8), 15)
    res = grouped_test(y, a, b, g)
    d = []
    for i in range(8):
        keep = g != i
        d.append(roc_auc_score(y[keep], a[keep]) - roc_auc_score(y[keep], b[keep]))
    d = np.array(d)
    se = math.sqrt(7 / 8 * ((d - d.mean()) ** 2).sum())
    from scipy.stats import t

    assert res["se"] == pytest.approx(se)
    # 8 groups of 15, their class balance a little unequal: nearly 7 df
    df = grouped_df(group_shares(y, g))
    assert res["df"] == df and 6.9 < df < 7 and res["n_groups"] == 8
    assert res["p"] == pytest.approx(2 * t.sf(abs(res["diff"] / se), df))
    assert res["diff_ci_lo"] < res["diff"] < res["diff_ci_hi"]
    # one video a group: the ordinary jackknife, close to DeLong
    single = grouped_test(y, a, b, np.arange(120))
    assert single["p"] == pytest.approx(delong_test(y, a, b)[3], abs=0.02)
    # a group holding every fake: deleting it leaves one class, no test
    g2 = np.where(y == 1, 0, 1 + np.arange(120) % 3)
    assert grouped_test(y, a, b, g2)["p"] is None
    assert grouped_test(y, a, a, g)["p"] == 1.0


@pytest.mark.parametrize(
    "n_groups, per_group, big_share",
    [(6, 60, None), (30, 30, 0.4)],
    ids=["6 equal", "30 one at 40%"],
)
def test_grouped_test_keeps_its_size_on_clustered_data(n_groups, per_group, big_share):
    """Two detectors of equal true AUC with per-group score shifts (80%
    fakes), 6 equal groups or 30 with one holding 40% of the videos (where
    K - 1 degrees of freedom reject about 7%): over 600 seeded simulations
    the grouped test rejects at 0.05 within [0.02, 0.08] (0.05 +- 3.4
    binomial standard errors), plain DeLong above it (above 0.10 with equal
    groups)."""
    n_sims = 600
    delong = grouped = 0
    for seed in range(n_sims):
        y, a, b, g = clustered_scores(
            seed, n_groups, 360 // n_groups, fake_share=0.8, big_share=big_share
        )
        delong += delong_test(y, a, b)[3] < 0.05
        grouped += grouped_test(y, a, b, g)["p"] < 0.05
    assert 0.02 <= grouped / n_sims <= 0.08
    assert delong > grouped and (big_share or delong / n_sims > 0.10)


def test_wild_cluster_test_refers_the_jackknife_t_to_a_bootstrap():
    """The jackknife t of grouped_test, its p-value from a seeded wild
    cluster bootstrap: (1 + count) / (1 + draws), every Webb vector where
    there are no more than the draws; no test where grouped_test has none."""
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, 120)
    a = y + rng.normal(0, 1, 120)
    b = 0.6 * y + rng.normal(0, 1, 120)
    g = np.repeat(np.arange(8), 15)
    t, p = wild_cluster_test(y, a, b, g, n_boot=999)
    assert t == pytest.approx(grouped_test(y, a, b, g)["t"])
    assert (t, p) == wild_cluster_test(y, a, b, g, n_boot=999)  # seeded
    assert 0 < p < 0.2 and p * 1000 == pytest.approx(round(p * 1000))
    # 3 groups: all 6**3 = 216 Webb vectors, whatever the seed
    g3 = np.repeat(np.arange(3), 40)
    _, p3 = wild_cluster_test(y, a, b, g3, n_boot=999)
    assert p3 == wild_cluster_test(y, a, b, g3, n_boot=999, seed=9)[1]
    assert p3 * 217 == pytest.approx(round(p3 * 217))
    _, p_signs = wild_cluster_test(y, a, b, g3, weights="rademacher")
    assert p_signs * 9 == pytest.approx(round(p_signs * 9))  # 8 sign vectors
    # one video a group: close to the t-test
    _, p1 = wild_cluster_test(y, a, b, np.arange(120))
    assert p1 == pytest.approx(grouped_test(y, a, b, np.arange(120))["p"], abs=0.01)
    g2 = np.where(y == 1, 0, 1 + np.arange(120) % 3)  # deleting group 0: no fakes
    assert wild_cluster_test(y, a, b, g2) == (None, None)
    assert wild_cluster_test(y, a, a, g) == (0.0, 1.0)
    with pytest.raises(InputError, match="weights"):
        wild_cluster_test(y, a, b, g, weights="mammen")


def test_degrees_of_freedom_follow_the_balance_of_the_groups():
    equal = np.full(12, 1 / 12)
    assert bell_mccaffrey_df(equal) == pytest.approx(11)
    assert grouped_df(equal) == pytest.approx(11)
    assert effective_groups(equal) == pytest.approx(12)
    big = np.r_[0.4, np.full(29, 0.6 / 29)]
    assert bell_mccaffrey_df(big) < grouped_df(big) < 29
    assert effective_groups(big) == pytest.approx(1 / (0.16 + 29 * (0.6 / 29) ** 2))
    # shares: half the fakes' share and half the reals'
    y = np.array([1, 1, 1, 0, 1, 0])
    g = np.array(["a", "a", "a", "a", "b", "b"])
    assert group_shares(y, g) == pytest.approx(
        [(3 / 4 + 1 / 2) / 2, (1 / 4 + 1 / 2) / 2]
    )


def test_holm_matched_intervals_exclude_zero_exactly_when_holm_rejects():
    rng = np.random.default_rng(3)
    for _ in range(300):
        m = int(rng.integers(1, 10))
        diff = rng.normal(0, 0.05, m)
        se = rng.uniform(0.005, 0.05, m)
        df = rng.uniform(2, 30, m)
        p = 2 * student_t.sf(np.abs(diff / se), df)
        for d, s, f, p_raw, p_adj in zip(diff, se, df, p, holm(p), strict=True):
            lo, hi, level = holm_matched_interval(d, s, f, p_raw, p_adj, 0.05)
            assert 0.95 <= level < 1
            assert (lo > 0 or hi < 0) == (p_adj < 0.05), (d, s, f, p_raw, p_adj)
    assert holm_matched_interval(0.1, None, 5, 0.01, 0.02) == (None, None, None)


def test_power_and_detectable_difference_agree_with_a_simulation():
    se, df, level = 0.02, 8.0, 0.05 / 6
    mdd = detectable_difference(se, df, level, 0.8)
    assert power_at(mdd, se, df, level) == pytest.approx(0.8, abs=1e-6)
    assert power_at(0.0, se, df, level) == pytest.approx(level)
    # the t-test's rejection rate when the estimate is N(delta, se) and its
    # standard error an independent se * sqrt(chi2_df / df)
    rng = np.random.default_rng(0)
    est = rng.normal(0.05, se, 200_000)
    sd = se * np.sqrt(rng.chisquare(df, est.size) / df)
    crit = student_t.ppf(1 - level / 2, df)
    assert np.mean(np.abs(est / sd) > crit) == pytest.approx(
        power_at(0.05, se, df, level), abs=0.005
    )
    assert power_at(0.05, None, df, level) is None


def test_verdicts_say_inconclusive_when_power_is_low():
    assert verdict_of(0.01, 0.1) == "better" and verdict_of(0.01, -0.1) == "worse"
    assert verdict_of(0.3, 0.02, power=0.9) == "no significant difference"
    assert verdict_of(0.3, 0.02, power=0.3) == "inconclusive"
    assert verdict_of(0.3, 0.02, power=0.3, target_power=0) == (
        "no significant difference"
    )
    assert verdict_of(None, 0.02, power=0.9) == "not testable"


def test_holm_adjustment():
    assert holm([0.01, None, 0.04, 0.03]) == pytest.approx([0.03, None, 0.06, 0.06])
    assert holm([]) == [] and holm([None]) == [None]
    assert holm([0.2, 0.9]) == pytest.approx([0.4, 0.9])
    assert holm([0.5, 0.9]) == [1.0, 1.0]  # monotone, capped at 1
    assert holm([0.6, 0.7, 0.8])[0] == 1.0


def test_cluster_bootstrap_equals_a_group_resampling_loop():
    df = frame_table(n_videos=16, n_frames=2, seed=6)
    df["score"] = df["score"].round(1)
    groups = df["video_id"].str[-3:].astype(int) // 3  # 6 groups of videos
    n, seed = 30, 4
    aucs = cluster_bootstrap_aucs(
        df["video_id"], df["label"], df["score"], n, seed, "frame", groups
    )
    names = sorted(set(groups.astype(str)))
    draws = np.random.default_rng(seed).integers(0, len(names), (n, len(names)))
    for b, row in enumerate(draws):
        sample = pd.concat([df[groups.astype(str) == names[i]] for i in row])
        if sample["label"].nunique() == 2:
            ref = roc_auc_score(sample["label"], sample["score"])
            assert aucs[b] == pytest.approx(ref)
        else:
            assert np.isnan(aucs[b])
    # paired: another detector on the same groups gets the same draws
    lo, hi, _ = bootstrap_auc_ci(
        df["video_id"], df["label"], df["score"], n, seed, "frame", 0.05, groups
    )
    valid = aucs[np.isfinite(aucs)]
    assert (lo, hi) == pytest.approx(tuple(np.quantile(valid, [0.025, 0.975])))


def test_compare_to_best_uses_groups():
    weak = videos_of(frame_table(n_videos=60, strength=0.8, seed=3))
    other = weak.assign(score=weak["score"].sample(frac=1, random_state=1).to_numpy())
    grouped = [w.assign(group=[f"g{i % 5}" for i in range(60)]) for w in (weak, other)]
    c = compare_to_best("x", grouped[1], "best", grouped[0], n_boot=50)
    assert c["n_groups"] == 5 and c["df"] == pytest.approx(4)
    assert c["p_grouped"] is not None and c["p"] is not None
    plain = compare_to_best("x", other, "best", weak, n_boot=50)
    assert plain["n_groups"] == 60
    bad = grouped[1].assign(group="elsewhere")
    with pytest.raises(InputError, match="group"):
        compare_to_best("x", bad, "best", grouped[0], n_boot=10)
