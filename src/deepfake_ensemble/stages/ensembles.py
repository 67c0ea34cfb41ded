"""Rules of ``rules/ensembles.smk`` (environment ``envs/ensemble.yaml``).

``ensemble`` fits one ensemble on the validation predictions of one training
set and reads nothing of any test split; ``ensemble_test`` applies that fit,
as written, to every test set.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from ..ensemble import (
    apply_ensemble,
    build_ensemble,
    load_predictions,
    read_ensemble_fit,
    write_ensemble_fit,
    write_ensemble_test,
)
from ..evaluation import (
    evaluate_on_split,
    evaluation_config,
    in_datasets,
    read_split_videos,
)
from ..io import read_json

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


def ensemble(
    name: str,
    val_csvs: Mapping[str, PathLike],
    size_jsons: Mapping[str, PathLike],
    out_dir: PathLike,
    cfg: Mapping[str, Any],
    val_split: PathLike,
    evaluation: Mapping[str, Any] | None = None,
    train_datasets: Sequence[str] | None = None,
) -> None:
    """Fit ensemble ``name`` on validation predictions (``val_csvs``: model ->
    its predictions on the training set's val split); its fit's files
    (``catalog.ENSEMBLE_FIT_FILES``) go to ``out_dir``.

    Members are chosen on each model's validation metrics over the whole val
    split of ``train_datasets`` (every video counts, under the no-face policy
    of ``evaluation``) and on their checkpoint sizes (``size_jsons``); the
    split list gives the validation videos' groups (the folds of the
    cross-fitting).
    """
    ev = evaluation_config(evaluation)
    split = in_datasets(read_split_videos(val_split), train_datasets, str(val_split))
    val_preds = {
        m: in_datasets(df, train_datasets)
        for m, df in load_predictions(dict(val_csvs)).items()
    }
    val_metrics = {
        m: evaluate_on_split(df, None, split, ev, source=str(val_csvs[m]))[0]
        for m, df in val_preds.items()
    }
    result = build_ensemble(
        name,
        val_preds=val_preds,
        test_preds=None,
        val_metrics=val_metrics,
        model_sizes={m: read_json(p) for m, p in size_jsons.items()},
        cfg=dict(cfg),
        val_groups=split.set_index("video_id")["group"].to_dict(),
    )
    write_ensemble_fit(result, out_dir)
    log.info(
        "%s: members %s (%s); validation scores %s",
        name,
        result["members"],
        result["reason"],
        result["val_fit"],
    )


def ensemble_test(
    fit_files: Mapping[str, PathLike],
    test_csvs: Mapping[str, PathLike],
    out_dirs: Mapping[str, PathLike],
    test_sets: Mapping[str, Sequence[str] | None],
    val_split: PathLike,
    test_split: PathLike,
    evaluation: Mapping[str, Any] | None = None,
    train_datasets: Sequence[str] | None = None,
) -> None:
    """Apply a fitted ensemble to every test set.

    ``fit_files``: the fit's ``members, weights, val_frames, val_videos``
    (rule ``ensemble``); ``test_csvs``: model -> its test predictions (every
    dataset's test videos); ``test_sets``: test set -> its datasets
    (``None``: all), ``out_dirs``: test set -> the folder of its files
    (``catalog.ENSEMBLE_TEST_FILES``). The metrics cover the whole test split
    of the test set's datasets; the threshold is chosen on the fit's
    validation scores (the val split of ``train_datasets``).
    """
    fit = read_ensemble_fit(
        fit_files["members"],
        fit_files["weights"],
        fit_files["val_frames"],
        fit_files["val_videos"],
    )
    test_all = load_predictions({m: test_csvs[m] for m in fit["members"]})
    val_list = in_datasets(read_split_videos(val_split), train_datasets, str(val_split))
    test_list = read_split_videos(test_split)
    for target, datasets in test_sets.items():
        applied = apply_ensemble(
            fit, {m: in_datasets(df, datasets) for m, df in test_all.items()}
        )
        result = {
            **fit,
            "test_frames": applied["test_frames"],
            "test_videos": applied["test_videos"],
            "alignment": {
                "val": fit["alignment"].get("val"),
                "test": applied["alignment"],
            },
        }
        metrics = write_ensemble_test(
            result,
            out_dirs[target],
            splits={
                "val": val_list,
                "test": in_datasets(test_list, datasets, str(test_split)),
            },
            evaluation=evaluation,
        )
        log.info(
            "%s on %s: video AUC %s (%d videos)",
            fit["name"],
            target,
            metrics["video_auc"],
            metrics["n_videos"],
        )
