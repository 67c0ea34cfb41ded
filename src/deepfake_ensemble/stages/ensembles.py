"""Rule of ``rules/ensembles.smk`` (environment ``envs/ensemble.yaml``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from ..ensemble import build_ensemble, load_predictions, write_ensemble_outputs
from ..evaluation import read_split_videos
from ..io import read_json

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


def ensemble(
    name: str,
    val_csvs: Mapping[str, PathLike],
    test_csvs: Mapping[str, PathLike],
    metrics_jsons: Mapping[str, PathLike],
    out_dir: PathLike,
    cfg: Mapping[str, Any],
    val_split: PathLike | None = None,
    test_split: PathLike | None = None,
    evaluation: Mapping[str, Any] | None = None,
) -> None:
    """Fit ensemble ``name`` on validation predictions, evaluate it on test;
    its files (``catalog.ENSEMBLE_FILES``) go to ``out_dir``.

    The split lists give the validation videos' groups (the folds of the
    cross-fitting) and, for the metrics, every video of val and test.
    """
    metrics = {m: read_json(p) for m, p in metrics_jsons.items()}
    splits = {
        split: read_split_videos(path)
        for split, path in (("val", val_split), ("test", test_split))
        if path is not None
    }
    val_groups = None
    if "val" in splits:
        val_groups = splits["val"].set_index("video_id")["group"].to_dict()
    result = build_ensemble(
        name,
        val_preds=load_predictions(dict(val_csvs)),
        test_preds=load_predictions(dict(test_csvs)),
        val_metrics={m: metrics[m]["val"] for m in metrics},
        model_sizes={m: metrics[m]["size"] for m in metrics},
        cfg=dict(cfg),
        val_groups=val_groups,
    )
    write_ensemble_outputs(result, out_dir, splits=splits, evaluation=evaluation)
    log.info(
        "%s: members %s (%s); validation scores %s",
        name,
        result["members"],
        result["reason"],
        result["val_fit"],
    )
