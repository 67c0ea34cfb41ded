"""Rule of ``rules/evaluate.smk`` (environment ``envs/ensemble.yaml``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from ..evaluation import (
    evaluate_on_split,
    evaluation_config,
    in_datasets,
    read_split_videos,
    threshold_report,
)
from ..io import read_json, write_json
from ..metrics import plot_roc
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
    val_split: PathLike | None = None,
    test_split: PathLike | None = None,
    evaluation: Mapping[str, Any] | None = None,
    train_datasets: Sequence[str] | None = None,
    test_datasets: Sequence[str] | None = None,
    cell: str | None = None,
) -> None:
    """Metrics of one detector on test and val, its size and its ROC curve.

    With the split lists (``results/splits/{val,test}.csv``) every video of
    the split counts, under the no-face policy of ``evaluation``; ``test``
    also holds the test metrics at the threshold chosen on validation.

    ``train_datasets``: the datasets the detector was trained on (validation
    covers their val split only); ``test_datasets``: those of the test set
    (``deepfake_ensemble.protocols``); ``None``: every dataset. ``cell``
    names the (training set, test set) pair in the figure's title.
    """
    cfg = evaluation_config(evaluation)
    keep = {"val": train_datasets, "test": test_datasets}
    splits = {
        name: in_datasets(read_split_videos(path), keep[name], str(path))
        if path is not None
        else None
        for name, path in (("val", val_split), ("test", test_split))
    }
    test, test_table = evaluate_on_split(
        in_datasets(read_predictions(test_csv), test_datasets),
        None,
        splits["test"],
        cfg,
        source=str(test_csv),
    )
    val, val_table = evaluate_on_split(
        in_datasets(read_predictions(val_csv), train_datasets),
        None,
        splits["val"],
        cfg,
        source=str(val_csv),
    )
    test["at_val_threshold"] = threshold_report(
        val_table, test_table, cfg["threshold_rule"]
    )
    metrics = {
        "model": model,
        "test": test,
        "val": val,
        "size": read_json(size_json),
        "evaluation": cfg,
    }
    if train_datasets is not None or test_datasets is not None:
        metrics["train_datasets"] = (
            None if train_datasets is None else list(train_datasets)
        )
        metrics["test_datasets"] = (
            None if test_datasets is None else list(test_datasets)
        )
    write_json(metrics, out_json)
    plot_roc(
        {model: test_table[["video_id", "label", "score"]]},
        out_roc,
        level="video",
        title=f"{model}: video-level ROC on test" + (f" ({cell})" if cell else ""),
    )
    log.info(
        "%s: test frame AUC %s, video AUC %s, %d test video(s) without a face (%s)",
        model,
        test["frame_auc"],
        test["video_auc"],
        test["n_no_face"],
        cfg["no_face"],
    )
