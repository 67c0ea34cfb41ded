"""The results table of the study and its plots.

One row per single model, per ensemble (video score = mean of its frame
scores) and per ensemble's video-level variant (``<name>@video``). Every row
is evaluated on the whole test split (:mod:`deepfake_ensemble.evaluate.videos`:
videos with no face under the no-face policy, each video with its group),
with the metrics at the fixed threshold 0.5 (the study's) and at the
threshold chosen on validation (Youden's J or the EER point), cluster-
bootstrap intervals of the frame and video AUC (groups resampled, the same
draws for every row) and a paired comparison at video level with the best
single model, "best" being chosen on *validation* video AUC (never on
test): the grouped jackknife t-test (the verdict's, Holm-corrected over the
table) and plain DeLong (for comparison with the literature).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from deepfake_ensemble.defaults import DEFAULTS
from deepfake_ensemble.errors import InputError
from deepfake_ensemble.evaluate.ensemble import rank_by_validation
from deepfake_ensemble.evaluate.metrics import (
    defined,
    draw_confusion,
    evaluate_video_scores,
    get_pyplot,
    roc_points,
    save_figure,
    video_scores,
)
from deepfake_ensemble.evaluate.stats import (
    bootstrap_auc_ci,
    compare_to_best,
    comparison_sentence,
    detectable_difference,
    holm,
    holm_matched_interval,
    power_at,
    verdict_of,
)
from deepfake_ensemble.evaluate.videos import (
    evaluate_on_split,
    evaluation_config,
    threshold_report,
)
from deepfake_ensemble.io import write_csv, write_text
from deepfake_ensemble.layout import (
    ALL_ENSEMBLES,
    MEMBER_BEST_K,
    MEMBER_ENSEMBLES,
    METHODS,
)
from deepfake_ensemble.predictions import HISTORY_REQUIRED

#: below this many test groups the summary warns that intervals are wide
FEW_GROUPS = 10

METRIC_COLUMNS = [
    "frame_auc",
    "video_auc",
    "accuracy",
    "balanced_accuracy",
    "sensitivity",
    "specificity",
    "confusion_matrix",
    "average_precision",
    "eer",
    "log_loss",
    "n_frames",
    "n_videos",
    "frame_average_precision",
    "frame_eer",
    "frame_log_loss",
    "frame_accuracy",
]
THRESHOLD_COLUMNS = [
    "threshold_rule",
    "val_threshold",
    "accuracy_at_val_threshold",
    "balanced_accuracy_at_val_threshold",
    "sensitivity_at_val_threshold",
    "specificity_at_val_threshold",
]
SUMMARY_COLUMNS = [
    "name",
    "kind",
    "level",
    "variant",
    "members",
    *METRIC_COLUMNS,
    *THRESHOLD_COLUMNS,
    "rule_at_val_threshold",
    "val_scores",
    "n_no_face",
    "no_face_policy",
    "n_groups",
    "frame_auc_ci_lo",
    "frame_auc_ci_hi",
    "video_auc_ci_lo",
    "video_auc_ci_hi",
    "best_single",
    "auc_diff_vs_best",
    "auc_diff_ci_lo",
    "auc_diff_ci_hi",
    "auc_diff_ci_holm_lo",
    "auc_diff_ci_holm_hi",
    "auc_diff_ci_holm_level",
    "n_groups_effective",
    "power_at_relevant",
    "detectable_diff",
    "delong_z_vs_best",
    "delong_p_vs_best",
    "grouped_t_vs_best",
    "grouped_df",
    "grouped_p_vs_best",
    "grouped_p_holm",
    "holm_family",
    "verdict",
    "sentence",
]


def _metric_row(metrics: Mapping) -> dict:
    row = {c: metrics.get(c) for c in METRIC_COLUMNS}
    row["confusion_matrix"] = json.dumps(row["confusion_matrix"])
    return row


def _videos(df: pd.DataFrame) -> pd.DataFrame:
    if "frame_index" in df.columns:
        return video_scores(df)[["video_id", "label", "score"]]
    return df[["video_id", "label", "score"]]


#: the families of the Holm correction: ``primary`` answers the study's
#: question (its six ensembles against the best single model, frame-level
#: rule, video score = mean frame score); ``members`` asks it of every member
#: (the ensembles over every member, :data:`~deepfake_ensemble.layout.MEMBER_ENSEMBLES`,
#: frame-level rule, against the best single model, which is their best
#: member), present only where members beyond the study's four are declared;
#: ``secondary`` holds every other comparison of the table (single models,
#: our variants, ``@video`` rows)
HOLM_FAMILIES = ("primary", "members", "secondary")


def holm_family(row: Mapping) -> str:
    """The Holm family of a summary row (see :data:`HOLM_FAMILIES`)."""
    if row.get("kind") != "ensemble" or row.get("level") == "video":
        return "secondary"
    if row.get("name") in MEMBER_ENSEMBLES:
        return "members"
    return "primary" if str(row.get("variant", "")).startswith("study") else "secondary"


#: selection rule of an ensemble over every member -> the variant's words
MEMBER_SCOPES = {
    "all": "over every member (the study's four and those declared)",
    f"best{MEMBER_BEST_K}": (
        f"over the {MEMBER_BEST_K} members best on validation (the study's four "
        "and those declared)"
    ),
}


def variant_of(name: str, calibration: str = DEFAULTS["ensemble.calibration"]) -> str:
    """Who defined a row's rule and what it is (``study: ...`` / ``ours: ...``)."""
    at_video = name.endswith("@video")
    base = name.removesuffix("@video")
    if base not in ALL_ENSEMBLES:
        text = "study: single detector"
    else:
        rule, method = ALL_ENSEMBLES[base]
        text = METHODS[method]
        if method == "hard_calibrated":
            text = text.replace("calibrated", f"calibrated ({calibration})", 1)
        if base in MEMBER_ENSEMBLES:
            text = f"ours: {text.partition(': ')[2]}, {MEMBER_SCOPES[rule]}"
    if at_video:
        what = text.partition(": ")[2]
        text = f"ours: {what}, applied to per-video mean member scores"
    return text


def vote_rule(threshold, n_members: int, per_video: bool) -> str:
    """The decision a threshold on a hard vote's score implies.

    ``@video`` hard votes score a video by the share of its ``n_members``
    members that vote fake, and call it fake above ``threshold``: that is
    "k of m" with ``k = floor(threshold * m) + 1``, named OR where k is 1 and
    AND where k is m (the study's 0.5 is AND for two members, 3 of 4 for
    four). A frame-level hard vote scores a video by the mean vote share over
    its frames, where no k-of-m rule follows; it is named as such."""
    thr = defined(threshold)
    if thr is None:
        return ""
    if not per_video:
        return f"mean vote share over frames > {thr:.3f}"
    k = math.floor(thr * n_members) + 1
    if k <= 0:
        return "always fake"
    if k > n_members:
        return "never fake"
    named = "OR, " if k == 1 else "AND, " if k == n_members else ""
    return f"{named}{k} of {n_members} members vote fake"


def _val_scores(fit: Mapping | None) -> str:
    """How an ensemble's validation scores (and so its threshold) came about."""
    if not fit:
        return ""
    kind = fit.get("val_scores", "")
    if kind == "out_of_fold":
        return f"out_of_fold ({fit.get('folds')} folds by {fit.get('by', 'group')})"
    if kind == "in_sample":
        return f"in_sample ({fit.get('reason', '')})".replace(" ()", "")
    return str(kind)


def build_summary(
    single: Mapping[str, Mapping],
    ensembles: Mapping[str, Mapping],
    cfg: Mapping | None = None,
    splits: Mapping[str, pd.DataFrame] | None = None,
    evaluation: Mapping | None = None,
) -> pd.DataFrame:
    """The results table (columns :data:`SUMMARY_COLUMNS`).

    ``single``: model -> ``{"test": predictions, "val": predictions, "size":
    {...}}``. ``ensembles``: name -> ``{"test_frames": predictions,
    "test_videos": video scores, "val_frames", "val_videos", "members":
    [...], "val_fit": {...}}`` (the dict of
    :func:`deepfake_ensemble.evaluate.ensemble.build_ensemble` will do; without
    validation tables no threshold is chosen). ``cfg`` is the ``ensemble``
    config: ``bootstrap`` (resamples, default 1000), ``seed``,
    ``calibration``. ``splits``: ``{"val": ..., "test": ...}`` split lists
    (:func:`deepfake_ensemble.evaluate.videos.split_videos`), which give every
    video its group and the videos no detector scored; without them each
    scored video is its own group. ``evaluation``: the ``evaluation`` config
    (no-face policy, threshold rule, ``alpha``).

    Every row but the best single model's is compared with it; the p-values
    are Holm-corrected within two families (:func:`holm_family`): the study's
    six ensembles, and every other row. Each comparison also gets the
    difference interval at the level of its Holm adjustment
    (:func:`~deepfake_ensemble.evaluate.stats.holm_matched_interval`), its
    power against ``evaluation.relevant_difference`` and the difference it
    detects with ``evaluation.target_power``, both at the Bonferroni level of
    its family (alpha / family size, the level of Holm's first step and a
    lower bound on its power); a comparison that is not significant is
    "inconclusive" below the target power.
    """
    cfg = dict(cfg or {})
    ev = evaluation_config(evaluation)
    n_boot = int(cfg.get("bootstrap", DEFAULTS["ensemble.bootstrap"]))
    seed = int(cfg.get("seed", DEFAULTS["ensemble.seed"]))
    alpha = float(ev["alpha"])
    threshold = 0.5
    calibration = str(cfg.get("calibration", DEFAULTS["ensemble.calibration"]))
    splits = dict(splits or {})
    if not single:
        raise InputError("the summary needs at least one single model")

    def evaluate(split, frames=None, videos=None, source=""):
        return evaluate_on_split(
            frames, videos, splits.get(split), ev, threshold, f"{source} ({split})"
        )

    val_metrics = {m: evaluate("val", d["val"], source=m)[0] for m, d in single.items()}
    best = rank_by_validation(val_metrics)[0]
    _, best_table = evaluate("test", single[best]["test"], source=best)
    universe = sorted(set(splits["test"]["group"])) if "test" in splits else None

    def group_map(table: pd.DataFrame) -> pd.Series:
        return table.set_index("video_id")["group"]

    def rows_of(
        name, kind, level, members, test_frames, test_videos, val_frames, val_videos
    ):
        metrics, table = evaluate("test", test_frames, test_videos, name)
        row = {
            "name": name,
            "kind": kind,
            "level": level,
            "variant": variant_of(name, calibration),
            "members": members,
        }
        row.update(_metric_row(metrics))
        if val_frames is not None or val_videos is not None:
            _, val_table = evaluate("val", val_frames, val_videos, name)
            row.update(threshold_report(val_table, table, ev["threshold_rule"]))
        else:
            row.update(dict.fromkeys(THRESHOLD_COLUMNS))
        base = name.removesuffix("@video")
        if base in ALL_ENSEMBLES and ALL_ENSEMBLES[base][1] in (
            "hard",
            "hard_calibrated",
        ):
            row["rule_at_val_threshold"] = vote_rule(
                row["val_threshold"], members.count("+") + 1, level == "video"
            )
        row["n_no_face"] = metrics["n_no_face"]
        row["no_face_policy"] = metrics["no_face_policy"]
        row["n_groups"] = metrics["n_groups"]
        clusters = universe or sorted(set(table["group"]))
        if test_frames is not None and len(test_frames):
            groups = group_map(table)
            frames = test_frames[test_frames["video_id"].astype(str).isin(groups.index)]
            lo, hi, _ = bootstrap_auc_ci(
                frames["video_id"],
                frames["label"],
                frames["score"],
                n_boot,
                seed,
                "frame",
                alpha,
                groups.loc[frames["video_id"].astype(str)].to_numpy(),
                clusters,
            )
            row["frame_auc_ci_lo"], row["frame_auc_ci_hi"] = lo, hi
        else:
            row["frame_auc_ci_lo"] = row["frame_auc_ci_hi"] = None
        lo, hi, _ = bootstrap_auc_ci(
            table["video_id"],
            table["label"],
            table["score"],
            n_boot,
            seed,
            "video",
            alpha,
            table["group"],
            clusters,
        )
        row["video_auc_ci_lo"], row["video_auc_ci_hi"] = lo, hi
        row["best_single"] = best
        if name == best:
            val_auc = val_metrics[best]["video_auc"]
            shown = "undefined" if val_auc is None else f"{val_auc:.3f}"
            row["verdict"] = "best single model"
            row["sentence"] = (
                f"{name}: best single model on validation video AUC ({shown}); "
                "the reference of the comparisons."
            )
            row["_comparison"] = None
        else:
            c = compare_to_best(
                name, table, best, best_table, n_boot, seed, alpha, clusters
            )
            row.update(
                auc_diff_vs_best=c["diff"],
                auc_diff_ci_lo=c["diff_ci_lo"],
                auc_diff_ci_hi=c["diff_ci_hi"],
                delong_z_vs_best=c["z"],
                delong_p_vs_best=c["p"],
                grouped_t_vs_best=c["t_grouped"],
                grouped_df=c["df"],
                grouped_p_vs_best=c["p_grouped"],
            )
            row["_comparison"] = c
        return row

    rows = []
    for model in sorted(single):
        d = single[model]
        row = rows_of(model, "single", "frames", model, d["test"], None, d["val"], None)
        row["val_scores"] = "in_sample (its checkpoint was chosen on them)"
        rows.append(row)
    for name, ens in ensembles.items():
        members = "+".join(ens.get("members", []))
        fit = ens.get("val_fit") or {}
        row = rows_of(
            name,
            "ensemble",
            "frames",
            members,
            ens["test_frames"],
            None,
            ens.get("val_frames"),
            None,
        )
        row["val_scores"] = _val_scores(fit.get("frame"))
        rows.append(row)
        if ens.get("test_videos") is not None:
            row = rows_of(
                f"{name}@video",
                "ensemble",
                "video",
                members,
                None,
                _videos(ens["test_videos"]),
                None,
                _videos(ens["val_videos"])
                if ens.get("val_videos") is not None
                else None,
            )
            row["n_frames"] = len(ens["test_frames"])
            row["val_scores"] = _val_scores(fit.get("video"))
            rows.append(row)

    # Holm within each family of comparisons with the best single model
    comparisons = [r["_comparison"] for r in rows]
    families = [holm_family(r) for r in rows]
    adjusted: list[float | None] = [None] * len(rows)
    family_size = dict.fromkeys(HOLM_FAMILIES, 0)
    for family in HOLM_FAMILIES:
        idx = [i for i, f in enumerate(families) if f == family]
        p = holm([comparisons[i]["p_grouped"] if comparisons[i] else None for i in idx])
        family_size[family] = sum(v is not None for v in p)
        for i, p_adj in zip(idx, p, strict=True):
            adjusted[i] = p_adj
    relevant = float(ev["relevant_difference"])
    target_power = float(ev["target_power"])
    for row, c, p_adj, family in zip(
        rows, comparisons, adjusted, families, strict=True
    ):
        if c is None:
            continue
        row["grouped_p_holm"] = p_adj
        row["holm_family"] = family
        if c["auc"] is None:
            row["verdict"] = "not comparable"
            row["sentence"] = c["sentence"]
            continue
        lo, hi, level = holm_matched_interval(
            c["diff"], c["se"], c["df"], c["p_grouped"], p_adj, alpha
        )
        bonferroni = alpha / max(family_size[family], 1)
        power = power_at(relevant, c["se"], c["df"], bonferroni)
        detectable = detectable_difference(c["se"], c["df"], bonferroni, target_power)
        verdict = verdict_of(p_adj, c["diff"], alpha, power, target_power)
        row.update(
            auc_diff_ci_holm_lo=lo,
            auc_diff_ci_holm_hi=hi,
            auc_diff_ci_holm_level=level,
            n_groups_effective=c["n_effective"],
            power_at_relevant=power,
            detectable_diff=detectable,
            verdict=verdict,
        )
        row["sentence"] = comparison_sentence(
            {
                **c,
                "verdict": verdict,
                "diff_ci_adj_lo": lo,
                "diff_ci_adj_hi": hi,
                "diff_ci_adj_level": level,
                "power": power,
                "detectable": detectable,
                "relevant_difference": relevant,
                "target_power": target_power,
            },
            p_adj,
            "grouped p (Holm)",
        )
    for row in rows:
        row.pop("_comparison", None)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def split_overview(split: pd.DataFrame) -> pd.DataFrame:
    """Test groups and videos per dataset (and in all): ``dataset, videos,
    real, fake, groups``."""
    rows = []
    for ds, g in list(split.groupby("dataset", sort=True)) + [("all", split)]:
        rows.append(
            {
                "dataset": ds,
                "videos": len(g),
                "real": int((g["label"] == 0).sum()),
                "fake": int((g["label"] == 1).sum()),
                "groups": int(g["group"].nunique()),
            }
        )
    return pd.DataFrame(rows, columns=["dataset", "videos", "real", "fake", "groups"])


def people_note(test_split: pd.DataFrame, people: pd.DataFrame) -> str:
    """What the test groups rest on where the videos' people are known (the
    demo's cue table: ``video_id, person, source_person``): how many people
    the test groups' scenes show (``person``), how many with the faces
    swapped into their fakes (``source_person``), and how many of those also
    appear in the videos outside the test split. Empty where no test video
    has a row or the table names no person."""
    if "person" not in people.columns:
        return ""
    in_test = people["video_id"].isin(set(test_split["video_id"]))
    if not in_test.any():
        return ""
    cols = [c for c in ("person", "source_person") if c in people.columns]

    def persons(rows: pd.DataFrame, columns: list[str]) -> set[str]:
        return {p for c in columns for p in rows[c].astype(str) if p}

    scenes = persons(people[in_test], ["person"])
    shown = persons(people[in_test], cols)
    elsewhere = shown & persons(people[~in_test], cols)
    groups = test_split["group"].nunique()
    swapped = (
        f" ({len(shown)} with the faces swapped into their fakes)"
        if shown != scenes
        else ""
    )
    return (
        f"The {groups} test groups show {len(scenes)} photographed people"
        f"{swapped}: the demo's identities are synthetic variants of a few "
        f"people, separate groups by design, and {len(elsewhere)} of the "
        f"{len(shown)} also appear in training or validation videos. The "
        "groups are therefore less independent than their number says: the "
        "demo checks the machinery, it does not measure generalisation to new "
        "people."
    )


def summary_notes(
    df: pd.DataFrame,
    test_split: pd.DataFrame | None = None,
    evaluation: Mapping | None = None,
    people: pd.DataFrame | None = None,
) -> str:
    """The paragraphs above the summary table: the test split's groups and
    videos per dataset (with ``people``, the demo's cue table: the people the
    groups derive from, :func:`people_note`), the no-face policy, the
    thresholds, the tests and the Holm family."""
    ev = evaluation_config(evaluation)
    parts = []
    if test_split is not None and len(test_split):
        over = split_overview(test_split)
        total = over[over["dataset"] == "all"].iloc[0]
        unmerged = (
            test_split["unmerged_group"].nunique()
            if "unmerged_group" in test_split.columns
            else total["groups"]
        )
        joined = (
            f", joined from {int(unmerged)} where their videos share a person"
            if unmerged != total["groups"]
            else ""
        )
        parts.append(
            f"Test split: {int(total['videos'])} videos ({int(total['real'])} real, "
            f"{int(total['fake'])} fake) in {int(total['groups'])} groups "
            f"(identities or originals{joined}; videos of a group are not "
            "independent)."
        )
        if people is not None:
            note = people_note(test_split, people)
            if note:
                parts.append(note)
        few = over[(over["groups"] < FEW_GROUPS) & (over["dataset"] != "all")]
        if len(over) > 2:
            parts.append("\n" + markdown_table(over, floatfmt=".0f"))
        for ds in few["dataset"]:
            k = int(over.loc[over["dataset"] == ds, "groups"].iloc[0])
            parts.append(
                f"Dataset `{ds}` has {k} test groups, fewer than {FEW_GROUPS}: its "
                "intervals and tests rest on so few independent units that the "
                "intervals are wide for that reason (and a percentile bootstrap "
                "over so few groups covers less than 95%)."
            )
    tested = df[df["grouped_p_vs_best"].notna()] if len(df) else df
    n_cmp = len(tested)
    n_primary = int((tested.get("holm_family") == "primary").sum()) if n_cmp else 0
    n_members = int((tested.get("holm_family") == "members").sum()) if n_cmp else 0
    n_untested = int((df["verdict"] == "not testable").sum()) if len(df) else 0
    best = df["best_single"].dropna()
    no_face = (
        f"score {ev['no_face_score']:g} for every detector and ensemble"
        if ev["no_face"] == "score"
        else "left out of evaluation"
    )
    parts.append(
        f"Videos with no detected face (or none scored by a detector): {no_face}; "
        "their number per row is `no_face` (test split). Frame-level figures "
        "cover the frames scored."
    )
    parts.append(
        "Video score = mean of frame scores (`<name>@video`: the ensemble rule "
        "applied to per-video mean member scores). `acc`/`bal_acc` at 0.5: the "
        f"study's fixed threshold; `thr`: the threshold chosen on validation "
        f"({ev['threshold_rule']}; out-of-fold scores for fitted ensembles), "
        "`acc@thr`/`bal_acc@thr`: on test at it. AUC intervals: 95% percentile "
        "cluster bootstrap (groups resampled, the same draws for every row)."
    )
    parts.append(
        "Comparison with the best single model"
        + (f" (`{best.iloc[0]}`, chosen on validation video AUC)" if len(best) else "")
        + ": `delong_p` is plain DeLong (videos taken as independent, as in the "
        "literature); `grouped_p` is the paired grouped jackknife t-test of the "
        "video-AUC difference (delete-a-group variance; degrees of freedom "
        "midway between K - 1 and Bell-McCaffrey's, fewer where groups are "
        "unbalanced), Holm-corrected within "
        + ("three" if n_members else "two")
        + f" families of the {n_cmp} comparisons in this table (every row "
        "against the best single model): the primary family of the "
        f"{n_primary} comparisons of the study's six ensembles, which answers "
        "the study's question, "
        + (
            f"the members family of the {n_members} comparisons of the "
            "ensembles over every member (`allm_*`, `best3m_*`: the study's "
            "four and the declared members; the best single model is their "
            "best member), which asks it of every member, "
            if n_members
            else ""
        )
        + "and the secondary family of the other "
        f"{n_cmp - n_primary - n_members} (single models, our variants, "
        "`@video` rows"
        + (
            f"; {n_untested} row(s) could not be tested: `not testable`"
            if n_untested
            else ""
        )
        + "). The verdict comes from the corrected grouped test alone, at alpha "
        f"{ev['alpha']:g}: `better`/`worse` where it rejects; where it does not, "
        f"`inconclusive` when its power against a difference of "
        f"{ev['relevant_difference']:g} (`power`, at the Bonferroni level of its "
        f"family) is below {ev['target_power']:.0%}, else `no significant "
        "difference`. `ΔAUC [Holm-level CI]`: the difference from the best single "
        "model with its t-interval at the level of its Holm adjustment, which "
        "excludes 0 exactly where the verdict is `better` or `worse` (the "
        "unadjusted 95% interval is in summary.csv and the verdicts below)."
    )
    return "\n\n".join(parts) + "\n"


def _ci(lo, hi) -> str:
    if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
        return ""
    return f"[{lo:.3f}, {hi:.3f}]"


def markdown_view(df: pd.DataFrame) -> pd.DataFrame:
    """The main columns of the summary, as printed in ``summary.md``."""
    out = pd.DataFrame(
        {
            "name": df["name"],
            "variant": df["variant"].str.split(":").str[0],
            "members": df["members"],
            "video AUC": df["video_auc"],
            "95% CI": [
                _ci(lo, hi)
                for lo, hi in zip(
                    df["video_auc_ci_lo"], df["video_auc_ci_hi"], strict=True
                )
            ],
            "acc": df["accuracy"],
            "bal_acc": df["balanced_accuracy"],
            "thr": df["val_threshold"],
            "acc@thr": df["accuracy_at_val_threshold"],
            "bal_acc@thr": df["balanced_accuracy_at_val_threshold"],
            "vote at thr": df["rule_at_val_threshold"],
            "no_face": df["n_no_face"],
            "delong_p": df["delong_p_vs_best"],
            "grouped_p (Holm)": df["grouped_p_holm"],
            "family": df["holm_family"],
            "ΔAUC [Holm-level CI]": [
                "" if pd.isna(d) else f"{d:+.3f} {_ci(lo, hi)}".rstrip()
                for d, lo, hi in zip(
                    df["auc_diff_vs_best"],
                    df["auc_diff_ci_holm_lo"],
                    df["auc_diff_ci_holm_hi"],
                    strict=True,
                )
            ],
            "power": df["power_at_relevant"],
            "verdict": df["verdict"],
        }
    )
    return out


def _cell(v, floatfmt: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float | np.floating):
        return format(float(v), floatfmt)
    return str(v).replace("|", "\\|").replace("\n", " ")


def markdown_table(df: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """A GitHub-flavoured markdown table of ``df`` (no index)."""
    cols = [str(c) for c in df.columns]
    lines = [
        "| " + " | ".join(cols) + " |",
        "|" + "|".join("---" for _ in cols) + "|",
    ]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v, floatfmt) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_summary(
    df: pd.DataFrame,
    csv_path: str | os.PathLike,
    md_path: str | os.PathLike,
    notes: str | None = None,
) -> None:
    """Write the table as CSV and as markdown: ``notes`` (see
    :func:`summary_notes`), the main columns (:func:`markdown_view`), what
    each variant is, and the verdicts."""
    write_csv(df, csv_path)
    if notes is None:
        notes = summary_notes(df)
    parts = [
        "# Results on the test split\n",
        notes,
        markdown_table(markdown_view(df)),
        "\n## Rules\n",
    ]
    seen = dict.fromkeys(df["variant"].dropna())
    parts += [f"- {v}" for v in seen]
    parts += ["\n## Verdicts\n"]
    parts += [f"- {s}" for s in df["sentence"].dropna()]
    write_text("\n".join(parts) + "\n", md_path)


def plot_roc_all(
    curves: Mapping[str, pd.DataFrame],
    out_png: str | os.PathLike,
    title: str = "ROC on the test split (video level)",
) -> None:
    """Video-level ROC of every single model and ensemble on one plot.

    Tables are frame predictions (averaged per video) or video scores.
    """
    plt = get_pyplot()
    fig, ax = plt.subplots(figsize=(7, 7))
    styles = ["-", "--", "-.", ":"]
    for i, (name, df) in enumerate(curves.items()):
        vids = _videos(df)
        pts = roc_points(vids, "video")
        if pts.empty:
            continue
        a = evaluate_video_scores(vids)["video_auc"]
        ax.plot(
            pts["fpr"],
            pts["tpr"],
            ls=styles[(i // 10) % len(styles)],
            lw=1.3,
            label=f"{name} ({a:.3f})",
        )
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=7, title="AUC", title_fontsize=7)
    save_figure(fig, out_png)


def plot_weights(
    weights: Mapping[str, Mapping[str, float]], out_png: str | os.PathLike
) -> None:
    """Grouped bar chart of soft-voting weights: ensemble -> model -> weight."""
    plt = get_pyplot()
    names = list(weights)
    models = sorted({m for w in weights.values() for m in w})
    fig, ax = plt.subplots(figsize=(max(4, 1.3 * len(names) + 2), 4))
    width = 0.8 / max(len(models), 1)
    x = np.arange(len(names))
    for j, model in enumerate(models):
        ax.bar(
            x + (j - (len(models) - 1) / 2) * width,
            [weights[n].get(model, 0.0) for n in names],
            width,
            label=model,
        )
    ax.set_xticks(x, names, rotation=20, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("weight")
    ax.set_title("soft-voting weights (Dirichlet search on validation)")
    if models:
        ax.legend(fontsize=8)
    save_figure(fig, out_png)


def plot_confusion_grid(
    cms: Mapping[str, object], out_png: str | os.PathLike, ncols: int = 4
) -> None:
    """Confusion matrices ``[[tn, fp], [fn, tp]]`` (name -> matrix) in a grid."""
    plt = get_pyplot()
    n = max(len(cms), 1)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.2 * ncols, 3.0 * nrows), squeeze=False
    )
    for ax, (name, cm) in zip(axes.flat, cms.items(), strict=False):
        if isinstance(cm, str):
            cm = json.loads(cm)
        draw_confusion(ax, cm, name)
    for ax in list(axes.flat)[len(cms) :]:
        ax.axis("off")
    fig.tight_layout()
    save_figure(fig, out_png)


def plot_training_curves(
    histories: Mapping[str, pd.DataFrame | str | os.PathLike],
    out_png: str | os.PathLike,
) -> None:
    """Loss and validation AUC per epoch, one column of panels per model.

    ``histories``: model -> history table (or path of ``history.csv``) with
    at least the columns :data:`deepfake_ensemble.predictions.HISTORY_REQUIRED`
    (``epoch, train_loss, val_loss, val_frame_auc, val_video_auc, lr,
    seconds``); an undefined validation AUC (NaN in the file) leaves a gap.
    """
    tables = {}
    for model, h in histories.items():
        df = h if isinstance(h, pd.DataFrame) else pd.read_csv(h)
        missing = [c for c in HISTORY_REQUIRED if c not in df.columns]
        if missing:
            src = "history" if isinstance(h, pd.DataFrame) else str(h)
            raise InputError(f"{src} ({model}): missing column(s) {', '.join(missing)}")
        tables[model] = df
    plt = get_pyplot()
    n = max(len(tables), 1)
    fig, axes = plt.subplots(2, n, figsize=(3.6 * n, 6), squeeze=False)
    for j, (model, df) in enumerate(tables.items()):
        top, bottom = axes[0, j], axes[1, j]
        top.plot(df["epoch"], df["train_loss"], marker=".", label="train loss")
        top.plot(df["epoch"], df["val_loss"], marker=".", label="val loss")
        top.set_title(model)
        top.set_xlabel("epoch")
        top.legend(fontsize=7)
        bottom.plot(df["epoch"], df["val_frame_auc"], marker=".", label="frame AUC")
        bottom.plot(df["epoch"], df["val_video_auc"], marker=".", label="video AUC")
        bottom.set_ylim(0, 1.01)
        bottom.set_xlabel("epoch")
        bottom.set_ylabel("validation AUC")
        bottom.legend(fontsize=7)
    for ax in axes.flat[2 * len(tables) :]:
        ax.axis("off")
    fig.tight_layout()
    save_figure(fig, out_png)
