"""The robustness table: every detector and ensemble on degraded copies of
the test set (``evaluation.robustness``).

The degraded test sets are scored by the members trained on clean data, and
every ensemble is applied with the weights fitted on clean validation
(:func:`deepfake_ensemble.evaluate.ensemble.apply_ensemble`); nothing is
trained, fitted or thresholded again. Each condition (a perturbation at a
severity, ``clean`` the undegraded test set) is one more test set of the
cross-dataset matrix (:func:`deepfake_ensemble.evaluate.cross_dataset.build_matrix`):
the video AUC on every test video (no-face policy as elsewhere) with its 95%
cluster-bootstrap interval.

From it:

* :func:`robustness_table`: AUC per name x perturbation x severity, and its
  drop from the clean AUC;
* :func:`drop_summary`: per name, the mean AUC drop over the conditions and
  the worst one;
* :func:`drop_comparisons`: is the drop of the ensemble chosen on validation
  (highest validation video AUC) smaller than that of its best member
  (highest validation video AUC among its members)? The paired grouped
  jackknife test of the contrast ``(member clean - member degraded) -
  (ensemble clean - ensemble degraded)`` on the same videos
  (:func:`deepfake_ensemble.evaluate.stats.grouped_contrast_test`): once for
  the mean drop over every condition (the answer), and per condition
  (Holm-corrected over the conditions). ``better``: the ensemble loses
  significantly less AUC than its best member.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..layout import CLEAN, parse_condition
from .ensemble import rank_by_validation
from .metrics import defined, get_pyplot, save_figure
from .stats import grouped_contrast_test, holm, power_at, verdict_of
from .videos import evaluation_config

TABLE_COLUMNS = [
    "name",
    "kind",
    "members",
    "perturbation",
    "severity",
    "condition",
    "video_auc",
    "video_auc_ci_lo",
    "video_auc_ci_hi",
    "drop",
    "n_videos",
    "n_groups",
    "n_no_face",
    "val_video_auc",
]
DROP_COLUMNS = [
    "rank",
    "name",
    "kind",
    "clean_auc",
    "mean_degraded_auc",
    "mean_drop",
    "worst_condition",
    "worst_drop",
    "n_conditions",
    "val_video_auc",
]
TEST_COLUMNS = [
    "condition",
    "ensemble",
    "best_member",
    "ensemble_drop",
    "member_drop",
    "gain",
    "gain_ci_lo",
    "gain_ci_hi",
    "n_videos",
    "n_groups",
    "grouped_p",
    "grouped_p_holm",
    "power",
    "verdict",
]
#: the row of :func:`drop_comparisons` for the mean over every condition
MEAN = "mean"


def robustness_table(matrix: pd.DataFrame) -> pd.DataFrame:
    """The matrix's rows (test set = condition) with perturbation, severity
    and the drop from the name's clean AUC (:data:`TABLE_COLUMNS`)."""
    parsed = [parse_condition(c) for c in matrix["test_set"]]
    out = matrix.assign(
        condition=matrix["test_set"],
        perturbation=[p for p, _ in parsed],
        severity=[s for _, s in parsed],
    )
    clean = out[out["condition"] == CLEAN].set_index("name")["video_auc"]
    out["drop"] = [
        None
        if defined(clean.get(n)) is None or defined(a) is None
        else float(clean[n]) - float(a)
        for n, a in zip(out["name"], out["video_auc"], strict=True)
    ]
    return out[TABLE_COLUMNS].reset_index(drop=True)


def drop_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per name: the clean AUC, the mean degraded AUC, the mean drop over the
    conditions and the worst condition; ranked by mean drop (smallest
    first)."""
    rows = []
    for name, g in table.groupby("name", sort=False):
        clean = g[g["condition"] == CLEAN]
        degraded = g[(g["condition"] != CLEAN) & g["drop"].notna()]
        worst = (
            degraded.loc[degraded["drop"].astype(float).idxmax()]
            if len(degraded)
            else None
        )
        rows.append(
            {
                "name": name,
                "kind": g["kind"].iloc[0],
                "clean_auc": defined(clean["video_auc"].iloc[0])
                if len(clean)
                else None,
                "mean_degraded_auc": _mean(degraded["video_auc"]),
                "mean_drop": _mean(degraded["drop"]),
                "worst_condition": None if worst is None else worst["condition"],
                "worst_drop": None if worst is None else float(worst["drop"]),
                "n_conditions": len(degraded),
                "val_video_auc": defined(g["val_video_auc"].iloc[0]),
            }
        )
    out = pd.DataFrame(rows)
    key = out["mean_drop"].astype(float).fillna(math.inf)
    out = out.assign(_key=key).sort_values("_key", kind="mergesort")
    out = out.drop(columns="_key").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out[DROP_COLUMNS]


def _mean(values) -> float | None:
    v = pd.to_numeric(pd.Series(values), errors="coerce").dropna()
    return float(v.mean()) if len(v) else None


def choose_ensemble(
    ensembles: Mapping[str, Sequence[str]], val_metrics: Mapping[str, Mapping]
) -> tuple[str, str] | None:
    """``(ensemble, its best member)``: the ensemble with the highest
    validation video AUC and its member with the highest validation video
    AUC (:func:`rank_by_validation`; chosen on validation only)."""
    if not ensembles:
        return None
    chosen = rank_by_validation({e: val_metrics[e] for e in ensembles})[0]
    members = ensembles[chosen]
    return chosen, rank_by_validation({m: val_metrics[m] for m in members})[0]


def _aligned(tables: Mapping[str, pd.DataFrame], keys: Sequence[str]) -> pd.DataFrame:
    """The video tables of ``keys`` on their common videos: ``video_id,
    label, group`` and one score column per key."""
    out = None
    for key in keys:
        t = tables[key][["video_id", "label", "group", "score"]].rename(
            columns={"score": key}
        )
        out = t if out is None else out.merge(t, on=["video_id", "label", "group"])
    return out.sort_values("video_id", ignore_index=True)


def drop_comparisons(
    tables: Mapping[tuple[str, str], pd.DataFrame],
    ensemble: str,
    member: str,
    conditions: Sequence[str],
    evaluation: Mapping | None = None,
) -> pd.DataFrame:
    """``ensemble`` against ``member``: the gain ``member drop - ensemble
    drop`` with its grouped jackknife interval and test, for the mean over
    ``conditions`` (first row, :data:`MEAN`) and for each condition
    (Holm-corrected over the conditions). ``tables``: ``(condition, name)
    -> completed video table``."""
    ev = evaluation_config(evaluation)
    alpha = float(ev["alpha"])
    relevant = float(ev["relevant_difference"])
    target_power = float(ev["target_power"])
    keys = {
        (c, n): f"{c}|{n}" for c in (CLEAN, *conditions) for n in (ensemble, member)
    }
    v = _aligned({keys[k]: tables[k] for k in keys}, list(keys.values()))
    labels, groups = v["label"].to_numpy(), v["group"].astype(str).to_numpy()

    def test(conds: Sequence[str]) -> dict:
        # gain = mean over conds of (m_clean - m_c) - (e_clean - e_c)
        cols = [keys[(CLEAN, ensemble)], keys[(CLEAN, member)]]
        weights = [-1.0, 1.0]
        for c in conds:
            cols += [keys[(c, ensemble)], keys[(c, member)]]
            weights += [1.0 / len(conds), -1.0 / len(conds)]
        r = grouped_contrast_test(labels, v[cols].to_numpy().T, weights, groups, alpha)
        aucs = dict(zip(cols, r["aucs"], strict=True))
        e_drop = aucs[cols[0]] - float(
            np.mean([aucs[keys[(c, ensemble)]] for c in conds])
        )
        m_drop = aucs[cols[1]] - float(
            np.mean([aucs[keys[(c, member)]] for c in conds])
        )
        return {
            "ensemble": ensemble,
            "best_member": member,
            "ensemble_drop": e_drop,
            "member_drop": m_drop,
            "gain": r["diff"],
            "gain_ci_lo": r["diff_ci_lo"],
            "gain_ci_hi": r["diff_ci_hi"],
            "n_videos": len(v),
            "n_groups": r["n_groups"],
            "grouped_p": r["p"],
            "_se": r["se"],
            "_df": r["df"],
        }

    rows = [{"condition": MEAN, **test(conditions)}]
    rows[0]["grouped_p_holm"] = rows[0]["grouped_p"]
    rows[0]["power"] = power_at(relevant, rows[0]["_se"], rows[0]["_df"], alpha)
    per = [{"condition": c, **test([c])} for c in conditions]
    adjusted = holm([r["grouped_p"] for r in per])
    bonferroni = alpha / max(sum(p is not None for p in adjusted), 1)
    for r, p in zip(per, adjusted, strict=True):
        r["grouped_p_holm"] = p
        r["power"] = power_at(relevant, r["_se"], r["_df"], bonferroni)
    rows += per
    for r in rows:
        r["verdict"] = verdict_of(
            r["grouped_p_holm"], r["gain"], alpha, r["power"], target_power
        )
    return pd.DataFrame(rows, columns=TEST_COLUMNS)


def plot_robustness(
    table: pd.DataFrame,
    out_png: str | os.PathLike,
    highlight: Sequence[str] = (),
) -> None:
    """AUC against severity, one panel per perturbation (severity 0: the
    clean test set): a line per single detector, the ``highlight``ed names
    (the chosen ensemble, its best member) bold, the other ensembles thin."""
    plt = get_pyplot()
    perts = [p for p in dict.fromkeys(table["perturbation"]) if p != CLEAN]
    cols = min(3, max(len(perts), 1))
    rows = math.ceil(max(len(perts), 1) / cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(4.2 * cols, 3.4 * rows),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    clean = table[table["condition"] == CLEAN].set_index("name")["video_auc"]
    for ax, pert in zip(axes.flat, perts, strict=False):
        g = table[table["perturbation"] == pert]
        for name, h in g.groupby("name", sort=False):
            h = h.sort_values("severity")
            x = [0, *h["severity"].astype(int)]
            y = [defined(clean.get(name)), *map(defined, h["video_auc"])]
            y = [np.nan if a is None else a for a in y]
            kind = h["kind"].iloc[0]
            if name in highlight:
                style = {"lw": 2.6, "marker": "o", "zorder": 3}
            elif kind == "single":
                style = {"lw": 1.4, "marker": ".", "ls": "--"}
            else:
                style = {"lw": 0.7, "color": "0.7", "zorder": 1}
            label = name if (name in highlight or kind == "single") else None
            ax.plot(x, y, label=label, **style)
        ax.axhline(0.5, color="0.5", lw=0.6, ls=":")
        ax.set_title(pert)
        ax.set_xlabel("severity (0: clean)")
        ax.set_xticks(range(0, 6))
    for ax in axes.flat[len(perts) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("video AUC")
    axes.flat[0].legend(fontsize=7, loc="lower left")
    fig.suptitle("Video AUC under degradation (thin grey: the other ensembles)")
    save_figure(fig, out_png)


def _fmt(v, digits: int = 3) -> str:
    v = defined(v)
    return "n/a" if v is None else f"{v:.{digits}f}"


def answer(tests: pd.DataFrame) -> str:
    """The paragraph answering "is the chosen ensemble's drop smaller than
    its best member's?"."""
    if tests.empty:
        return "No ensemble was built: nothing to compare.\n"
    m = tests.iloc[0]
    word = {
        "better": "**yes**: its drop is significantly smaller",
        "worse": "**no**: its drop is significantly larger",
        "no significant difference": "**no significant difference**",
        "inconclusive": "**not shown**: no significant difference, and too "
        "little power to rule out one of the relevant size (inconclusive)",
        "not testable": "**not testable** on these test videos",
    }[m["verdict"]]
    per = tests.iloc[1:]
    counts = per["verdict"].value_counts().to_dict()
    ci = (
        f"[{_fmt(m['gain_ci_lo'])}, {_fmt(m['gain_ci_hi'])}]"
        if defined(m["gain_ci_lo"]) is not None
        else "[n/a]"
    )
    return (
        f"The ensemble chosen on validation (highest validation video AUC) is "
        f"`{m['ensemble']}`; its best member (highest validation video AUC) is "
        f"`{m['best_member']}`. Mean AUC drop from clean over the "
        f"{len(per)} condition(s): `{m['ensemble']}` {_fmt(m['ensemble_drop'])}, "
        f"`{m['best_member']}` {_fmt(m['member_drop'])}; gain (member drop − "
        f"ensemble drop) {_fmt(m['gain'])} {ci} over {m['n_groups']} groups, "
        f"grouped p = {_fmt(m['grouped_p'])}, power "
        f"{_fmt(m['power'], 2)}: {word}. Per condition (Holm-corrected over the "
        f"conditions): "
        + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        + ".\n"
    )


def auc_view(table: pd.DataFrame) -> pd.DataFrame:
    """One line per name, one column per condition: AUC [95% interval]."""
    rows = []
    for name, g in table.groupby("name", sort=False):
        row = {"name": name}
        for r in g.itertuples(index=False):
            value = _fmt(r.video_auc)
            if defined(r.video_auc_ci_lo) is not None:
                value += f" [{r.video_auc_ci_lo:.2f}, {r.video_auc_ci_hi:.2f}]"
            row[r.condition] = value
        rows.append(row)
    return pd.DataFrame(rows)


def robustness_markdown(
    table: pd.DataFrame, drops: pd.DataFrame, tests: pd.DataFrame, figure: str
) -> str:
    """``results/robustness.md``: the answer, the drop table, the per-test
    table and the AUC of every name under every condition."""
    from .summary import markdown_table

    conditions = [c for c in dict.fromkeys(table["condition"]) if c != CLEAN]
    return "\n".join(
        [
            "# Robustness to degradation\n",
            f"The test videos degraded at the video level ({len(conditions)} "
            "condition(s): perturbation-severity, levels of DeeperForensics-1.0, "
            "docs/robustness.md), preprocessed with the same settings and scored "
            "by the members trained on clean videos; every ensemble applied with "
            "its weights and threshold fitted on clean validation (nothing "
            "refitted). Video AUC with its 95% cluster-bootstrap interval "
            f"(groups resampled). Figure: `{figure}`.\n",
            "## Is the ensemble's drop smaller than its best member's?\n",
            answer(tests),
            markdown_table(tests),
            "## Mean AUC drop from clean, per detector and ensemble\n",
            "Ranked by mean drop over the conditions (smallest first).\n",
            markdown_table(drops),
            "## Video AUC per condition\n",
            markdown_table(auc_view(table)),
        ]
    )
