"""Reading, checking and aligning the members' frame predictions.

Member predictions are joined on ``(video_id, frame_index)`` explicitly:
frames missing for a member are dropped and counted, label disagreements and
predictions of unrelated splits are errors (:class:`InputError`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from deepfake_ensemble.errors import InputError
from deepfake_ensemble.evaluate.metrics import validate_predictions
from deepfake_ensemble.predictions import PREDICTION_COLUMNS, read_predictions

KEY = ["video_id", "frame_index"]
#: below this share of common videos (Jaccard index) two members' predictions
#: are taken to describe different splits
MIN_VIDEO_OVERLAP = 0.5


def _check_member_table(df: pd.DataFrame, source: str) -> pd.DataFrame:
    df = validate_predictions(df, source)
    fi = pd.to_numeric(df["frame_index"], errors="coerce")
    if fi.isna().any():
        i = int(np.flatnonzero(fi.isna().to_numpy())[0])
        raise InputError(f"{source}: row {i}: frame_index is missing or not a number")
    df["frame_index"] = fi.astype(int)
    dup = df.duplicated(KEY, keep=False)
    if dup.any():
        row = df[dup].iloc[0]
        n = int(dup.sum())
        raise InputError(
            f"{source}: {n} rows share a (video_id, frame_index), e.g. "
            f"video {row['video_id']!r} frame {row['frame_index']}; "
            "expected one row per frame"
        )
    return df[list(PREDICTION_COLUMNS)].sort_values(KEY, ignore_index=True)


def load_predictions(
    paths: Mapping[str, str | os.PathLike],
) -> dict[str, pd.DataFrame]:
    """Read one predictions CSV per model (model -> path) and check it.

    Each file needs the columns ``video_id, frame_index, label, score``, one
    row per (video_id, frame_index), labels 0/1 and scores in [0, 1]; any
    violation raises :class:`InputError` naming the file and the row.
    """
    out: dict[str, pd.DataFrame] = {}
    for model, path in paths.items():
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: predictions of model {model!r} not found")
        try:
            df = read_predictions(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError) as e:
            raise InputError(f"{path}: cannot read predictions: {e}") from e
        out[model] = _check_member_table(df, str(path))
    return out


def align(
    preds: Mapping[str, pd.DataFrame], how: str = "inner"
) -> tuple[pd.DataFrame, dict]:
    """Join member predictions on ``(video_id, frame_index)``.

    Returns a table ``video_id, frame_index, label, <one score column per
    model>`` (sorted by video_id, frame_index) and statistics: ``models``,
    ``n_union`` (frames seen by any member), ``n_aligned`` (frames kept),
    ``n_dropped``, ``missing_per_model`` (frames of the union a member lacks),
    ``n_videos`` and ``videos_dropped`` (videos with no frame left).

    ``how="inner"`` drops a frame that any member lacks (counted above);
    ``how="strict"`` raises instead. Raises :class:`InputError` when members
    disagree on a frame's label, or when two members share less than half of
    their videos (they do not describe the same split).
    """
    if how not in ("inner", "strict"):
        raise ValueError(f"how must be 'inner' or 'strict', not {how!r}")
    models = list(preds)
    if not models:
        raise InputError("no member predictions to align")
    reserved = set(KEY) | {"label", "score"}
    for m in models:
        if m in reserved:
            raise InputError(f"model name {m!r} clashes with a column name")
    tables = {m: _check_member_table(preds[m], f"predictions of {m}") for m in models}

    videos = {m: set(t["video_id"]) for m, t in tables.items()}
    for i, a in enumerate(models):
        for b in models[i + 1 :]:
            common = len(videos[a] & videos[b])
            union = len(videos[a] | videos[b])
            if union and common / union < MIN_VIDEO_OVERLAP:
                raise InputError(
                    f"predictions of {a} and {b} do not describe the same split: "
                    f"they share {common} of {union} videos"
                )

    merged = None
    for m in models:
        t = tables[m].rename(columns={"label": f"label::{m}", "score": m})
        merged = t if merged is None else merged.merge(t, on=KEY, how="outer")
    merged = merged.sort_values(KEY, ignore_index=True)
    labels = merged[[f"label::{m}" for m in models]].to_numpy(dtype=float)
    present = ~np.isnan(labels)

    lo = np.nanmin(labels, axis=1)
    hi = np.nanmax(labels, axis=1)
    bad = np.flatnonzero(lo != hi)
    if bad.size:
        r = int(bad[0])
        who = ", ".join(
            f"{m}={int(labels[r, j])}" for j, m in enumerate(models) if present[r, j]
        )
        raise InputError(
            f"members disagree on the label of video {merged.at[r, 'video_id']!r} "
            f"frame {merged.at[r, 'frame_index']} ({who}); "
            f"{bad.size} frame(s) disagree in all"
        )

    missing = {m: int((~present[:, j]).sum()) for j, m in enumerate(models)}
    keep = present.all(axis=1)
    if how == "strict" and not keep.all():
        r = int(np.flatnonzero(~keep)[0])
        lacking = [m for j, m in enumerate(models) if not present[r, j]]
        raise InputError(
            f"video {merged.at[r, 'video_id']!r} frame {merged.at[r, 'frame_index']} "
            f"is missing from the predictions of {', '.join(lacking)} "
            f"(missing per model: {missing})"
        )
    all_videos = set(merged["video_id"])
    out = merged.loc[keep, KEY + models].copy()
    out.insert(2, "label", lo[keep].astype(int))
    out = out.reset_index(drop=True)
    if out.empty:
        raise InputError(
            f"members {', '.join(models)} have no frame in common "
            f"(missing per model: {missing})"
        )
    kept_videos = set(out["video_id"])
    stats = {
        "models": models,
        "n_union": len(merged),
        "n_aligned": len(out),
        "n_dropped": int((~keep).sum()),
        "missing_per_model": missing,
        "n_videos": len(kept_videos),
        "videos_dropped": sorted(all_videos - kept_videos),
    }
    return out, stats


def video_means(aligned: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """Per-video mean of each member's frame scores: ``video_id, label, <models>``."""
    g = aligned.groupby("video_id", sort=True)
    out = g[list(models)].mean()
    lab = g["label"].agg(["min", "max"])
    mixed = lab.index[lab["min"] != lab["max"]]
    if len(mixed):
        raise InputError(f"video {mixed[0]!r} has frames labelled both 0 and 1")
    out.insert(0, "label", lab["min"].astype(int))
    return out.reset_index()
