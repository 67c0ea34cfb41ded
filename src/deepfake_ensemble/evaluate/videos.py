"""Evaluating a detector on a whole split: every video, its group, thresholds.

The prediction tables hold only the videos a detector scored: a video in
which preprocessing found no face (or that could not be read) has no frame
and would silently vanish from evaluation, so a detector would never be
charged for it. Here the split's own list (``results/splits/{split}.csv``)
is the reference:

* every scored video must be in the split list, with the same label;
* each video gets the ``group`` of the split list (the identity or original
  it comes from), which the grouped statistics resample and delete;
* a video of the list without a score enters evaluation under the no-face
  policy: ``score`` (default) gives it the score ``no_face_score`` (0.5) for
  every detector and every ensemble; ``exclude`` leaves it out. Either way
  the number of such videos is counted (``n_no_face``).

Video-level metrics (AUC, accuracy, the tests) cover the completed video
table; frame-level metrics cover the frames a detector scored (a video with no
face has none). Also here: the operating threshold chosen on validation
(Youden's J or the equal-error point) and the test metrics at it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from deepfake_ensemble.defaults import DEFAULTS
from deepfake_ensemble.errors import InputError
from deepfake_ensemble.evaluate.metrics import (
    _two_classes,
    balanced_accuracy,
    defined,
    evaluate_video_scores,
    frame_metrics,
    validate_predictions,
    video_scores,
)
from deepfake_ensemble.predictions import VIDEO_COLUMNS

NO_FACE_POLICIES = ("score", "exclude")
THRESHOLD_RULES = ("youden", "eer")
#: the columns of a completed video table
COMPLETED_COLUMNS = ("video_id", "label", "score", "group", "no_face")
#: defaults of the ``evaluation`` config section
EVALUATION_DEFAULTS = {
    key: DEFAULTS[f"evaluation.{key}"]
    for key in (
        "no_face",
        "no_face_score",
        "threshold_rule",
        "alpha",
        "relevant_difference",
        "target_power",
    )
}


def evaluation_config(cfg: Mapping | None) -> dict:
    """The ``evaluation`` config with its defaults filled in and checked."""
    out = {**EVALUATION_DEFAULTS, **dict(cfg or {})}
    if out["no_face"] not in NO_FACE_POLICIES:
        raise InputError(
            f"evaluation.no_face {out['no_face']!r} is not one of "
            f"{', '.join(NO_FACE_POLICIES)}"
        )
    if out["threshold_rule"] not in THRESHOLD_RULES:
        raise InputError(
            f"evaluation.threshold_rule {out['threshold_rule']!r} is not one of "
            f"{', '.join(THRESHOLD_RULES)}"
        )
    score = defined(out["no_face_score"])
    if score is None or not 0 <= score <= 1:
        raise InputError(
            f"evaluation.no_face_score {out['no_face_score']!r} is not in [0, 1]"
        )
    out["no_face_score"] = score
    return out


def read_split_videos(path: str | os.PathLike) -> pd.DataFrame:
    """A split list (``results/splits/{split}.csv``) as ``video_id, label,
    group, unmerged_group, dataset``: ``unmerged_group`` is the list's group
    (the video itself where it has none), ``group`` the same with every
    group joined to those sharing a person with it (:func:`merged_groups`:
    a fake's target and source identities), the unit of every grouped
    interval and test."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    return split_videos(df, str(path))


def split_videos(df: pd.DataFrame, source: str = "split list") -> pd.DataFrame:
    """Check and normalise a split table (see :func:`read_split_videos`)."""
    missing = [c for c in ("video_id", "label") if c not in df.columns]
    if missing:
        raise InputError(f"{source}: missing column(s) {', '.join(missing)}")
    out = pd.DataFrame({"video_id": df["video_id"].astype(str)})
    label = pd.to_numeric(df["label"], errors="coerce")
    bad = ~label.isin([0, 1])
    if bad.any():
        raise InputError(
            f"{source}: video {out['video_id'][bad].iloc[0]!r} has a label "
            "other than 0/1"
        )
    out["label"] = label.astype(int).to_numpy()
    group = df["group"].astype(str) if "group" in df.columns else out["video_id"]
    out["unmerged_group"] = np.where(group.str.len() > 0, group, out["video_id"])
    identities = [
        df[c].astype(str).to_numpy()
        for c in ("identity", "source_identity")
        if c in df.columns
    ]
    out["group"] = merged_groups(out["unmerged_group"].to_numpy(), identities)
    if "dataset" in df.columns:
        out["dataset"] = df["dataset"].astype(str).to_numpy()
    else:
        out["dataset"] = out["video_id"].str.split("/", n=1).str[0]
    dup = out["video_id"].duplicated()
    if dup.any():
        raise InputError(f"{source}: video {out['video_id'][dup].iloc[0]!r} twice")
    return out.sort_values("video_id", ignore_index=True)


def merged_groups(groups, identities=()) -> np.ndarray:
    """Groups joined wherever their videos share a person (union-find).

    ``groups``: each video's group (identity or original); ``identities``:
    arrays of the people each video carries (a real clip's person, a fake's
    target and its source identity; empty where unknown). Two groups whose
    videos share any person become one, transitively, across the videos
    given (a split list): a Celeb-DF fake ``id0_id16_0000`` joins the group
    of ``id0`` to that of ``id16`` when ``id16``'s videos are in the same
    split. Each video gets the smallest group name of its merged group, so
    that groups no person joins keep their names."""
    groups = np.asarray(groups, dtype=object)
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for g in groups:
        find("g:" + str(g))
    for people in identities:
        for g, person in zip(groups, people, strict=True):
            if person and person != "nan":
                union("g:" + str(g), "p:" + str(person))
    # name each merged group by its smallest group name
    name: dict[str, str] = {}
    for g in sorted(set(map(str, groups))):
        name.setdefault(find("g:" + g), g)
    return np.array([name[find("g:" + str(g))] for g in groups], dtype=object)


def in_datasets(
    table: pd.DataFrame, datasets: Sequence[str] | None, source: str = "table"
) -> pd.DataFrame:
    """The rows of ``table`` (a split list or a prediction table) whose
    dataset is one of ``datasets`` (``None``: every row). The dataset is the
    ``dataset`` column where there is one, else the video id's prefix before
    the first ``/`` (ingest prefixes every id with its dataset)."""
    if datasets is None:
        return table
    if "dataset" in table.columns:
        ds = table["dataset"].astype(str)
    elif "video_id" in table.columns:
        ds = table["video_id"].astype(str).str.split("/", n=1).str[0]
    else:
        raise InputError(f"{source}: no dataset or video_id column")
    keep = ds.isin([str(d) for d in datasets]).to_numpy()
    if keep.all():
        return table
    return table[keep].reset_index(drop=True)


def complete_videos(
    videos: pd.DataFrame,
    split: pd.DataFrame | None = None,
    policy: str = "score",
    no_face_score: float = DEFAULTS["evaluation.no_face_score"],
    source: str = "predictions",
) -> tuple[pd.DataFrame, int]:
    """Video scores of a detector on the whole split.

    ``videos``: ``video_id, label, score`` (one row a video). ``split``: the
    split list (:func:`split_videos`), or ``None`` to take the videos as they
    are (each its own group). Returns ``(table, n_no_face)``: the table has
    :data:`COMPLETED_COLUMNS`, sorted by video id; ``n_no_face`` counts the
    split's videos the detector did not score (given ``no_face_score`` under
    policy ``score``, left out under ``exclude``).
    """
    if policy not in NO_FACE_POLICIES:
        raise InputError(f"no-face policy {policy!r} is not one of {NO_FACE_POLICIES}")
    v = validate_predictions(videos, source, VIDEO_COLUMNS)[list(VIDEO_COLUMNS)]
    if v["video_id"].duplicated().any():
        vid = v.loc[v["video_id"].duplicated(), "video_id"].iloc[0]
        raise InputError(f"{source}: video {vid!r} appears more than once")
    if split is None:
        out = v.assign(group=v["video_id"], no_face=False)
        return out.sort_values("video_id", ignore_index=True), 0
    j = split[["video_id", "label", "group"]].merge(
        v, on="video_id", how="outer", suffixes=("", "_pred"), indicator=True
    )
    stray = j[j["_merge"] == "right_only"]
    if len(stray):
        raise InputError(
            f"{source}: video {stray['video_id'].iloc[0]!r} is not in the split "
            f"list ({len(stray)} such videos): predictions of another split?"
        )
    both = j[j["_merge"] == "both"]
    bad = both["label"].astype(int) != both["label_pred"].astype(int)
    if bad.any():
        raise InputError(
            f"{source}: video {both.loc[bad, 'video_id'].iloc[0]!r} has label "
            f"{int(both.loc[bad, 'label_pred'].iloc[0])}, the split list says "
            f"{int(both.loc[bad, 'label'].iloc[0])}"
        )
    missing = j["_merge"] == "left_only"
    n_missing = int(missing.sum())
    if policy == "exclude":
        j = j[~missing]
        no_face = np.zeros(len(j), dtype=bool)
        score = j["score"].to_numpy(dtype=float)
    else:
        no_face = missing.to_numpy()
        score = np.where(no_face, no_face_score, j["score"].to_numpy(dtype=float))
    out = pd.DataFrame(
        {
            "video_id": j["video_id"].to_numpy(),
            "label": j["label"].astype(int).to_numpy(),
            "score": score,
            "group": j["group"].to_numpy(),
            "no_face": no_face,
        }
    )
    return out.sort_values("video_id", ignore_index=True), n_missing


def evaluate_on_split(
    frames: pd.DataFrame | None = None,
    videos: pd.DataFrame | None = None,
    split: pd.DataFrame | None = None,
    cfg: Mapping | None = None,
    threshold: float = 0.5,
    source: str = "predictions",
) -> tuple[dict, pd.DataFrame]:
    """Metrics of a detector on a split, and its completed video table.

    ``frames``: frame predictions (video score = mean frame score) and/or
    ``videos``: video scores (used instead of the frames' means when given).
    The video metrics (:func:`deepfake_ensemble.evaluate.metrics.evaluate_video_scores`)
    cover :func:`complete_videos`' table; the frame metrics (``None`` without
    frames) the frames scored. Adds ``n_no_face``, ``no_face_policy``,
    ``n_groups``.
    """
    cfg = evaluation_config(cfg)
    if videos is None:
        if frames is None:
            raise ValueError("evaluate_on_split needs frames or videos")
        videos = video_scores(frames, source)[list(VIDEO_COLUMNS)]
    table, n_missing = complete_videos(
        videos, split, cfg["no_face"], cfg["no_face_score"], source
    )
    out = {"frame_auc": None}
    out.update(evaluate_video_scores(table[list(VIDEO_COLUMNS)], threshold))
    if frames is not None:
        out.update(frame_metrics(frames, threshold))
    else:
        out.update(
            frame_auc=None,
            frame_average_precision=None,
            frame_eer=None,
            frame_log_loss=None,
            frame_accuracy=None,
            n_frames=None,
        )
    out.update(
        n_no_face=n_missing,
        no_face_policy=cfg["no_face"],
        n_groups=int(table["group"].nunique()),
    )
    return out, table


def choose_threshold(labels, scores, rule: str = "youden") -> float | None:
    """The operating threshold chosen on (validation) scores.

    ``youden``: the ROC point maximising Youden's J = TPR - FPR (the first of
    equal ones, i.e. the highest threshold); ``eer``: the point where FPR and
    FNR are closest. scikit-learn's ROC thresholds mean ``score >= t``; the
    returned value is the midpoint between that score and the next lower one,
    so the rule ``score > threshold`` used everywhere makes the same calls on
    these scores. ``None`` with a single class.
    """
    if rule not in THRESHOLD_RULES:
        raise InputError(f"threshold rule {rule!r} is not one of {THRESHOLD_RULES}")
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=float)
    if not _two_classes(y):
        return None
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    if rule == "youden":
        i = int(np.argmax(tpr - fpr))
    else:
        i = int(np.argmin(np.abs(fpr - (1.0 - tpr))))
    if i == 0:  # nothing called fake: above the highest score
        return float(thr[1])
    if i + 1 < len(thr):
        return float((thr[i] + thr[i + 1]) / 2)
    return float(np.nextafter(thr[i], -np.inf))  # everything called fake


def at_threshold(table: pd.DataFrame, threshold: float | None) -> dict:
    """Accuracy, balanced accuracy, sensitivity and specificity of a video
    table (``label, score``) at ``score > threshold`` (``None``: all None)."""
    keys = ("accuracy", "balanced_accuracy", "sensitivity", "specificity")
    if threshold is None or len(table) == 0:
        return dict.fromkeys(keys)
    y = table["label"].to_numpy().astype(int)
    pred = (table["score"].to_numpy(dtype=float) > threshold).astype(int)
    pos, neg = y == 1, y == 0
    return {
        "accuracy": float((pred == y).mean()),
        "balanced_accuracy": balanced_accuracy(y, pred),
        "sensitivity": float(pred[pos].mean()) if pos.any() else None,
        "specificity": float(1 - pred[neg].mean()) if neg.any() else None,
    }


def threshold_report(
    val_table: pd.DataFrame, test_table: pd.DataFrame, rule: str = "youden"
) -> dict:
    """The threshold chosen on validation and the test metrics at it.

    Keys: ``threshold_rule``, ``val_threshold`` and ``<metric>_at_val_threshold``
    for accuracy, balanced accuracy, sensitivity and specificity (on test).
    """
    thr = choose_threshold(val_table["label"], val_table["score"], rule)
    out = {"threshold_rule": rule, "val_threshold": thr}
    for key, value in at_threshold(test_table, thr).items():
        out[f"{key}_at_val_threshold"] = value
    return out
