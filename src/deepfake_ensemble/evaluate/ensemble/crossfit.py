"""Cross-fitting within validation: out-of-fold scores of a fitted ensemble.

Soft-voting weights, the stacker and member calibrators are fitted on
validation predictions. Scored on the same predictions they were fitted on,
an ensemble looks better on validation than it is. Cross-fitting splits the
validation videos into folds *by group* (identity or original video; no
group in two folds, classes stratified): each fold is scored by the fit on
the other folds, so every validation score is out-of-fold. The test split is
scored by the fit on all of validation, as before.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from ...defaults import DEFAULTS

#: how an ensemble's validation scores were obtained
OUT_OF_FOLD = "out_of_fold"
IN_SAMPLE = "in_sample"
NO_FIT = "no_fit"
FIT_MODES = ("crossfit", "in_sample")


def group_folds(
    labels,
    groups,
    n_splits: int = DEFAULTS["ensemble.crossfit_folds"],
    seed: int = DEFAULTS["ensemble.seed"],
) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Stratified folds of rows by group (scikit-learn's StratifiedGroupKFold).

    At most ``n_splits`` folds and no more than there are groups; a fold
    count whose training parts lack a class is lowered. ``None`` when fewer
    than two usable folds exist (too few groups).
    """
    y = np.asarray(labels).astype(int)
    g = pd.factorize(pd.Series(np.asarray(groups)).astype(str))[0]
    n_groups = int(g.max()) + 1 if g.size else 0
    for k in range(min(int(n_splits), n_groups), 1, -1):
        cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        try:
            folds = list(cv.split(np.zeros(len(y)), y, g))
        except ValueError:
            continue
        if all(np.unique(y[train]).size == 2 for train, _ in folds):
            return folds
    return None


def crossfit(
    fit: Callable,
    predict: Callable,
    x: np.ndarray,
    y,
    groups,
    mode: str = "crossfit",
    n_splits: int = DEFAULTS["ensemble.crossfit_folds"],
    seed: int = DEFAULTS["ensemble.seed"],
) -> tuple[object, np.ndarray, dict]:
    """Fit on all rows; validation scores out-of-fold (``mode="crossfit"``).

    ``fit(x, y, groups) -> model``, ``predict(model, x) -> scores``. Returns
    ``(model fitted on all rows, validation scores, info)``; ``info`` says
    how the validation scores were obtained: ``{"val_scores": "out_of_fold",
    "folds": k, "by": "group"}``, or ``"in_sample"`` with the reason (asked
    for, or too few groups for two folds).
    """
    if mode not in FIT_MODES:
        raise ValueError(f"fit mode must be one of {FIT_MODES}, not {mode!r}")
    x = np.asarray(x, dtype=float)
    y = np.asarray(y).astype(int)
    groups = np.asarray(groups).astype(str)
    model = fit(x, y, groups)
    if mode == "in_sample":
        return model, predict(model, x), {"val_scores": IN_SAMPLE, "reason": "asked"}
    folds = group_folds(y, groups, n_splits, seed)
    if folds is None:
        n_groups = len(set(groups))
        return (
            model,
            predict(model, x),
            {
                "val_scores": IN_SAMPLE,
                "reason": f"too few groups for two folds ({n_groups})",
            },
        )
    oof = np.empty(len(y))
    for train, held in folds:
        part = fit(x[train], y[train], groups[train])
        oof[held] = predict(part, x[held])
    info = {"val_scores": OUT_OF_FOLD, "folds": len(folds), "by": "group"}
    return model, oof, info
