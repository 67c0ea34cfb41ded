import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from deepfake_ensemble.errors import InputError
from deepfake_ensemble.evaluate.ensemble import (
    align,
    auc_rows,
    build_ensemble,
    calibrate,
    crossfit,
    dirichlet_search,
    fit_calibrator,
    group_folds,
    hard_vote,
    hard_vote_tiebreak,
    load_predictions,
    rank_by_validation,
    select_members,
    soft_vote,
    stacked_fit,
    stacked_predict,
    write_ensemble_outputs,
)
from deepfake_ensemble.evaluate.metrics import evaluate
from deepfake_ensemble.evaluate.videos import at_threshold, choose_threshold
from deepfake_ensemble.layout import (
    ALL_ENSEMBLES,
    ENSEMBLE_FILES,
    ENSEMBLES,
    MEMBER_ENSEMBLES,
    MODEL_NAMES,
    ensemble_files,
    ensembles_for,
)

MODELS = ("capsule", "dspfwa", "eyes", "xception")
STRENGTH = {"capsule": 1.0, "dspfwa": 0.3, "eyes": 0.0, "xception": 2.0}


def synthetic(split: str, n_videos: int = 24, n_frames: int = 4, seed: int = 0):
    """Member predictions: model strength sets how far fakes are pushed up."""
    rng = np.random.default_rng(seed)
    vids = [f"demo/{split}_{i:03d}" for i in range(n_videos)]
    labels = np.arange(n_videos) % 2
    out = {}
    for k, model in enumerate(MODELS):
        r = np.random.default_rng(seed * 100 + k)
        rows = []
        for vid, y in zip(vids, labels, strict=True):
            shift = r.normal(0, 0.7)
            for f in range(n_frames):
                z = STRENGTH[model] * (2 * y - 1) + shift + r.normal(0, 0.7)
                rows.append((vid, f * 5, int(y), float(1 / (1 + np.exp(-z)))))
        out[model] = pd.DataFrame(
            rows, columns=["video_id", "frame_index", "label", "score"]
        )
    del rng
    return out


# -------------------------------------------------------------- voting rules


# hand-computed: scores of the members, votes (> 0.5), the study's vote
# fraction, fake? (fraction > 0.5: a tie is real), the tie-broken score
# (votes + mean) / (m + 1) and fake? by it
HARD_VOTE_TABLE_2 = [
    # a,    b,    votes, fraction, fake, tiebreak,        fake
    (0.9, 0.8, 2, 1.0, True, (2 + 0.85) / 3, True),
    (0.9, 0.2, 1, 0.5, False, (1 + 0.55) / 3, True),  # tie: real / fake
    (0.6, 0.3, 1, 0.5, False, (1 + 0.45) / 3, False),
    (0.5, 0.5, 0, 0.0, False, (0 + 0.5) / 3, False),  # 0.5 is no vote
    (0.51, 0.49, 1, 0.5, False, (1 + 0.5) / 3, False),  # exactly 0.5: real
    (0.1, 0.2, 0, 0.0, False, (0 + 0.15) / 3, False),
]
HARD_VOTE_TABLE_4 = [
    ((0.9, 0.8, 0.1, 0.2), 2, 0.5, False, (2 + 0.5) / 5, False),
    ((0.9, 0.9, 0.1, 0.2), 2, 0.5, False, (2 + 0.525) / 5, True),  # tie
    ((0.6, 0.7, 0.9, 0.1), 3, 0.75, True, (3 + 0.575) / 5, True),
    ((0.1, 0.2, 0.3, 0.4), 0, 0.0, False, (0 + 0.25) / 5, False),
    ((0.6, 0.6, 0.6, 0.6), 4, 1.0, True, (4 + 0.6) / 5, True),
    ((0.5, 0.5, 0.5, 0.51), 1, 0.25, False, (1 + 0.5025) / 5, False),
]


def test_hard_vote_is_the_fraction_of_members_voting_fake_2_members():
    s = np.array([row[:2] for row in HARD_VOTE_TABLE_2])
    fraction = np.array([row[3] for row in HARD_VOTE_TABLE_2])
    np.testing.assert_allclose(hard_vote(s), fraction)
    assert list(hard_vote(s) > 0.5) == [row[4] for row in HARD_VOTE_TABLE_2]
    tiebreak = [row[5] for row in HARD_VOTE_TABLE_2]
    np.testing.assert_allclose(hard_vote_tiebreak(s), tiebreak)
    assert list(hard_vote_tiebreak(s) > 0.5) == [r[6] for r in HARD_VOTE_TABLE_2]


def test_hard_vote_is_the_fraction_of_members_voting_fake_4_members():
    s = np.array([row[0] for row in HARD_VOTE_TABLE_4])
    np.testing.assert_allclose(hard_vote(s), [row[2] for row in HARD_VOTE_TABLE_4])
    np.testing.assert_allclose(hard_vote(s) * 4, [row[1] for row in HARD_VOTE_TABLE_4])
    assert list(hard_vote(s) > 0.5) == [row[3] for row in HARD_VOTE_TABLE_4]
    np.testing.assert_allclose(
        hard_vote_tiebreak(s), [row[4] for row in HARD_VOTE_TABLE_4]
    )
    assert list(hard_vote_tiebreak(s) > 0.5) == [row[5] for row in HARD_VOTE_TABLE_4]


@pytest.mark.parametrize("m", [2, 3, 4])
def test_hard_vote_tiebreak_above_half_means_majority(m):
    rng = np.random.default_rng(m)
    s = rng.random((2000, m))
    votes = (s > 0.5).sum(axis=1)
    majority = (votes > m / 2) | ((votes == m / 2) & (s.mean(axis=1) > 0.5))
    h = hard_vote_tiebreak(s)
    assert np.array_equal(h > 0.5, majority)
    assert h.min() >= 0 and h.max() <= 1
    # ordered by votes first
    order = np.argsort(h, kind="stable")
    assert np.all(np.diff(votes[order]) >= 0)
    # the study's vote: a strict majority, ties real
    assert np.array_equal(hard_vote(s) > 0.5, votes > m / 2)


def test_soft_vote_weighted_mean():
    s = np.array([[0.2, 0.8], [1.0, 0.0]])
    np.testing.assert_allclose(soft_vote(s, [1, 3]), [0.65, 0.25])
    np.testing.assert_allclose(soft_vote(s), [0.5, 0.5])
    with pytest.raises(ValueError):
        soft_vote(s, [-1, 2])
    with pytest.raises(ValueError):
        soft_vote(s, [1, 2, 3])


def test_auc_rows_matches_sklearn_with_ties():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 301)
    y[:2] = [0, 1]
    for decimals in (0, 1, 2, 8):
        s = np.round(rng.random((7, y.size)), decimals)
        expected = [roc_auc_score(y, row) for row in s]
        np.testing.assert_allclose(auc_rows(y, s), expected, rtol=0, atol=1e-12)


# ---------------------------------------------------------- Dirichlet search


def test_dirichlet_search_deterministic_and_on_the_simplex():
    preds = synthetic("val")
    s = np.column_stack([preds[m]["score"] for m in MODELS])
    y = preds[MODELS[0]]["label"].to_numpy()
    w1, a1, t1 = dirichlet_search(s, y, n_draws=300, seed=5, names=MODELS)
    w2, a2, t2 = dirichlet_search(s, y, n_draws=300, seed=5, names=MODELS)
    _, _, t3 = dirichlet_search(s, y, n_draws=300, seed=6, names=MODELS)
    np.testing.assert_array_equal(w1, w2)
    assert a1 == a2
    pd.testing.assert_frame_equal(t1, t2)
    assert not t1[list(MODELS)].equals(t3[list(MODELS)])
    assert np.all(w1 >= 0) and w1.sum() == pytest.approx(1)
    np.testing.assert_allclose(t1[list(MODELS)].sum(axis=1), 1)
    np.testing.assert_allclose(t1.loc[0, list(MODELS)], 0.25)  # draw 0: equal
    assert a1 == pytest.approx(roc_auc_score(y, soft_vote(s, w1)))
    assert a1 >= t1["auc"].max() - 1e-9
    assert list(t1.columns) == ["draw", "auc", *MODELS]


def test_dirichlet_search_reaches_a_perfect_member():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 100)
    perfect = np.where(y == 1, 0.6 + 0.4 * rng.random(200), 0.4 * rng.random(200))
    noise = rng.random((200, 3))
    s = np.column_stack([noise[:, 0], perfect, noise[:, 1], noise[:, 2]])
    w, best, _ = dirichlet_search(s, y, n_draws=2000, seed=1)
    assert best == pytest.approx(1.0)
    assert w.argmax() == 1
    assert roc_auc_score(y, soft_vote(s, w)) == pytest.approx(1.0)


def test_dirichlet_search_video_level_uses_video_means():
    preds = synthetic("val", n_videos=30)
    s = np.column_stack([preds[m]["score"] for m in MODELS])
    df = preds[MODELS[0]]
    w, best, trace = dirichlet_search(
        s, df["label"], 200, 1, level="video", video_ids=df["video_id"]
    )
    vid_scores = pd.DataFrame(s @ w).groupby(df["video_id"].to_numpy()).mean()
    vid_labels = df.groupby("video_id")["label"].first()
    assert best == pytest.approx(roc_auc_score(vid_labels, vid_scores[0]))
    with pytest.raises(ValueError):
        dirichlet_search(s, df["label"], 10, level="video")


def test_dirichlet_search_needs_both_classes():
    with pytest.raises(InputError, match="both"):
        dirichlet_search(np.random.rand(10, 2), np.ones(10), 5)


# ------------------------------------------------------------------ stacking


def test_stacked_meta_learner_learns_the_informative_member():
    preds = synthetic("val", n_videos=40)
    s = np.column_stack([preds[m]["score"] for m in MODELS])
    df = preds[MODELS[0]]
    model = stacked_fit(s, df["label"], seed=1, groups=df["video_id"])
    coef = dict(zip(MODELS, model.coef_[0], strict=True))
    assert coef["xception"] > abs(coef["eyes"])
    p = stacked_predict(model, s)
    assert p.min() >= 0 and p.max() <= 1
    assert roc_auc_score(df["label"], p) > 0.9
    again = stacked_predict(stacked_fit(s, df["label"], 1, df["video_id"]), s)
    np.testing.assert_array_equal(p, again)


def test_stacked_fit_with_too_few_videos_still_fits():
    s = np.array([[0.1, 0.2], [0.9, 0.7], [0.2, 0.4], [0.8, 0.9]])
    model = stacked_fit(s, [0, 1, 0, 1], groups=["a", "b", "a", "b"])
    assert stacked_predict(model, s)[1] > stacked_predict(model, s)[0]


# --------------------------------------------------------- member selection

VAL_METRICS = {
    "capsule": {"video_auc": 0.80, "frame_auc": 0.70},
    "dspfwa": {"video_auc": 0.90, "frame_auc": 0.60},
    "eyes": {"video_auc": 0.90, "frame_auc": 0.75},
    "xception": {"video_auc": 0.85, "frame_auc": 0.99},
}
SIZES = {
    "capsule": {"bytes": 3_000_000, "params": 2_800_000},
    "dspfwa": {"bytes": 94_000_000, "params": 23_000_000},
    "eyes": {"bytes": 3_000_000, "params": 2_700_000},
    "xception": {"bytes": 83_000_000, "params": 20_800_000},
}


def test_select_best2_by_validation_video_auc_then_frame_auc():
    members, reason = select_members(VAL_METRICS, SIZES, "best2")
    assert members == ["eyes", "dspfwa"]  # tie at 0.90 broken by frame AUC
    assert "0.9000" in reason and "video AUC" in reason and "xception" in reason


def test_select_small2_by_bytes_then_params():
    members, reason = select_members(VAL_METRICS, SIZES, "small2")
    assert members == ["eyes", "capsule"]  # same bytes: fewer parameters first
    assert "3,000,000 bytes" in reason


def test_select_all_and_unknown_rule():
    members, _ = select_members(VAL_METRICS, SIZES, "all")
    assert members == sorted(MODELS)
    with pytest.raises(ValueError, match="unknown"):
        select_members(VAL_METRICS, SIZES, "best9")
    with pytest.raises(InputError, match="xception"):
        select_members(VAL_METRICS, {"capsule": SIZES["capsule"]}, "small2")


def test_select_best3_takes_the_three_best_on_validation():
    members, reason = select_members(VAL_METRICS, SIZES, "best3")
    assert members == ["eyes", "dspfwa", "xception"]
    assert reason.startswith("three highest validation video AUCs: eyes")
    assert reason.endswith("next: capsule (video AUC 0.8000, frame AUC 0.7000)")
    three = {m: VAL_METRICS[m] for m in ("eyes", "dspfwa")}
    with pytest.raises(InputError, match="at least three models"):
        select_members(three, SIZES, "best3")


def test_the_ensembles_over_every_member_exist_only_beside_declared_members():
    study = ensembles_for("platt")
    # the study's four (or fewer) alone: the ensembles as they were
    assert ensembles_for("platt", MODEL_NAMES) == study == tuple(ENSEMBLES)
    assert ensembles_for("platt", MODEL_NAMES[:3]) == study
    assert not set(study) & set(MEMBER_ENSEMBLES)
    # a declared member beside the study's four: best three and all of five
    five = ensembles_for("platt", [*MODEL_NAMES, "b4"])
    assert five == (*study, *MEMBER_ENSEMBLES)
    # three members: best three would be all three
    three = ensembles_for("none", ["capsule", "xception", "b4"])
    assert [n for n in three if n in MEMBER_ENSEMBLES] == [
        "allm_hard",
        "allm_soft",
        "allm_stacked",
    ]
    assert not any(n.endswith("_calibrated") for n in three)
    assert {ALL_ENSEMBLES[n][1] for n in MEMBER_ENSEMBLES} == {
        "hard",
        "soft",
        "stacked",
    }


@pytest.mark.parametrize("undefined", [None, math.nan, np.float64("nan")])
def test_best2_treats_undefined_auc_as_worst(undefined):
    # None is how metrics spell an undefined AUC; NaN (a pandas cell) too
    metrics = {
        **VAL_METRICS,
        "dspfwa": {"video_auc": undefined, "frame_auc": undefined},
    }
    members, reason = select_members(metrics, SIZES, "best2")
    assert members == ["eyes", "xception"]
    assert "dspfwa (video AUC n/a, frame AUC n/a)" in reason
    assert rank_by_validation(metrics)[-1] == "dspfwa"


# ------------------------------------------------------------------ aligning


def test_align_joins_and_counts_missing_frames():
    preds = synthetic("test", n_videos=6, n_frames=3)
    a = preds["capsule"]
    b = preds["xception"].drop(index=[0, 4]).sample(frac=1, random_state=1)
    al, stats = align({"capsule": a, "xception": b})
    assert list(al.columns) == [
        "video_id",
        "frame_index",
        "label",
        "capsule",
        "xception",
    ]
    assert stats["n_union"] == 18
    assert stats["n_aligned"] == 16 and stats["n_dropped"] == 2
    assert stats["missing_per_model"] == {"capsule": 0, "xception": 2}
    # scores stay attached to their own (video, frame): nothing shifted
    check = al.merge(preds["xception"], on=["video_id", "frame_index"])
    np.testing.assert_array_equal(check["xception"], check["score"])
    assert al["video_id"].is_monotonic_increasing
    with pytest.raises(InputError, match="missing from the predictions of xception"):
        align({"capsule": a, "xception": b}, how="strict")


def test_align_refuses_label_disagreement():
    preds = synthetic("test", n_videos=4, n_frames=2)
    b = preds["eyes"].copy()
    b.loc[3, "label"] = 1 - b.loc[3, "label"]
    with pytest.raises(InputError) as err:
        align({"capsule": preds["capsule"], "eyes": b})
    msg = str(err.value)
    assert b.loc[3, "video_id"] in msg and "frame 5" in msg
    assert "capsule=" in msg and "eyes=" in msg


def test_align_refuses_predictions_of_different_splits():
    val = synthetic("val", n_videos=6)["capsule"]
    test = synthetic("test", n_videos=6)["eyes"]
    with pytest.raises(InputError, match="capsule and eyes do not describe the same"):
        align({"capsule": val, "eyes": test})


def test_load_predictions_checks_files(tmp_path):
    preds = synthetic("test", n_videos=4, n_frames=2)
    good = tmp_path / "good.csv"
    preds["capsule"].to_csv(good, index=False)
    loaded = load_predictions({"capsule": good})
    pd.testing.assert_frame_equal(loaded["capsule"], preds["capsule"])

    dup = tmp_path / "dup.csv"
    pd.concat([preds["capsule"], preds["capsule"].iloc[[2]]]).to_csv(dup, index=False)
    with pytest.raises(InputError, match=r"dup\.csv.*share a \(video_id"):
        load_predictions({"capsule": dup})

    nocol = tmp_path / "nocol.csv"
    preds["capsule"].drop(columns="label").to_csv(nocol, index=False)
    with pytest.raises(InputError, match=r"nocol\.csv: missing column\(s\) label"):
        load_predictions({"capsule": nocol})

    bad = tmp_path / "bad.csv"
    preds["capsule"].assign(score=lambda d: d["score"] * 3).to_csv(bad, index=False)
    with pytest.raises(InputError, match=r"bad\.csv: row \d+ .*outside \[0, 1\]"):
        load_predictions({"capsule": bad})
    with pytest.raises(InputError, match="not found"):
        load_predictions({"capsule": tmp_path / "absent.csv"})


# ---------------------------------------------------------- whole ensembles


@pytest.fixture(scope="module")
def member_preds():
    val = synthetic("val", n_videos=30, seed=1)
    test = synthetic("test", n_videos=30, seed=2)
    val_metrics = {m: evaluate(df) for m, df in val.items()}
    return val, test, val_metrics


@pytest.mark.parametrize("name", list(ALL_ENSEMBLES))
def test_build_ensemble_every_kind(name, member_preds, tmp_path):
    val, test, val_metrics = member_preds
    cfg = {"dirichlet_draws": 200, "seed": 1}
    res = build_ensemble(name, val, test, val_metrics, SIZES, cfg)
    rule, method = ALL_ENSEMBLES[name]
    assert res["members"] == select_members(val_metrics, SIZES, rule)[0]
    assert list(res["test_frames"].columns) == [
        "video_id",
        "frame_index",
        "label",
        "score",
    ]
    assert list(res["test_videos"].columns) == ["video_id", "label", "score"]
    assert len(res["test_frames"]) == 30 * 4 and len(res["test_videos"]) == 30
    assert res["test_frames"]["score"].between(0, 1).all()
    if method == "soft":
        for level in ("frame", "video"):
            w = res["weights"][level]
            assert set(w) == set(res["members"])
            assert sum(w.values()) == pytest.approx(1)
    metrics = write_ensemble_outputs(res, tmp_path / name)
    files = sorted(p.name for p in (tmp_path / name).iterdir())
    assert files == sorted(ENSEMBLE_FILES.values())  # every role, nothing else
    paths = ensemble_files(tmp_path / name)
    saved = json.loads(Path(paths["metrics"]).read_text())
    assert saved["video_auc"] == pytest.approx(metrics["video_auc"])
    assert "video_auc" in saved["video_variant"]
    assert saved["video_variant"]["n_videos"] == 30
    members = json.loads(Path(paths["members"]).read_text())
    assert members["members"] == res["members"] and members["reason"]
    for role in ("test_frames", "val_frames", "test_videos", "val_videos"):
        back = pd.read_csv(paths[role], dtype={"video_id": str})
        pd.testing.assert_frame_equal(back, res[role], check_dtype=False)


def test_hard_ensemble_frames_are_votes_of_members(member_preds):
    val, test, val_metrics = member_preds
    res = build_ensemble("all_hard", val, test, val_metrics, SIZES, {})
    s = np.column_stack([test[m]["score"] for m in sorted(MODELS)])
    np.testing.assert_allclose(res["test_frames"]["score"], hard_vote(s))


def test_soft_ensemble_applies_validation_weights_to_test(member_preds):
    val, test, val_metrics = member_preds
    res = build_ensemble("best2_soft", val, test, val_metrics, SIZES, {"seed": 3})
    members = res["members"]
    w = np.array([res["weights"]["frame"][m] for m in members])
    s = np.column_stack([test[m]["score"] for m in members])
    np.testing.assert_allclose(res["test_frames"]["score"], s @ w)
    assert res["weights"]["n_draws"] == 10000


def test_tiebreak_and_calibrated_variants(member_preds):
    val, test, val_metrics = member_preds
    s = np.column_stack([test[m]["score"] for m in sorted(MODELS)])
    res = build_ensemble("all_hard_tiebreak", val, test, val_metrics, SIZES, {})
    np.testing.assert_allclose(res["test_frames"]["score"], hard_vote_tiebreak(s))
    cal = build_ensemble("all_hard_calibrated", val, test, val_metrics, SIZES, {})
    assert set(np.round(cal["test_frames"]["score"] * 4, 9)) <= {0, 1, 2, 3, 4}
    assert cal["meta"]["calibration"] == "platt"
    with pytest.raises(InputError, match="calibration"):
        build_ensemble(
            "all_hard_calibrated",
            val,
            test,
            val_metrics,
            SIZES,
            {"calibration": "none"},
        )


def test_unknown_ensemble_name(member_preds):
    val, test, val_metrics = member_preds
    with pytest.raises(InputError, match="unknown ensemble"):
        build_ensemble("best3_soft", val, test, val_metrics, SIZES, {})


def test_package_exports_its_public_api():
    import deepfake_ensemble.evaluate.ensemble as ens

    for name in ens.__all__:
        assert hasattr(ens, name), name
    # the ensembles themselves are listed once, in the catalog
    assert not hasattr(ens, "ENSEMBLES")


# ------------------------------------------------------------- calibration


def squashed_member(n: int, seed: int, fake_share: float = 0.8):
    """A member that ranks well but whose scores sit in (0.12, 0.88), mostly
    above 0.5 (like the demo's Capsule network)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < fake_share).astype(int)
    z = 1.5 * (2 * y - 1) + rng.normal(0, 1, n) + 2.0
    return y, 0.12 + 0.76 / (1 + np.exp(-z))


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibration_brings_accuracy_at_half_to_the_youden_threshold(method):
    y_val, s_val = squashed_member(2000, seed=1)
    y_test, s_test = squashed_member(2000, seed=2)
    assert s_test.min() > 0.12 and s_test.max() < 0.88
    raw = at_threshold(pd.DataFrame({"label": y_test, "score": s_test}), 0.5)
    thr = choose_threshold(y_val, s_val, "youden")
    youden = at_threshold(pd.DataFrame({"label": y_test, "score": s_test}), thr)
    cal = calibrate(fit_calibrator(s_val, y_val, method), s_test)
    calibrated = at_threshold(pd.DataFrame({"label": y_test, "score": cal}), 0.5)
    assert raw["accuracy"] < youden["accuracy"] - 0.05  # 0.5 is a poor threshold
    assert calibrated["accuracy"] >= youden["accuracy"] - 0.02
    assert calibrated["accuracy"] > raw["accuracy"] + 0.05
    assert roc_auc_score(y_test, cal) == pytest.approx(
        roc_auc_score(y_test, s_test), abs=0.01 if method == "isotonic" else 1e-9
    )


def test_choose_threshold_means_score_above_threshold():
    y = np.array([0, 0, 0, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.6, 0.4, 0.7, 0.9])
    thr = choose_threshold(y, s, "youden")
    # best split: 0.4 and up fake (J = 1 - 1/3) -> between 0.2 and 0.4
    assert thr == pytest.approx(0.3)
    assert choose_threshold(y, s, "eer") == pytest.approx(0.5)  # 0.4 | 0.6
    perfect = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    assert choose_threshold(y, perfect) == pytest.approx(0.5)
    assert choose_threshold([1, 1], [0.2, 0.3]) is None
    votes = np.array([0.0, 0.0, 0.5, 0.5, 0.5, 1.0])  # a two-member hard vote
    assert choose_threshold(y, votes) == pytest.approx(0.25)


# ------------------------------------------------------------ cross-fitting


def test_group_folds_keep_groups_whole_and_classes_in_training():
    y = np.tile([0, 1, 1], 20)
    g = np.repeat(np.arange(12), 5).astype(str)
    folds = group_folds(y, g, n_splits=5, seed=1)
    assert len(folds) == 5
    seen = np.concatenate([held for _, held in folds])
    assert sorted(seen) == list(range(60))
    for train, held in folds:
        assert not set(g[train]) & set(g[held])
        assert set(y[train]) == {0, 1}
    assert group_folds(y, np.zeros(60), 5) is None  # one group: no folds
    assert len(group_folds(y, np.repeat([0, 1, 2], 20), 5)) == 3  # 3 groups


def test_crossfit_gives_out_of_fold_validation_scores():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 80)
    x = rng.random((80, 1))
    g = np.repeat(np.arange(16), 5)

    def fit(xs, ys, gs):
        return float(ys.mean())  # a "model": the training share of fakes

    def predict(model, xs):
        return np.full(len(xs), model)

    model, oof, info = crossfit(fit, predict, x, y, g, "crossfit", 4, seed=1)
    assert model == pytest.approx(y.mean())
    assert info == {"val_scores": "out_of_fold", "folds": 4, "by": "group"}
    folds = group_folds(y, g, 4, 1)
    for train, held in folds:
        np.testing.assert_allclose(oof[held], y[train].mean())
    _, ins, info = crossfit(fit, predict, x, y, g, "in_sample", 4, seed=1)
    np.testing.assert_allclose(ins, y.mean())
    assert info["val_scores"] == "in_sample"
    _, _, info = crossfit(fit, predict, x, y, np.zeros(80), "crossfit", 4)
    assert info["val_scores"] == "in_sample" and "too few groups" in info["reason"]


@pytest.mark.parametrize("name", ["best2_soft", "all_stacked", "all_hard_calibrated"])
def test_fitted_ensembles_report_out_of_fold_validation(name, member_preds):
    val, test, val_metrics = member_preds
    groups = {v: f"id{int(v[-3:]) % 6}" for v in val["capsule"]["video_id"]}
    cfg = {"dirichlet_draws": 200, "seed": 1}
    oof = build_ensemble(name, val, test, val_metrics, SIZES, cfg, val_groups=groups)
    ins = build_ensemble(
        name, val, test, val_metrics, SIZES, {**cfg, "fit": "in_sample"}, groups
    )
    for level in ("frame", "video"):
        assert oof["val_fit"][level]["val_scores"] == "out_of_fold"
        assert oof["val_fit"][level]["folds"] == 5
        assert ins["val_fit"][level]["val_scores"] == "in_sample"
    # the test side is the fit on all of validation either way
    pd.testing.assert_frame_equal(oof["test_frames"], ins["test_frames"])
    pd.testing.assert_frame_equal(oof["test_videos"], ins["test_videos"])
    if name != "best2_soft":  # folds may find the same weight draw
        assert not np.allclose(oof["val_videos"]["score"], ins["val_videos"]["score"])
    hard = build_ensemble("all_hard", val, test, val_metrics, SIZES, cfg, groups)
    assert hard["val_fit"]["frame"] == {"val_scores": "no_fit"}
