import numpy as np
import pandas as pd
import pytest

from deepfake_ensemble.errors import InputError
from deepfake_ensemble.evaluate.ensemble import build_ensemble
from deepfake_ensemble.evaluate.metrics import evaluate
from deepfake_ensemble.evaluate.stats import detectable_difference, holm, power_at
from deepfake_ensemble.evaluate.summary import (
    SUMMARY_COLUMNS,
    build_summary,
    markdown_table,
    plot_confusion_grid,
    plot_roc_all,
    plot_training_curves,
    plot_weights,
    summary_notes,
    vote_rule,
    write_summary,
)
from deepfake_ensemble.evaluate.videos import split_videos
from deepfake_ensemble.layout import ENSEMBLE_NAMES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SIZES = {
    "capsule": {"bytes": 3_000_000, "params": 2_800_000},
    "dspfwa": {"bytes": 94_000_000, "params": 23_000_000},
    "xception": {"bytes": 83_000_000, "params": 20_800_000},
}


def predictions(split, strength, n_videos=30, n_frames=3, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for v in range(n_videos):
        y = v % 2
        base = rng.normal(strength * (2 * y - 1), 1.0)
        for f in range(n_frames):
            z = base + rng.normal(0, 0.5)
            rows.append((f"demo/{split}{v:03d}", f, y, 1 / (1 + np.exp(-z))))
    return pd.DataFrame(rows, columns=["video_id", "frame_index", "label", "score"])


@pytest.fixture(scope="module")
def study():
    # on validation dspfwa is best; on test xception is: the reference for
    # the comparisons must be dspfwa (chosen on validation, never on test)
    val_strength = {"capsule": 0.3, "dspfwa": 1.5, "xception": 0.8}
    test_strength = {"capsule": 0.3, "dspfwa": 0.6, "xception": 1.5}
    single = {
        m: {
            "val": predictions("val", val_strength[m], seed=k),
            "test": predictions("test", test_strength[m], seed=10 + k),
            "size": SIZES[m],
        }
        for k, m in enumerate(SIZES)
    }
    val_preds = {m: d["val"] for m, d in single.items()}
    test_preds = {m: d["test"] for m, d in single.items()}
    val_metrics = {m: evaluate(df) for m, df in val_preds.items()}
    cfg = {"dirichlet_draws": 300, "seed": 1, "bootstrap": 60}
    ensembles = {
        name: build_ensemble(name, val_preds, test_preds, val_metrics, SIZES, cfg)
        for name in ("best2_soft", "all_hard")
    }
    return single, ensembles, cfg, build_summary(single, ensembles, cfg)


def test_summary_has_a_row_per_model_and_ensemble(study):
    single, ensembles, _, df = study
    assert list(df.columns) == SUMMARY_COLUMNS
    assert list(df["name"]) == [
        "capsule",
        "dspfwa",
        "xception",
        "best2_soft",
        "best2_soft@video",
        "all_hard",
        "all_hard@video",
    ]
    assert list(df["kind"]) == ["single"] * 3 + ["ensemble"] * 4
    assert (df["best_single"] == "dspfwa").all()
    best = df.set_index("name").loc["dspfwa"]
    assert best["verdict"] == "best single model" and pd.isna(best["delong_p_vs_best"])
    others = df[df["name"] != "dspfwa"]
    assert others["delong_p_vs_best"].between(0, 1).all()
    assert others["sentence"].str.contains("vs best single dspfwa").all()
    assert df.set_index("name").loc["best2_soft", "members"] == "dspfwa+xception"


def test_summary_metrics_and_intervals(study):
    single, ensembles, _, df = study
    rows = df.set_index("name")
    m = evaluate(single["xception"]["test"])
    assert rows.loc["xception", "video_auc"] == pytest.approx(m["video_auc"])
    assert rows.loc["xception", "frame_auc"] == pytest.approx(m["frame_auc"])
    assert rows.loc["xception", "confusion_matrix"] == str(m["confusion_matrix"])
    frames = rows[rows["level"] == "frames"]
    assert (frames["frame_auc_ci_lo"] <= frames["frame_auc_ci_hi"]).all()
    assert (rows["video_auc_ci_lo"] <= rows["video_auc_ci_hi"]).all()
    video_row = rows.loc["all_hard@video"]
    assert pd.isna(video_row["frame_auc"]) and video_row["n_videos"] == 30
    v = ensembles["all_hard"]["test_videos"]
    from sklearn.metrics import roc_auc_score

    assert video_row["video_auc"] == pytest.approx(
        roc_auc_score(v["label"], v["score"])
    )


def test_summary_is_deterministic(study):
    single, ensembles, cfg, df = study
    again = build_summary(single, ensembles, cfg)
    pd.testing.assert_frame_equal(df, again)
    with pytest.raises(InputError):
        build_summary({}, ensembles, cfg)


def test_write_summary(study, tmp_path):
    *_, df = study
    write_summary(df, tmp_path / "summary.csv", tmp_path / "summary.md")
    back = pd.read_csv(tmp_path / "summary.csv")
    assert list(back["name"]) == list(df["name"])
    md = (tmp_path / "summary.md").read_text()
    assert "| name | variant | members | video AUC | 95% CI |" in md
    assert (
        "| delong_p | grouped_p (Holm) | family | ΔAUC [Holm-level CI] | power "
        "| verdict |"
    ) in md
    assert md.count("\n| ") == len(df) + 1  # header + one line a row
    assert "## Verdicts" in md and "best2_soft: video AUC" in md
    assert "## Rules" in md and "- study: fraction of members voting fake" in md


def test_markdown_table_formats_cells():
    t = pd.DataFrame({"a": ["x|y", None], "b": [0.12345, float("nan")], "c": [1, 2]})
    assert markdown_table(t) == (
        "| a | b | c |\n|---|---|---|\n| x\\|y | 0.123 | 1 |\n|  |  | 2 |\n"
    )


def test_plots(study, tmp_path):
    single, ensembles, _, df = study
    curves = {m: d["test"] for m, d in single.items()}
    curves.update({n: e["test_frames"] for n, e in ensembles.items()})
    curves["all_hard@video"] = ensembles["all_hard"]["test_videos"]
    plot_roc_all(curves, tmp_path / "roc.png")
    plot_weights(
        {"best2_soft": ensembles["best2_soft"]["weights"]["frame"]},
        tmp_path / "weights.png",
    )
    plot_confusion_grid(
        dict(zip(df["name"], df["confusion_matrix"], strict=True)),
        tmp_path / "cm.png",
    )
    hist = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "train_loss": [0.7, 0.5, 0.4],
            "val_loss": [0.7, 0.6, 0.6],
            "val_frame_auc": [0.6, 0.7, 0.72],
            "val_video_auc": [0.62, 0.75, 0.8],
            "lr": [1e-4] * 3,
            "seconds": [10.0, 9.5, 9.7],
        }
    )
    hist.to_csv(tmp_path / "history.csv", index=False)
    plot_training_curves(
        {"capsule": hist, "xception": tmp_path / "history.csv"},
        tmp_path / "curves.png",
    )
    for name in ("roc.png", "weights.png", "cm.png", "curves.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(InputError, match="missing column"):
        plot_training_curves({"x": hist.drop(columns="lr")}, tmp_path / "bad.png")


# ------------------------------------- groups, no-face videos, Holm, variants


def split_list(split: str, n_videos: int = 30, n_groups: int = 6) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "video_id": [f"demo/{split}{v:03d}" for v in range(n_videos)],
            "label": [v % 2 for v in range(n_videos)],
            "group": [f"demo/g{v % n_groups}" for v in range(n_videos)],
            "dataset": "demo",
        }
    )


@pytest.fixture(scope="module")
def grouped(study):
    single, ensembles, cfg, _ = study
    single = {m: dict(d) for m, d in single.items()}
    test = single["capsule"]["test"]
    lost = ["demo/test000", "demo/test001"]  # no face found: no frames
    single["capsule"]["test"] = test[~test["video_id"].isin(lost)]
    splits = {"val": split_list("val"), "test": split_list("test")}
    table = build_summary(single, ensembles, cfg, splits)
    return single, ensembles, cfg, splits, table


def test_no_face_videos_count_at_half(grouped):
    single, _, _, splits, df = grouped
    rows = df.set_index("name")
    assert rows.loc["capsule", "n_no_face"] == 2
    assert (rows.drop(index="capsule")["n_no_face"] == 0).all()
    assert (rows["n_videos"] == 30).all() and (rows["no_face_policy"] == "score").all()
    v = single["capsule"]["test"].groupby("video_id")[["label", "score"]].mean()
    v = pd.concat(
        [v, pd.DataFrame({"label": [0, 1], "score": [0.5, 0.5]}, index=["a", "b"])]
    )
    from sklearn.metrics import roc_auc_score

    assert rows.loc["capsule", "video_auc"] == pytest.approx(
        roc_auc_score(v["label"], v["score"])
    )


def test_excluding_no_face_videos_is_shown(study):
    single, ensembles, cfg, _ = study
    single = {m: dict(d) for m, d in single.items()}
    test = single["capsule"]["test"]
    single["capsule"]["test"] = test[test["video_id"] != "demo/test004"]
    splits = {"val": split_list("val"), "test": split_list("test")}
    df = build_summary(single, ensembles, cfg, splits, {"no_face": "exclude"})
    row = df.set_index("name").loc["capsule"]
    assert row["n_no_face"] == 1 and row["n_videos"] == 29
    assert row["no_face_policy"] == "exclude"
    assert "left out of evaluation" in summary_notes(
        df, splits["test"], {"no_face": "exclude"}
    )


def test_grouped_comparisons_and_holm_family(grouped):
    *_, splits, df = grouped
    assert (df["n_groups"] == 6).all()
    tested = df[df["grouped_p_vs_best"].notna()]
    assert len(tested) == len(df) - 1  # every row but the best single model
    primary = tested[tested["holm_family"] == "primary"]
    secondary = tested[tested["holm_family"] == "secondary"]
    # the study's ensembles (frame-level rule) form the primary family
    study_six = {n for n in ENSEMBLE_NAMES if n.endswith(("_hard", "_soft"))}
    assert len(study_six) == 6
    built = {n for n in tested["name"] if n in study_six}
    assert built and set(primary["name"]) == built
    assert len(primary) + len(secondary) == len(tested)
    for family in (primary, secondary):
        expected = holm(list(family["grouped_p_vs_best"]))
        np.testing.assert_allclose(family["grouped_p_holm"], expected)
    assert (tested["grouped_df"] == 5).all()
    sizes = tested["holm_family"].map(tested["holm_family"].value_counts())
    for (_, row), size in zip(tested.iterrows(), sizes, strict=True):
        level = 0.05 / size  # power at the Bonferroni level of the family
        se = abs(row["auc_diff_vs_best"] / row["grouped_t_vs_best"])
        power = power_at(0.05, se, row["grouped_df"], level)
        assert row["power_at_relevant"] == pytest.approx(power)
        assert row["detectable_diff"] == pytest.approx(
            detectable_difference(se, row["grouped_df"], level, 0.8)
        )
        significant = row["grouped_p_holm"] < 0.05
        if significant:
            want = "better" if row["auc_diff_vs_best"] > 0 else "worse"
        elif power < 0.8:
            want = "inconclusive"
        else:
            want = "no significant difference"
        assert row["verdict"] == want
        # the Holm-level interval agrees with the verdict
        lo, hi = row["auc_diff_ci_holm_lo"], row["auc_diff_ci_holm_hi"]
        assert (lo > 0 or hi < 0) == significant
        assert lo <= row["auc_diff_ci_lo"] and row["auc_diff_ci_hi"] <= hi
        assert row["n_groups_effective"] == pytest.approx(6, rel=0.2)
        assert "grouped p (Holm)" in row["sentence"] and "DeLong" in row["sentence"]
    assert tested["delong_p_vs_best"].between(0, 1).all()
    notes = summary_notes(df, splits["test"])
    assert "30 videos (15 real, 15 fake) in 6 groups" in notes
    assert "6 test groups, fewer than 10" in notes and "wide" in notes
    assert f"two families of the {len(tested)} comparisons" in notes
    assert f"primary family of the {len(primary)} comparisons" in notes


def test_thresholds_and_variants(grouped):
    *_, df = grouped
    rows = df.set_index("name")
    assert (rows["threshold_rule"] == "youden").all()
    assert rows["val_threshold"].notna().all()
    assert rows["balanced_accuracy_at_val_threshold"].between(0, 1).all()
    assert rows.loc["all_hard", "variant"].startswith("study: fraction")
    assert rows.loc["all_hard@video", "variant"].startswith("ours:")
    assert rows.loc["capsule", "variant"] == "study: single detector"
    assert rows.loc["best2_soft", "val_scores"].startswith("out_of_fold")


def test_a_threshold_on_a_hard_vote_names_the_rule_it_implies(grouped):
    assert vote_rule(0.25, 2, True) == "OR, 1 of 2 members vote fake"
    assert vote_rule(0.5, 2, True) == "AND, 2 of 2 members vote fake"
    assert vote_rule(0.5, 4, True) == "3 of 4 members vote fake"
    assert vote_rule(0.8, 4, True) == "AND, 4 of 4 members vote fake"
    assert vote_rule(1.0, 4, True) == "never fake"
    assert vote_rule(-0.1, 4, True) == "always fake"
    assert vote_rule(0.3, 4, False) == "mean vote share over frames > 0.300"
    assert vote_rule(None, 2, True) == ""
    *_, df = grouped
    rows = df.set_index("name")
    hard = [n for n in rows.index if n.removesuffix("@video").endswith("_hard")]
    assert hard
    for name in hard:
        row = rows.loc[name]
        m = row["members"].count("+") + 1
        assert row["rule_at_val_threshold"] == vote_rule(
            row["val_threshold"], m, name.endswith("@video")
        )
    assert (
        rows.loc[[n for n in rows.index if "soft" in n], "rule_at_val_threshold"]
        .isna()
        .all()
    )


def test_notes_say_how_many_groups_were_joined_by_shared_people():
    split = split_videos(
        pd.DataFrame(
            {
                "video_id": ["c/a", "c/ab", "c/b", "c/d"],
                "label": ["0", "1", "0", "1"],
                "group": ["c/a", "c/a", "c/b", "c/d"],
                "identity": ["c/a", "c/a", "c/b", "c/d"],
                "source_identity": ["", "c/b", "", ""],
            }
        )
    )
    df = pd.DataFrame(columns=SUMMARY_COLUMNS)
    notes = summary_notes(df, split)
    assert "4 videos (2 real, 2 fake) in 2 groups" in notes
    assert "joined from 3 where their videos share a person" in notes
    plain = summary_notes(df, split.assign(unmerged_group=split["group"]))
    assert "joined from" not in plain


def test_notes_say_how_many_people_the_test_groups_derive_from():
    # four test groups: synthetic variants of two people (p, q); a fake of
    # r's variant shows q's face; p is also in training, q and r are not
    split = split_videos(
        pd.DataFrame(
            {
                "video_id": ["d/1", "d/2", "d/3", "d/4"],
                "label": ["0", "0", "0", "1"],
                "group": ["d/p", "d/p-v1", "d/q", "d/q-v1"],
            }
        )
    )
    people = pd.DataFrame(
        {
            "video_id": ["d/1", "d/2", "d/3", "d/4", "d/9"],
            "person": ["p", "p", "q", "q", "p"],
            "source_person": ["p", "p", "q", "r", "p"],
        }
    )
    df = pd.DataFrame(columns=SUMMARY_COLUMNS)
    notes = summary_notes(df, split, people=people)
    assert "The 4 test groups show 2 photographed people (3 with the faces" in notes
    assert "1 of the 3 also appear in training" in notes
    # without the people, or with none of the test videos, nothing is said
    assert "photographed" not in summary_notes(df, split)
    assert "photographed" not in summary_notes(df, split, people=people.iloc[4:])


def test_the_ensembles_over_every_member_are_a_holm_family_of_their_own(grouped):
    """Adding the ensembles over every member leaves the study's rows and
    their Holm adjustment as they were; the new frame-level rules form the
    members family (their @video rows join the secondary one)."""
    single, ensembles, cfg, splits, before = grouped
    val = {m: d["val"] for m, d in single.items()}
    test = {m: d["test"] for m, d in single.items()}
    val_metrics = {m: evaluate(df) for m, df in val.items()}
    added = {
        name: build_ensemble(name, val, test, val_metrics, SIZES, cfg)
        for name in ("best3m_hard", "allm_soft")
    }
    after = build_summary(single, {**ensembles, **added}, cfg, splits)
    study_rows = after[after["name"].isin(before["name"])].reset_index(drop=True)
    primary = before["holm_family"] == "primary"
    assert primary.any()
    pd.testing.assert_frame_equal(study_rows[primary], before[primary])
    rows = after.set_index("name")
    assert rows.loc["best3m_hard", "holm_family"] == "members"
    assert rows.loc["allm_soft", "holm_family"] == "members"
    assert rows.loc["allm_soft@video", "holm_family"] == "secondary"
    assert rows.loc["allm_soft", "members"] == "capsule+dspfwa+xception"
    assert rows.loc["allm_soft", "variant"].startswith("ours: weighted mean")
    assert rows.loc["allm_soft", "variant"].endswith(
        "over every member (the study's four and those declared)"
    )
    # the best single model is their best member
    assert rows.loc["allm_soft", "best_single"] == "dspfwa"
    members = after[after["holm_family"] == "members"]
    np.testing.assert_allclose(
        members["grouped_p_holm"], holm(list(members["grouped_p_vs_best"]))
    )
    notes = summary_notes(after, splits["test"])
    assert "within three families" in notes
    assert "the members family of the 2 comparisons" in notes
    n_tested = int(after["grouped_p_vs_best"].notna().sum())
    n_primary = int(primary.sum())
    assert f"secondary family of the other {n_tested - n_primary - 2} " in notes
    assert "within two families" in summary_notes(before, splits["test"])
