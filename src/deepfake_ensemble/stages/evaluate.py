"""Rule of ``rules/evaluate.smk`` (environment ``envs/ensemble.yaml``)."""

from __future__ import annotations

import logging
import os

from ..io import read_json, write_json
from ..metrics import evaluate, plot_roc
from ..predictions import read_predictions

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


def evaluate_model(
    model: str,
    val_csv: PathLike,
    test_csv: PathLike,
    size_json: PathLike,
    out_json: PathLike,
    out_roc: PathLike,
) -> None:
    """Metrics of one detector on test and val, its size and its ROC curve."""
    test = read_predictions(test_csv)
    metrics = {
        "model": model,
        "test": evaluate(test),
        "val": evaluate(read_predictions(val_csv)),
        "size": read_json(size_json),
    }
    write_json(metrics, out_json)
    plot_roc(
        {model: test}, out_roc, level="video", title=f"{model}: video-level ROC on test"
    )
    log.info(
        "%s: test frame AUC %s, video AUC %s",
        model,
        metrics["test"]["frame_auc"],
        metrics["test"]["video_auc"],
    )
