"""The cross-dataset matrix: every detector and ensemble, trained on each
training set, tested on each test set (``evaluation.protocol``
``cross_dataset`` or ``leave_one_out``, see :mod:`deepfake_ensemble.protocols`).

For each cell (training set, test set) and each detector or ensemble
(an ensemble's own row: its frame scores, averaged per video):

* the video AUC on the test set's whole test split (every video counts,
  under the no-face policy) with its 95% cluster-bootstrap interval (groups
  resampled, the same draws for every row of a test set);
* the threshold chosen on the training set's validation split (never on the
  target) and the test accuracy at it.

From the matrix:

* :func:`drop_table`: per detector and ensemble, the mean in-domain AUC
  (cells whose test datasets it was trained on), the mean cross-domain AUC
  and the drop between them, ranked by the mean cross-domain AUC;
* :func:`member_comparisons`: does an ensemble generalise better than its
  best member? Per training set the best member is the member with the
  highest validation video AUC on that training set (chosen on validation);
  in every cross-domain cell the ensemble and that member are compared on
  the same test videos with the paired grouped jackknife test
  (:func:`deepfake_ensemble.evaluate.stats.compare_to_best`), the p-values
  Holm-corrected over every cross-domain comparison of every ensemble (one
  family: each ensemble's cells, one per target dataset and training set);
  a cell that is not significant is "inconclusive" where the test's power
  against ``evaluation.relevant_difference`` (at the family's Bonferroni
  level) is below ``evaluation.target_power``. The ensemble the summary
  answers for is the one with the highest mean *validation* video AUC
  (chosen on validation); its yes/no comes from these tests, and the mean
  AUC difference beside it is descriptive.

NumPy, pandas, scipy, scikit-learn and matplotlib only.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..defaults import DEFAULTS
from .ensemble import rank_by_validation
from .metrics import defined, get_pyplot, save_figure
from .stats import bootstrap_auc_ci, compare_to_best, holm, power_at, verdict_of
from .videos import (
    evaluate_on_split,
    evaluation_config,
    in_datasets,
    threshold_report,
)

MATRIX_COLUMNS = [
    "protocol",
    "train_set",
    "train_datasets",
    "test_set",
    "test_datasets",
    "in_domain",
    "name",
    "kind",
    "members",
    "video_auc",
    "video_auc_ci_lo",
    "video_auc_ci_hi",
    "frame_auc",
    "val_video_auc",
    "threshold_rule",
    "val_threshold",
    "accuracy_at_val_threshold",
    "balanced_accuracy_at_val_threshold",
    "n_videos",
    "n_groups",
    "n_no_face",
]
DROP_COLUMNS = [
    "rank",
    "name",
    "kind",
    "in_domain_auc",
    "cross_domain_auc",
    "drop",
    "n_in_domain",
    "n_cross_domain",
    "mean_val_video_auc",
]
COMPARISON_COLUMNS = [
    "ensemble",
    "train_set",
    "test_set",
    "in_domain",
    "best_member",
    "ensemble_auc",
    "member_auc",
    "diff",
    "diff_ci_lo",
    "diff_ci_hi",
    "n_videos",
    "n_groups",
    "grouped_p",
    "grouped_p_holm",
    "power",
    "verdict",
]


def _mean(values) -> float | None:
    vals = [float(v) for v in values if defined(v) is not None]
    return float(np.mean(vals)) if vals else None


def evaluate_cell(
    name: str,
    test_frames: pd.DataFrame,
    test_split: pd.DataFrame,
    val_table: pd.DataFrame,
    cfg: Mapping | None = None,
    n_boot: int = DEFAULTS["ensemble.bootstrap"],
    seed: int = DEFAULTS["ensemble.seed"],
) -> tuple[dict, pd.DataFrame]:
    """Metrics of one detector or ensemble in one cell, and its completed
    test video table (``video_id, label, score, group, no_face``).

    ``test_frames``: its frame predictions (any dataset: only the videos of
    ``test_split`` are kept); ``test_split``: the test set's split list;
    ``val_table``: its completed video table on the training set's
    validation split (for the threshold)."""
    ev = evaluation_config(cfg)
    frames = test_frames[
        test_frames["video_id"].astype(str).isin(set(test_split["video_id"]))
    ]
    metrics, table = evaluate_on_split(frames, None, test_split, ev, 0.5, name)
    thr = threshold_report(val_table, table, ev["threshold_rule"])
    lo, hi, _ = bootstrap_auc_ci(
        table["video_id"],
        table["label"],
        table["score"],
        n_boot,
        seed,
        "video",
        float(ev["alpha"]),
        table["group"],
        sorted(set(test_split["group"])),
    )
    row = {
        "video_auc": metrics["video_auc"],
        "video_auc_ci_lo": lo,
        "video_auc_ci_hi": hi,
        "frame_auc": metrics["frame_auc"],
        "threshold_rule": thr["threshold_rule"],
        "val_threshold": thr["val_threshold"],
        "accuracy_at_val_threshold": thr["accuracy_at_val_threshold"],
        "balanced_accuracy_at_val_threshold": thr["balanced_accuracy_at_val_threshold"],
        "n_videos": metrics["n_videos"],
        "n_groups": metrics["n_groups"],
        "n_no_face": metrics["n_no_face"],
    }
    return row, table


def build_matrix(
    protocol: str,
    train_sets: Mapping[str, Sequence[str]],
    test_sets: Mapping[str, Sequence[str]],
    scores: Mapping[tuple[str, str], Mapping],
    val_split: pd.DataFrame,
    test_split: pd.DataFrame,
    cfg: Mapping | None = None,
    evaluation: Mapping | None = None,
) -> tuple[pd.DataFrame, dict, dict]:
    """The matrix (one row per training set, test set and detector or
    ensemble; :data:`MATRIX_COLUMNS`), the completed test video tables
    ``(train set, test set, name) -> table`` and the validation metrics
    ``(train set, name) -> metrics``.

    ``scores``: ``(train set, name) -> {"kind": "single" | "ensemble",
    "members": [...], "val": frame predictions on the training set's val
    split, "test": {test set: frame predictions}}`` (a single detector's
    ``test`` may map every test set to the same table of all test videos).
    ``cfg``: the ``ensemble`` config (``bootstrap``, ``seed``);
    ``evaluation``: the ``evaluation`` config.
    """
    cfg = dict(cfg or {})
    ev = evaluation_config(evaluation)
    n_boot = int(cfg.get("bootstrap", DEFAULTS["ensemble.bootstrap"]))
    seed = int(cfg.get("seed", DEFAULTS["ensemble.seed"]))
    rows, tables, val_metrics = [], {}, {}
    for (t, name), entry in scores.items():
        train_ds = list(train_sets[t])
        val_list = in_datasets(val_split, train_ds)
        val_frames = in_datasets(entry["val"], train_ds)
        val_m, val_table = evaluate_on_split(
            val_frames, None, val_list, ev, 0.5, f"{name} ({t}, val)"
        )
        val_metrics[(t, name)] = val_m
        for target, test_ds in test_sets.items():
            test_list = in_datasets(test_split, list(test_ds))
            row, table = evaluate_cell(
                f"{name} ({t} -> {target})",
                entry["test"][target],
                test_list,
                val_table,
                ev,
                n_boot,
                seed,
            )
            tables[(t, target, name)] = table
            rows.append(
                {
                    "protocol": protocol,
                    "train_set": t,
                    "train_datasets": "+".join(train_ds),
                    "test_set": target,
                    "test_datasets": "+".join(test_ds),
                    "in_domain": set(test_ds) <= set(train_ds),
                    "name": name,
                    "kind": entry["kind"],
                    "members": "+".join(entry.get("members") or [name]),
                    "val_video_auc": val_m["video_auc"],
                    **row,
                }
            )
    names = list(dict.fromkeys(n for _, n in scores))
    matrix = pd.DataFrame(rows, columns=MATRIX_COLUMNS)
    keys = pd.DataFrame(
        {
            "n": matrix["name"].map(names.index),
            "t": matrix["train_set"].map(list(train_sets).index),
            "s": matrix["test_set"].map(list(test_sets).index),
        }
    )
    order = keys.sort_values(["n", "t", "s"], kind="mergesort").index
    return matrix.loc[order].reset_index(drop=True), tables, val_metrics


def drop_table(matrix: pd.DataFrame) -> pd.DataFrame:
    """Per detector and ensemble: mean in-domain and cross-domain video AUC,
    the drop (in-domain minus cross-domain), the cells each mean covers and
    the mean validation video AUC; ranked by mean cross-domain AUC (best
    first; undefined last)."""
    rows = []
    for name, g in matrix.groupby("name", sort=False):
        inside = g[g["in_domain"].astype(bool)]
        cross = g[~g["in_domain"].astype(bool)]
        a_in, a_cross = _mean(inside["video_auc"]), _mean(cross["video_auc"])
        rows.append(
            {
                "name": name,
                "kind": g["kind"].iloc[0],
                "in_domain_auc": a_in,
                "cross_domain_auc": a_cross,
                "drop": None if a_in is None or a_cross is None else a_in - a_cross,
                "n_in_domain": len(inside),
                "n_cross_domain": len(cross),
                "mean_val_video_auc": _mean(
                    g.drop_duplicates("train_set")["val_video_auc"]
                ),
            }
        )
    out = pd.DataFrame(rows)
    key = out["cross_domain_auc"].astype(float).fillna(-math.inf)
    out = out.assign(_key=-key).sort_values(["_key"], kind="mergesort")
    out = out.drop(columns="_key").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out[DROP_COLUMNS]


def best_members(
    ensembles: Mapping[tuple[str, str], Sequence[str]],
    val_metrics: Mapping[tuple[str, str], Mapping],
) -> dict[tuple[str, str], str]:
    """``(train set, ensemble) -> its best member``: the member with the
    highest validation video AUC on that training set (ties: frame AUC, then
    name; :func:`deepfake_ensemble.evaluate.ensemble.rank_by_validation`)."""
    return {
        (t, e): rank_by_validation({m: val_metrics[(t, m)] for m in members})[0]
        for (t, e), members in ensembles.items()
    }


def member_comparisons(
    matrix: pd.DataFrame,
    tables: Mapping[tuple[str, str, str], pd.DataFrame],
    ensembles: Mapping[tuple[str, str], Sequence[str]],
    val_metrics: Mapping[tuple[str, str], Mapping],
    test_split: pd.DataFrame,
    test_sets: Mapping[str, Sequence[str]],
    cfg: Mapping | None = None,
    evaluation: Mapping | None = None,
) -> pd.DataFrame:
    """Every ensemble against its best member in every cell
    (:data:`COMPARISON_COLUMNS`): the paired grouped jackknife test of the
    video-AUC difference on the cell's test videos; ``grouped_p_holm`` is
    Holm-corrected over the ensemble's cross-domain cells (in-domain cells
    are shown, untested)."""
    cfg = dict(cfg or {})
    ev = evaluation_config(evaluation)
    alpha = float(ev["alpha"])
    relevant = float(ev["relevant_difference"])
    target_power = float(ev["target_power"])
    n_boot = int(cfg.get("bootstrap", DEFAULTS["ensemble.bootstrap"]))
    seed = int(cfg.get("seed", DEFAULTS["ensemble.seed"]))
    best = best_members(ensembles, val_metrics)
    cells = matrix[["train_set", "test_set", "in_domain"]].drop_duplicates()
    rows = []
    for (t, e), member in best.items():
        for cell in cells.itertuples(index=False):
            if cell.train_set != t:
                continue
            a = tables[(t, cell.test_set, e)]
            b = tables[(t, cell.test_set, member)]
            row = {
                "ensemble": e,
                "train_set": t,
                "test_set": cell.test_set,
                "in_domain": bool(cell.in_domain),
                "best_member": member,
            }
            if cell.in_domain:
                row.update(
                    ensemble_auc=_auc_of(matrix, t, cell.test_set, e),
                    member_auc=_auc_of(matrix, t, cell.test_set, member),
                )
                rows.append(row)
                continue
            universe = sorted(
                set(in_datasets(test_split, list(test_sets[cell.test_set]))["group"])
            )
            c = compare_to_best(e, a, member, b, n_boot, seed, alpha, universe)
            row.update(
                ensemble_auc=c["auc"],
                member_auc=c["best_auc"],
                diff=c["diff"],
                diff_ci_lo=c["diff_ci_lo"],
                diff_ci_hi=c["diff_ci_hi"],
                n_videos=c["n_videos"],
                n_groups=c["n_groups"],
                grouped_p=c["p_grouped"],
                _se=c["se"],
                _df=c["df"],
            )
            rows.append(row)
    for row in rows:
        if row.get("diff") is None:
            a, b = defined(row.get("ensemble_auc")), defined(row.get("member_auc"))
            row["diff"] = None if a is None or b is None else a - b
        row["verdict"] = "in domain (not tested)"
    # one Holm family: every cross-domain comparison of every ensemble
    cross = [r for r in rows if not r["in_domain"]]
    adjusted = holm([r.get("grouped_p") for r in cross])
    bonferroni = alpha / max(sum(p is not None for p in adjusted), 1)
    for r, p in zip(cross, adjusted, strict=True):
        power = power_at(relevant, r.get("_se"), r.get("_df"), bonferroni)
        r["grouped_p_holm"] = p
        r["power"] = power
        r["verdict"] = verdict_of(p, r["diff"], alpha, power, target_power)
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def _auc_of(matrix: pd.DataFrame, t: str, s: str, name: str) -> float | None:
    hit = matrix[
        (matrix["train_set"] == t)
        & (matrix["test_set"] == s)
        & (matrix["name"] == name)
    ]
    return defined(hit["video_auc"].iloc[0]) if len(hit) else None


def ensemble_vs_members(comparisons: pd.DataFrame, drop: pd.DataFrame) -> pd.DataFrame:
    """Per ensemble: its mean cross-domain AUC, that of its best member (per
    training set), the difference, its mean validation AUC, and how many of
    its cross-domain cells the Holm-corrected test calls better or worse."""
    rows = []
    val_auc = dict(zip(drop["name"], drop["mean_val_video_auc"], strict=True))
    for e, g in comparisons.groupby("ensemble", sort=False):
        cross = g[~g["in_domain"].astype(bool)]
        a, b = _mean(cross["ensemble_auc"]), _mean(cross["member_auc"])
        rows.append(
            {
                "ensemble": e,
                "best_members": ", ".join(
                    f"{t}: {m}"
                    for t, m in g.drop_duplicates("train_set")[
                        ["train_set", "best_member"]
                    ].itertuples(index=False)
                ),
                "cross_domain_auc": a,
                "best_member_cross_domain_auc": b,
                "diff": None if a is None or b is None else a - b,
                "n_cross_domain": len(cross),
                "better": int((cross["verdict"] == "better").sum()),
                "worse": int((cross["verdict"] == "worse").sum()),
                "mean_val_video_auc": val_auc.get(e),
            }
        )
    return pd.DataFrame(rows)


def choose_best_ensemble(per_ensemble: pd.DataFrame) -> str | None:
    """The ensemble with the highest mean validation video AUC over the
    training sets (chosen on validation, never on a test set; ties: the
    first listed)."""
    if per_ensemble.empty:
        return None
    key = per_ensemble["mean_val_video_auc"].astype(float).fillna(-math.inf)
    return str(per_ensemble.loc[key.idxmax(), "ensemble"])


def plot_heatmap(
    matrix: pd.DataFrame,
    name: str,
    out_png: str | os.PathLike,
    train_sets: Sequence[str],
    test_sets: Sequence[str],
) -> None:
    """One detector's or ensemble's matrix as a heatmap: training sets as
    rows, test sets as columns, the video AUC and its interval in each cell,
    in-domain cells framed."""
    plt = get_pyplot()
    g = matrix[matrix["name"] == name]
    auc = np.full((len(train_sets), len(test_sets)), np.nan)
    fig, ax = plt.subplots(
        figsize=(1.6 + 1.5 * len(test_sets), 1.2 + 0.9 * len(train_sets))
    )
    for r in g.itertuples(index=False):
        i, j = list(train_sets).index(r.train_set), list(test_sets).index(r.test_set)
        value = defined(r.video_auc)
        auc[i, j] = np.nan if value is None else value
    im = ax.imshow(auc, cmap="RdYlGn", vmin=0.5, vmax=1.0, aspect="auto")
    for r in g.itertuples(index=False):
        i, j = list(train_sets).index(r.train_set), list(test_sets).index(r.test_set)
        value = defined(r.video_auc)
        lo, hi = defined(r.video_auc_ci_lo), defined(r.video_auc_ci_hi)
        text = "n/a" if value is None else f"{value:.3f}"
        if lo is not None and hi is not None:
            text += f"\n[{lo:.2f}, {hi:.2f}]"
        ax.text(j, i, text, ha="center", va="center", fontsize=8)
        if r.in_domain:
            ax.add_patch(
                plt.Rectangle(
                    (j - 0.44, i - 0.44), 0.88, 0.88, fill=False, lw=2.5, ls="--"
                )
            )
    ax.set_xticks(range(len(test_sets)), list(test_sets), rotation=20, ha="right")
    ax.set_yticks(range(len(train_sets)), list(train_sets))
    ax.set_xlabel("tested on")
    ax.set_ylabel("trained on")
    ax.set_title(f"{name}: video AUC (framed: in domain)", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.05)
    save_figure(fig, out_png)


def _fmt(v, digits: int = 3) -> str:
    v = defined(v)
    return "n/a" if v is None else f"{v:.{digits}f}"


def _count(v) -> str:
    v = defined(v)
    return "n/a" if v is None else str(int(v))


def _fmt_p(p) -> str:
    p = defined(p)
    return "n/a" if p is None else f"{p:.3g}"


def answer(
    best: str | None, per_ensemble: pd.DataFrame, comparisons: pd.DataFrame
) -> str:
    """The paragraph answering "does the ensemble generalise better than its
    best member?" for the ensemble chosen on validation."""
    if best is None:
        return "No ensemble was built: nothing to compare.\n"
    e = per_ensemble[per_ensemble["ensemble"] == best].iloc[0]
    cross = comparisons[
        (comparisons["ensemble"] == best) & ~comparisons["in_domain"].astype(bool)
    ]
    diff = defined(e["diff"])
    n_better = int((cross["verdict"] == "better").sum())
    n_worse = int((cross["verdict"] == "worse").sum())
    n_family = int(
        (
            ~comparisons["in_domain"].astype(bool) & comparisons["grouped_p"].notna()
        ).sum()
    )
    n_inconclusive = int((cross["verdict"] == "inconclusive").sum())
    if n_better and not n_worse:
        verdict = f"**yes**: significantly better in {n_better} of its"
    elif n_worse and not n_better:
        verdict = f"**no**: significantly worse in {n_worse} of its"
    elif n_better and n_worse:
        verdict = f"**mixed**: better in {n_better}, worse in {n_worse} of its"
    else:
        verdict = (
            f"**not shown**: no significant difference ({n_inconclusive} "
            "inconclusive, too little power) in any of its"
        )
    lines = [
        f"The ensemble chosen on validation (highest mean validation video AUC, "
        f"{_fmt(e['mean_val_video_auc'])}) is `{best}`; its best member per "
        f"training set (highest validation video AUC) is {e['best_members']}. "
        f"The answer, from the paired grouped tests of the video-AUC difference "
        f"on each target's test videos, Holm-corrected over the {n_family} "
        f"cross-domain comparisons of every ensemble: {verdict} {len(cross)} "
        f"cross-domain cell(s). Descriptive, untested: mean cross-domain video "
        f"AUC `{best}` "
        f"{_fmt(e['cross_domain_auc'])}, its best member "
        f"{_fmt(e['best_member_cross_domain_auc'])}, difference "
        f"{'n/a' if diff is None else f'{diff:+.3f}'}.",
        "",
    ]
    if len(cross):
        lines.append(
            f"Per target dataset: better in {n_better}, worse in {n_worse}, "
            f"inconclusive (too little power) in {n_inconclusive}, no significant "
            f"difference or not testable in "
            f"{len(cross) - n_better - n_worse - n_inconclusive}."
        )
        lines.append("")
        for r in cross.itertuples(index=False):
            ci = (
                f"[{_fmt(r.diff_ci_lo)}, {_fmt(r.diff_ci_hi)}]"
                if defined(r.diff_ci_lo) is not None
                else "[n/a]"
            )
            lines.append(
                f"- tested on `{r.test_set}` (trained on `{r.train_set}`): "
                f"`{best}` {_fmt(r.ensemble_auc)} vs `{r.best_member}` "
                f"{_fmt(r.member_auc)}, difference "
                f"{_fmt(r.diff)} {ci} over {_count(r.n_groups)} groups, grouped p = "
                f"{_fmt_p(r.grouped_p)}, Holm {_fmt_p(r.grouped_p_holm)}: "
                f"{r.verdict}."
            )
    return "\n".join(lines) + "\n"


def matrix_view(matrix: pd.DataFrame) -> pd.DataFrame:
    """The matrix as one line per detector or ensemble and one column per
    cell (``trained on -> tested on``; ``*``: in domain), video AUC with its
    interval."""
    cells = matrix[["train_set", "test_set", "in_domain"]].drop_duplicates()
    labels = {
        (c.train_set, c.test_set): f"{c.train_set} → {c.test_set}"
        + (" *" if c.in_domain else "")
        for c in cells.itertuples(index=False)
    }
    rows = []
    for name, g in matrix.groupby("name", sort=False):
        row = {"name": name, "kind": g["kind"].iloc[0]}
        for r in g.itertuples(index=False):
            value = _fmt(r.video_auc)
            if defined(r.video_auc_ci_lo) is not None:
                value += f" [{r.video_auc_ci_lo:.2f}, {r.video_auc_ci_hi:.2f}]"
            row[labels[(r.train_set, r.test_set)]] = value
        rows.append(row)
    return pd.DataFrame(rows, columns=["name", "kind", *labels.values()])


def cross_markdown(
    protocol: str,
    train_sets: Mapping[str, Sequence[str]],
    test_sets: Mapping[str, Sequence[str]],
    matrix: pd.DataFrame,
    drop: pd.DataFrame,
    per_ensemble: pd.DataFrame,
    comparisons: pd.DataFrame,
    best: str | None,
) -> str:
    """``results/cross_dataset.md``: the sets, the matrix, the ranked drop
    table and the answer for the ensemble chosen on validation."""
    from .summary import markdown_table

    def sets(d: Mapping[str, Sequence[str]]) -> str:
        return ", ".join(f"`{k}` ({'+'.join(v)})" for k, v in d.items())

    parts = [
        f"# Cross-dataset generalisation (protocol `{protocol}`)\n",
        f"Training sets: {sets(train_sets)}. Test sets: {sets(test_sets)}. "
        "Each detector is trained on its training set's train split, its "
        "checkpoint, threshold and ensembles chosen and fitted on that set's "
        "validation split only; no training or fitting job reads a test split "
        "(rules/ensembles.smk). A cell is in domain (`*`) when the test set's "
        "datasets are among the training set's. Video AUC on the whole test "
        "split of the test set, with its 95% cluster-bootstrap interval "
        "(groups resampled); `results/cross_dataset.csv` also has the "
        "accuracy at the threshold chosen on validation.\n",
        "## Video AUC: trained on → tested on\n",
        markdown_table(matrix_view(matrix)),
        "## In domain and across datasets, ranked by mean cross-domain AUC\n",
        "`drop` = mean in-domain AUC − mean cross-domain AUC.\n",
        markdown_table(drop),
        "## Does the ensemble generalise better than its best member?\n",
        answer(best, per_ensemble, comparisons),
        "Every ensemble against its best member (per training set, chosen on "
        "validation), mean over the cross-domain cells; `better`/`worse`: "
        "cells where the Holm-corrected grouped test says so "
        "(`results/cross_dataset_members.csv` has every cell):\n",
        markdown_table(per_ensemble),
    ]
    return "\n".join(parts)
