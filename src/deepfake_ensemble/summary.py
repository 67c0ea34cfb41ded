"""The results table of the study and its plots.

One row per single model, per ensemble (video score = mean of its frame
scores) and per ensemble's video-level variant (``<name>@video``), each with
every metric of :func:`deepfake_ensemble.metrics.evaluate`, bootstrap
intervals of the frame and video AUC (videos resampled) and a paired DeLong
comparison at video level with the best single model, "best" being chosen on
*validation* video AUC (never on test).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from deepfake_ensemble.ensemble import rank_by_validation
from deepfake_ensemble.errors import InputError
from deepfake_ensemble.io import write_csv, write_text
from deepfake_ensemble.metrics import (
    defined,
    draw_confusion,
    evaluate,
    evaluate_video_scores,
    get_pyplot,
    roc_points,
    save_figure,
    video_scores,
)
from deepfake_ensemble.predictions import HISTORY_COLUMNS
from deepfake_ensemble.stats import bootstrap_auc_ci, compare_to_best

METRIC_COLUMNS = [
    "frame_auc",
    "video_auc",
    "accuracy",
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
SUMMARY_COLUMNS = [
    "name",
    "kind",
    "level",
    "members",
    *METRIC_COLUMNS,
    "frame_auc_ci_lo",
    "frame_auc_ci_hi",
    "video_auc_ci_lo",
    "video_auc_ci_hi",
    "best_single",
    "delong_z_vs_best",
    "delong_p_vs_best",
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


def build_summary(
    single: Mapping[str, Mapping],
    ensembles: Mapping[str, Mapping],
    cfg: Mapping | None = None,
) -> pd.DataFrame:
    """The results table (columns :data:`SUMMARY_COLUMNS`).

    ``single``: model -> ``{"test": predictions, "val": predictions, "size":
    {...}}``. ``ensembles``: name -> ``{"test_frames": predictions,
    "test_videos": video scores, "members": [...]}`` (the dict of
    :func:`deepfake_ensemble.ensemble.build_ensemble` will do). ``cfg`` is the
    ``ensemble`` config: ``bootstrap`` (resamples, default 1000), ``seed``,
    ``alpha`` (0.05), ``threshold`` (0.5).
    """
    cfg = dict(cfg or {})
    n_boot = int(cfg.get("bootstrap", 1000))
    seed = int(cfg.get("seed", 1))
    alpha = float(cfg.get("alpha", 0.05))
    threshold = float(cfg.get("threshold", 0.5))
    if not single:
        raise InputError("the summary needs at least one single model")
    val_metrics = {m: evaluate(d["val"], threshold) for m, d in single.items()}
    best = rank_by_validation(val_metrics)[0]
    best_videos = _videos(single[best]["test"])

    def ci(df: pd.DataFrame, level: str) -> tuple:
        lo, hi, _ = bootstrap_auc_ci(
            df["video_id"], df["label"], df["score"], n_boot, seed, level, alpha
        )
        return lo, hi

    def compare(name: str, videos: pd.DataFrame) -> dict:
        if name == best:
            val_auc = defined(val_metrics[best]["video_auc"])
            shown = "undefined" if val_auc is None else f"{val_auc:.3f}"
            return {
                "delong_z_vs_best": None,
                "delong_p_vs_best": None,
                "verdict": "best single model",
                "sentence": f"{name}: best single model on validation video AUC "
                f"({shown}); the reference of the comparisons.",
            }
        c = compare_to_best(name, videos, best, best_videos, n_boot, seed, alpha)
        return {
            "delong_z_vs_best": c["z"],
            "delong_p_vs_best": c["p"],
            "verdict": c["verdict"],
            "sentence": c["sentence"],
        }

    rows = []
    for model in sorted(single):
        test = single[model]["test"]
        row = {"name": model, "kind": "single", "level": "frames", "members": model}
        row.update(_metric_row(evaluate(test, threshold)))
        row["frame_auc_ci_lo"], row["frame_auc_ci_hi"] = ci(test, "frame")
        row["video_auc_ci_lo"], row["video_auc_ci_hi"] = ci(test, "video")
        row["best_single"] = best
        row.update(compare(model, _videos(test)))
        rows.append(row)
    for name, ens in ensembles.items():
        members = "+".join(ens.get("members", []))
        frames = ens["test_frames"]
        row = {"name": name, "kind": "ensemble", "level": "frames", "members": members}
        row.update(_metric_row(evaluate(frames, threshold)))
        row["frame_auc_ci_lo"], row["frame_auc_ci_hi"] = ci(frames, "frame")
        row["video_auc_ci_lo"], row["video_auc_ci_hi"] = ci(frames, "video")
        row["best_single"] = best
        row.update(compare(name, _videos(frames)))
        rows.append(row)
        if ens.get("test_videos") is not None:
            vids = _videos(ens["test_videos"])
            vname = f"{name}@video"
            row = {"name": vname, "kind": "ensemble", "level": "video"}
            row["members"] = members
            row.update(_metric_row(evaluate_video_scores(vids, threshold)))
            row["n_frames"] = len(frames)
            row["frame_auc_ci_lo"] = row["frame_auc_ci_hi"] = None
            row["video_auc_ci_lo"], row["video_auc_ci_hi"] = ci(vids, "video")
            row["best_single"] = best
            row.update(compare(vname, vids))
            rows.append(row)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


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


MARKDOWN_COLUMNS = [
    "name",
    "members",
    "video_auc",
    "video_auc_ci_lo",
    "video_auc_ci_hi",
    "frame_auc",
    "accuracy",
    "sensitivity",
    "specificity",
    "eer",
    "log_loss",
    "delong_p_vs_best",
    "verdict",
]


def write_summary(
    df: pd.DataFrame, csv_path: str | os.PathLike, md_path: str | os.PathLike
) -> None:
    """Write the table as CSV and as markdown (main columns + verdicts)."""
    write_csv(df, csv_path)
    best = df["best_single"].dropna()
    parts = [
        "# Results on the test split\n",
        "Video score = mean of frame scores (`<name>@video`: the ensemble rule "
        "applied to per-video mean member scores). AUC intervals: 95% "
        "percentile bootstrap over videos. DeLong: paired test of video AUC "
        "against the best single model"
        + (f" (`{best.iloc[0]}`, chosen on validation video AUC)" if len(best) else "")
        + ".\n",
        markdown_table(df[[c for c in MARKDOWN_COLUMNS if c in df.columns]]),
        "\n## Verdicts\n",
    ]
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
    the columns :data:`deepfake_ensemble.predictions.HISTORY_COLUMNS`
    (``epoch, train_loss, val_loss, val_frame_auc, val_video_auc, lr,
    seconds``); an undefined validation AUC (NaN in the file) leaves a gap.
    """
    tables = {}
    for model, h in histories.items():
        df = h if isinstance(h, pd.DataFrame) else pd.read_csv(h)
        missing = [c for c in HISTORY_COLUMNS if c not in df.columns]
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
