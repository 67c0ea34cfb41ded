"""Calibrating a member's scores on validation (scikit-learn's calibration).

A member whose scores never leave (0.12, 0.88), or all sit above 0.5, votes
"fake" for nearly everything at the fixed threshold 0.5 however well it ranks
videos. Calibration maps its scores to probabilities fitted on validation
labels, so that 0.5 becomes a sensible threshold before hard voting:

* ``platt``: Platt's sigmoid on the logit of the score (scikit-learn's
  ``CalibratedClassifierCV(method="sigmoid")``, with Platt's smoothed targets);
* ``isotonic``: a monotone step function (``method="isotonic"``).

The member's scores enter scikit-learn as the decision function of a frozen
pass-through classifier, so both methods are scikit-learn's own code.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

from deepfake_ensemble.errors import InputError

#: config value -> scikit-learn's name of the method
CALIBRATION_METHODS = {"platt": "sigmoid", "isotonic": "isotonic"}
#: scores are clipped to [eps, 1 - eps] before the logit
LOGIT_EPS = 1e-6


class ScorePassThrough(ClassifierMixin, BaseEstimator):
    """A "classifier" whose decision function is the logit of column 0 of X
    (a member's score): what the calibrator is fitted on."""

    def fit(self, X, y=None):  # noqa: N803 - scikit-learn's argument names
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X):  # noqa: N803
        p = np.clip(np.asarray(X, dtype=float)[:, 0], LOGIT_EPS, 1 - LOGIT_EPS)
        return np.log(p) - np.log1p(-p)

    def predict(self, X):  # noqa: N803
        return (np.asarray(X, dtype=float)[:, 0] > 0.5).astype(int)


def fit_calibrator(scores, labels, method: str = "platt") -> CalibratedClassifierCV:
    """Fit a calibrator of one member's scores (1-d) on their labels."""
    if method not in CALIBRATION_METHODS:
        raise InputError(
            f"calibration {method!r} is not one of {', '.join(CALIBRATION_METHODS)}"
        )
    x = np.asarray(scores, dtype=float).reshape(-1, 1)
    y = np.asarray(labels).astype(int)
    if np.unique(y).size != 2:
        raise InputError("calibration needs validation predictions of both classes")
    base = FrozenEstimator(ScorePassThrough().fit(x, y))
    # one "split" holding every example: the frozen scores of all of them fit
    # the calibrator (nothing is trained, so there is nothing to hold out)
    every = np.arange(len(y))
    cal = CalibratedClassifierCV(
        base, method=CALIBRATION_METHODS[method], cv=[(every, every)]
    )
    return cal.fit(x, y)


def calibrate(calibrator: CalibratedClassifierCV, scores) -> np.ndarray:
    """Calibrated fake probabilities of scores (1-d)."""
    x = np.asarray(scores, dtype=float).reshape(-1, 1)
    return calibrator.predict_proba(x)[:, 1]


def fit_member_calibrators(scores, labels, method: str = "platt") -> list:
    """One calibrator per member (column of the n x m score matrix)."""
    s = np.asarray(scores, dtype=float)
    return [fit_calibrator(s[:, j], labels, method) for j in range(s.shape[1])]


def calibrate_members(calibrators, scores) -> np.ndarray:
    """Apply :func:`fit_member_calibrators`' calibrators column by column."""
    s = np.asarray(scores, dtype=float)
    if s.shape[1] != len(calibrators):
        raise ValueError(f"{len(calibrators)} calibrators for {s.shape[1]} members")
    return np.column_stack([calibrate(c, s[:, j]) for j, c in enumerate(calibrators)])
