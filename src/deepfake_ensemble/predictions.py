"""The tables that pass between rules: columns and readers (pandas only).

Prediction tables (one row per frame or per video, score = probability of
*fake*, label 1 = fake) are written by ``predict`` and the ensembles and read
by evaluation and the summary; a training history is written by ``train``
and drawn by the summary. Neither side needs the other's libraries.
"""

from __future__ import annotations

import os

import pandas as pd

#: a frame prediction table, as ``predict`` writes it
PREDICTION_COLUMNS: tuple[str, ...] = ("video_id", "frame_index", "label", "score")
#: a video score table (one row per video)
VIDEO_COLUMNS: tuple[str, ...] = ("video_id", "label", "score")
#: a detector's ``history.csv``, one row per epoch
HISTORY_COLUMNS: tuple[str, ...] = (
    "epoch",
    "train_loss",
    "val_loss",
    "val_frame_auc",
    "val_video_auc",
    "lr",
    "seconds",
    "peak_gpu_mb",
    "micro_batch",
)
#: what a history must hold to be drawn (the rest is informative)
HISTORY_REQUIRED: tuple[str, ...] = HISTORY_COLUMNS[:7]


def read_predictions(path: str | os.PathLike) -> pd.DataFrame:
    """A prediction table as written (video ids stay strings)."""
    return pd.read_csv(path, dtype={"video_id": str}, keep_default_na=False)
