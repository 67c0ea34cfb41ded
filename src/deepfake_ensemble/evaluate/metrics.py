"""Evaluation metrics of frame predictions, at frame and at video level.

A predictions table has the columns ``video_id, frame_index, label, score``
(score = probability of *fake*, label 1 = fake = positive class). A video's
score is the mean of its frame scores. Accuracy, sensitivity, specificity and
the confusion matrix use the rule "score above the threshold means fake"
(``score > threshold``), the same rule a member of a hard-voting ensemble
uses to cast its vote.

Ranking metrics (AUC, average precision, EER) are undefined when the labels
hold one class only; they are reported as ``None`` and nothing raises. ``None``
is the one spelling of "undefined" in every metrics dict of the package (JSON
``null``), never NaN; code that receives a metric from elsewhere (a JSON file,
a pandas cell, a training history) passes it through :func:`defined` first.
In a pandas table (the summary, the per-dataset table) an undefined metric is
pandas' missing value, written as an empty cell. The prediction table columns
are those of :mod:`deepfake_ensemble.predictions`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    confusion_matrix,
    log_loss,
    roc_auc_score,
    roc_curve,
)

from deepfake_ensemble.errors import InputError
from deepfake_ensemble.predictions import PREDICTION_COLUMNS, VIDEO_COLUMNS

#: probabilities are clipped to [EPS, 1 - EPS] before the log loss
LOG_LOSS_EPS = 1e-7


def validate_predictions(
    df: pd.DataFrame,
    source: str = "predictions",
    columns: tuple[str, ...] = PREDICTION_COLUMNS,
) -> pd.DataFrame:
    """Check a predictions table; return it with ``label`` as int.

    Raises :class:`InputError` naming ``source`` and the offending row for a
    missing column, a missing/NaN score or label, a label other than 0/1 or a
    score outside [0, 1].
    """
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(
            f"{source}: missing column(s) {', '.join(missing)} "
            f"(expected {', '.join(columns)})"
        )
    df = df.copy()

    def where(i: int) -> str:
        row = df.iloc[i]
        key = f"video_id={row['video_id']!r}"
        if "frame_index" in df.columns:
            key += f", frame_index={row['frame_index']!r}"
        return f"{source}: row {i} ({key})"

    score = pd.to_numeric(df["score"], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(score))
    if bad.size:
        raise InputError(f"{where(int(bad[0]))}: score is missing or not a number")
    bad = np.flatnonzero((score < 0) | (score > 1))
    if bad.size:
        raise InputError(
            f"{where(int(bad[0]))}: score {score[bad[0]]!r} is outside [0, 1]"
        )
    label = pd.to_numeric(df["label"], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isin(label, (0.0, 1.0)))
    if bad.size:
        raise InputError(
            f"{where(int(bad[0]))}: label {df['label'].iloc[bad[0]]!r} is not 0 or 1"
        )
    if df["video_id"].isna().any():
        i = int(np.flatnonzero(df["video_id"].isna().to_numpy())[0])
        raise InputError(f"{source}: row {i}: video_id is missing")
    df["score"] = score
    df["label"] = label.astype(int)
    df["video_id"] = df["video_id"].astype(str)
    return df


def video_scores(pred_df: pd.DataFrame, source: str = "predictions") -> pd.DataFrame:
    """One row per video: ``video_id, label, score, n_frames``.

    The video score is the mean of its frame scores. A video whose frames
    carry different labels is an error naming the video. Sorted by video_id.
    """
    df = validate_predictions(pred_df, source)
    grouped = df.groupby("video_id", sort=True)
    out = grouped.agg(
        label_min=("label", "min"),
        label_max=("label", "max"),
        score=("score", "mean"),
        n_frames=("score", "size"),
    )
    mixed = out.index[out["label_min"] != out["label_max"]]
    if len(mixed):
        raise InputError(
            f"{source}: video {mixed[0]!r} has frames labelled both 0 and 1"
        )
    out = out.reset_index().rename(columns={"label_min": "label"})
    return out[["video_id", "label", "score", "n_frames"]].astype(
        {"label": int, "n_frames": int}
    )


def defined(value) -> float | None:
    """A metric value as a float, or ``None`` when it is undefined.

    ``None``, NaN (how pandas and a training history spell a missing value)
    and an infinity (no metric here can be one) give ``None``.
    """
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _two_classes(labels: np.ndarray) -> bool:
    return np.unique(labels).size == 2


def auc(labels, scores) -> float | None:
    """ROC-AUC, or ``None`` when the labels hold a single class."""
    labels = np.asarray(labels)
    if not _two_classes(labels):
        return None
    return float(roc_auc_score(labels, np.asarray(scores, dtype=float)))


def average_precision(labels, scores) -> float | None:
    """Average precision (fake = positive), ``None`` with a single class."""
    labels = np.asarray(labels)
    if not _two_classes(labels):
        return None
    return float(average_precision_score(labels, np.asarray(scores, dtype=float)))


def eer(labels, scores) -> float | None:
    """Equal error rate: the point of the ROC curve where FPR = FNR.

    The ROC curve (every threshold, from :func:`sklearn.metrics.roc_curve`) is
    piecewise linear; the crossing of ``FPR - FNR`` through zero is located
    between two consecutive points and interpolated linearly, where FPR and
    FNR are equal by construction. ``None`` with a single class.
    """
    labels = np.asarray(labels)
    if not _two_classes(labels):
        return None
    fpr, tpr, _ = roc_curve(
        labels, np.asarray(scores, dtype=float), drop_intermediate=False
    )
    fnr = 1.0 - tpr
    diff = fpr - fnr  # non-decreasing, from -1 (0, 0) to +1 (1, 1)
    i = int(np.argmax(diff >= 0))
    if diff[i] == 0 or i == 0:
        return float(fpr[i])
    t = -diff[i - 1] / (diff[i] - diff[i - 1])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def clipped_log_loss(labels, scores) -> float | None:
    """Binary cross-entropy with scores clipped to [1e-7, 1 - 1e-7]."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return None
    p = np.clip(np.asarray(scores, dtype=float), LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    return float(log_loss(labels, p, labels=[0, 1]))


def _ratio(num: int, den: int) -> float | None:
    return float(num / den) if den else None


def balanced_accuracy(labels, predicted) -> float | None:
    """Mean of sensitivity and specificity (scikit-learn's), ``None`` with a
    single class in ``labels``."""
    labels = np.asarray(labels)
    if not _two_classes(labels):
        return None
    return float(balanced_accuracy_score(labels, np.asarray(predicted)))


def evaluate_video_scores(video_df: pd.DataFrame, threshold: float = 0.5) -> dict:
    """Video-level metrics of a table ``video_id, label, score`` (one row a video).

    Keys: ``video_auc, accuracy, balanced_accuracy, sensitivity,
    specificity, confusion_matrix [[tn, fp], [fn, tp]], average_precision,
    eer, log_loss, n_videos, threshold``.
    """
    df = validate_predictions(video_df, "video scores", VIDEO_COLUMNS)
    if df["video_id"].duplicated().any():
        vid = df.loc[df["video_id"].duplicated(), "video_id"].iloc[0]
        raise InputError(f"video scores: video {vid!r} appears more than once")
    y = df["label"].to_numpy()
    s = df["score"].to_numpy()
    pred = (s > threshold).astype(int)
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y, pred, labels=[0, 1]).ravel())
    return {
        "video_auc": auc(y, s),
        "accuracy": _ratio(tp + tn, len(y)),
        "balanced_accuracy": balanced_accuracy(y, pred),
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "confusion_matrix": [[tn, fp], [fn, tp]],
        "average_precision": average_precision(y, s),
        "eer": eer(y, s),
        "log_loss": clipped_log_loss(y, s),
        "n_videos": len(y),
        "threshold": float(threshold),
    }


def evaluate(pred_df: pd.DataFrame, threshold: float = 0.5) -> dict:
    """All metrics of a frame predictions table.

    Video level (video score = mean frame score): ``video_auc, accuracy,
    sensitivity, specificity, confusion_matrix, average_precision, eer,
    log_loss, n_videos``. Frame level: ``frame_auc, frame_average_precision,
    frame_eer, frame_log_loss, frame_accuracy, n_frames``. Fake = positive 1;
    "fake" is predicted when the score is above ``threshold``.
    """
    df = validate_predictions(pred_df)
    videos = video_scores(df)
    out = {"frame_auc": None}
    out.update(evaluate_video_scores(videos[list(VIDEO_COLUMNS)], threshold))
    out.update(frame_metrics(df, threshold))
    return out


def frame_metrics(pred_df: pd.DataFrame, threshold: float = 0.5) -> dict:
    """The frame-level half of :func:`evaluate`: ``frame_auc,
    frame_average_precision, frame_eer, frame_log_loss, frame_accuracy,
    n_frames`` (each frame one example)."""
    df = validate_predictions(pred_df)
    y = df["label"].to_numpy()
    s = df["score"].to_numpy()
    return {
        "frame_auc": auc(y, s),
        "frame_average_precision": average_precision(y, s),
        "frame_eer": eer(y, s),
        "frame_log_loss": clipped_log_loss(y, s),
        "frame_accuracy": _ratio(int(((s > threshold) == (y == 1)).sum()), len(y)),
        "n_frames": len(y),
    }


def roc_points(pred_df: pd.DataFrame, level: str = "video") -> pd.DataFrame:
    """ROC curve points ``fpr, tpr, threshold`` at ``level`` video or frame.

    At video level a table without ``frame_index`` is taken as video scores
    already. Empty table (no points) when the labels hold one class.
    """
    if level == "video":
        if "frame_index" in pred_df.columns:
            df = video_scores(pred_df)
        else:
            df = validate_predictions(pred_df, "video scores", VIDEO_COLUMNS)
    elif level == "frame":
        df = validate_predictions(pred_df)
    else:
        raise ValueError(f"level must be 'video' or 'frame', not {level!r}")
    y = df["label"].to_numpy()
    if not _two_classes(y):
        return pd.DataFrame({"fpr": [], "tpr": [], "threshold": []})
    fpr, tpr, thr = roc_curve(y, df["score"].to_numpy())
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thr})


def save_figure(fig, out_png: str | os.PathLike) -> None:
    import matplotlib.pyplot as plt

    from deepfake_ensemble.io import atomic_path

    try:
        with atomic_path(out_png, suffix=".png") as tmp:
            fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    finally:
        plt.close(fig)


def get_pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_roc(
    curves: Mapping[str, pd.DataFrame],
    out_png: str | os.PathLike,
    level: str = "video",
    title: str | None = None,
) -> None:
    """ROC curves of several prediction tables (name -> table) on one plot."""
    plt = get_pyplot()
    fig, ax = plt.subplots(figsize=(6, 6))
    for name, df in curves.items():
        pts = roc_points(df, level)
        if pts.empty:
            continue
        y = video_scores(df) if level == "video" and "frame_index" in df.columns else df
        a = auc(y["label"], y["score"])
        ax.plot(pts["fpr"], pts["tpr"], lw=1.5, label=f"{name} (AUC {a:.3f})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate (real called fake)")
    ax.set_ylabel("true positive rate (fake called fake)")
    ax.set_title(title or f"ROC ({level} level)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8)
    save_figure(fig, out_png)


def draw_confusion(ax, cm, title: str) -> None:
    cm = np.asarray(cm, dtype=int)
    ax.imshow(cm, cmap="Blues", vmin=0, vmax=max(int(cm.max()), 1))
    for (i, j), v in np.ndenumerate(cm):
        colour = "white" if v > cm.max() / 2 else "black"
        ax.text(j, i, str(v), ha="center", va="center", color=colour)
    ax.set_xticks([0, 1], ["real", "fake"])
    ax.set_yticks([0, 1], ["real", "fake"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)


def plot_confusion(cm, out_png: str | os.PathLike, title: str = "") -> None:
    """Confusion matrix ``[[tn, fp], [fn, tp]]`` as an annotated heat map."""
    cm = np.asarray(cm)
    if cm.shape != (2, 2):
        raise ValueError(f"confusion matrix must be 2x2, got shape {cm.shape}")
    plt = get_pyplot()
    fig, ax = plt.subplots(figsize=(3.5, 3.2))
    draw_confusion(ax, cm, title)
    save_figure(fig, out_png)
