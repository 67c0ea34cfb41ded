"""Rule of ``rules/ensembles.smk`` (environment ``envs/ensemble.yaml``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from ..ensemble import build_ensemble, load_predictions, write_ensemble_outputs
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
) -> None:
    """Fit ensemble ``name`` on validation predictions, evaluate it on test;
    its files (``catalog.ENSEMBLE_FILES``) go to ``out_dir``."""
    metrics = {m: read_json(p) for m, p in metrics_jsons.items()}
    result = build_ensemble(
        name,
        val_preds=load_predictions(dict(val_csvs)),
        test_preds=load_predictions(dict(test_csvs)),
        val_metrics={m: metrics[m]["val"] for m in metrics},
        model_sizes={m: metrics[m]["size"] for m in metrics},
        cfg=dict(cfg),
    )
    write_ensemble_outputs(result, out_dir)
    log.info("%s: members %s (%s)", name, result["members"], result["reason"])
