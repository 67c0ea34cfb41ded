"""Stacking: a logistic-regression meta-learner on the members' scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import StratifiedGroupKFold

from deepfake_ensemble.defaults import DEFAULTS
from deepfake_ensemble.errors import InputError
from deepfake_ensemble.evaluate.ensemble.combine import _as_matrix

#: member scores are clipped to [eps, 1 - eps] before the logit (stacking)
LOGIT_EPS = 1e-6


def _logit(scores: np.ndarray) -> np.ndarray:
    p = np.clip(scores, LOGIT_EPS, 1 - LOGIT_EPS)
    return np.log(p) - np.log1p(-p)


def stacked_fit(
    val_scores,
    val_labels,
    seed: int = DEFAULTS["ensemble.seed"],
    groups=None,
    n_splits: int = 5,
):
    """Fit a logistic-regression meta-learner on members' validation scores.

    Features are the logits of the member scores (clipped to [1e-6, 1 - 1e-6]),
    so the meta-learner combines log-odds. The inverse regularisation C is
    chosen among 10 values by cross-validated log loss on the validation set
    with stratified folds grouped by ``groups`` (the video of each row, so no
    video is split between folds). With too few videos per class for two
    folds, a plain ``LogisticRegression(C=1)`` is fitted instead.
    """
    s = _as_matrix(val_scores)
    y = np.asarray(val_labels).astype(int)
    if y.shape[0] != s.shape[0]:
        raise ValueError(f"{y.shape[0]} labels for {s.shape[0]} score rows")
    if np.unique(y).size != 2:
        raise InputError("stacking needs validation predictions of both classes")
    x = _logit(s)
    g = np.arange(len(y)) if groups is None else np.asarray(groups)
    per_class = min(
        pd.Series(g[y == 0]).nunique(),
        pd.Series(g[y == 1]).nunique(),
    )
    k = min(n_splits, per_class)
    if k < 2:
        model = LogisticRegression(C=1.0, max_iter=1000)
        return model.fit(x, y)
    folds = list(
        StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(x, y, g)
    )
    model = LogisticRegressionCV(
        Cs=10,
        cv=folds,
        scoring="neg_log_loss",
        l1_ratios=(0.0,),
        use_legacy_attributes=False,
        max_iter=1000,
        random_state=seed,
    )
    return model.fit(x, y)


def stacked_predict(model, scores) -> np.ndarray:
    """Fake probability of the meta-learner for member scores (n x m)."""
    return model.predict_proba(_logit(_as_matrix(scores)))[:, 1]
