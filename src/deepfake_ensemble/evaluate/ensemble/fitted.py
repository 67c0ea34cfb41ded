"""A fitted ensemble as plain parameters, and applied to new member scores.

What :func:`deepfake_ensemble.evaluate.ensemble.build_ensemble` fits on validation is
written to the ensemble's ``weights.json`` as plain JSON (nothing pickled):

* ``soft``: the Dirichlet weights per level (``weights.frame``,
  ``weights.video``: member -> weight);
* ``stacked``: the meta-learner's coefficients and intercept per level
  (``meta.frame``, ``meta.video``: ``coef`` member -> value, ``intercept``);
* ``hard_calibrated``: each member's calibrator per level
  (``meta.calibrators.frame``, ``meta.calibrators.video``: one entry per
  member, :func:`calibrator_params`);
* ``hard`` and ``hard_tiebreak`` fit nothing.

:func:`apply_fitted` applies such a description to an n x m matrix of member
scores with the package's own combination rules (:func:`hard_vote`,
:func:`hard_vote_tiebreak`, :func:`soft_vote`, :func:`stacked_predict` on a
logistic regression rebuilt from its coefficients) and gives, to float
rounding, the scores the fitted objects give (``tests/test_ensemble.py``
checks it). :func:`ensemble_video_scores` turns member frame predictions into
an ensemble's video scores exactly as the workflow does: per frame, then the
video mean (the ensemble's own row) and, for the ``@video`` variant, the rule
on the members' video means.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from deepfake_ensemble.errors import InputError
from deepfake_ensemble.evaluate.ensemble.alignment import align, video_means
from deepfake_ensemble.evaluate.ensemble.calibration import LOGIT_EPS
from deepfake_ensemble.evaluate.ensemble.combine import (
    hard_vote,
    hard_vote_tiebreak,
    soft_vote,
)
from deepfake_ensemble.evaluate.ensemble.stacking import stacked_predict

LEVELS = ("frame", "video")
#: combination methods that fit nothing
FIXED = {"hard": hard_vote, "hard_tiebreak": hard_vote_tiebreak}


def _logit(scores) -> np.ndarray:
    p = np.clip(np.asarray(scores, dtype=float), LOGIT_EPS, 1 - LOGIT_EPS)
    return np.log(p) - np.log1p(-p)


# ---------------------------------------------------------------- calibrators


def calibrator_params(calibrator) -> dict[str, Any]:
    """The plain parameters of a calibrator of
    :func:`deepfake_ensemble.evaluate.ensemble.calibration.fit_calibrator` (a
    scikit-learn ``CalibratedClassifierCV`` fitted on one split):
    ``{"method": "platt", "a", "b"}`` (probability ``expit(-(a f + b))`` of
    the score's logit ``f``) or ``{"method": "isotonic", "x", "y", "x_min",
    "x_max"}`` (linear interpolation of the logit, clipped to the fitted
    range)."""
    fitted = calibrator.calibrated_classifiers_
    if len(fitted) != 1 or len(fitted[0].calibrators) != 1:
        raise ValueError("expected one calibrator fitted on one split")
    cal = fitted[0].calibrators[0]
    if fitted[0].method == "sigmoid":
        return {"method": "platt", "a": float(cal.a_), "b": float(cal.b_)}
    if fitted[0].method == "isotonic":
        return {
            "method": "isotonic",
            "x": [float(v) for v in cal.X_thresholds_],
            "y": [float(v) for v in cal.y_thresholds_],
            "x_min": float(cal.X_min_),
            "x_max": float(cal.X_max_),
        }
    raise ValueError(f"calibration method {fitted[0].method!r} has no plain form")


def calibrate_params(params: Mapping[str, Any], scores) -> np.ndarray:
    """Calibrated fake probabilities of one member's scores (1-d), from
    :func:`calibrator_params`' description (as scikit-learn computes them)."""
    f = _logit(np.asarray(scores, dtype=float).ravel())
    method = params.get("method")
    if method == "platt":
        p = expit(-(float(params["a"]) * f + float(params["b"])))
    elif method == "isotonic":
        x = np.asarray(params["x"], dtype=float)
        y = np.asarray(params["y"], dtype=float)
        t = np.clip(f, float(params["x_min"]), float(params["x_max"]))
        p = np.full(t.shape, y[0]) if len(y) == 1 else np.interp(t, x, y)
    else:
        raise InputError(f"unknown calibrator method {method!r}")
    # scikit-learn's guard against probabilities a rounding error above 1
    p[(p > 1.0) & (p <= 1.0 + 1e-5)] = 1.0
    return p


# ---------------------------------------------------------------- stacker


def stacker_from_params(
    level_meta: Mapping[str, Any], members: Sequence[str]
) -> LogisticRegression:
    """The logistic regression of a stacked ensemble's ``meta[level]``
    (``coef`` member -> value, ``intercept``), ready for
    :func:`deepfake_ensemble.evaluate.ensemble.stacking.stacked_predict`."""
    coef = level_meta["coef"]
    missing = [m for m in members if m not in coef]
    if missing:
        raise InputError(f"stacker has no coefficient for {', '.join(missing)}")
    model = LogisticRegression()
    model.coef_ = np.array([[float(coef[m]) for m in members]])
    model.intercept_ = np.array([float(level_meta["intercept"])])
    model.classes_ = np.array([0, 1])
    model.n_features_in_ = len(members)
    return model


# ---------------------------------------------------------------- applying


def apply_fitted(fitted: Mapping[str, Any], level: str, scores) -> np.ndarray:
    """An ensemble's score for each row of an n x m matrix of member scores
    (columns in the order of ``fitted["members"]``) at ``level`` (``frame``:
    frame scores; ``video``: members' video means).

    ``fitted``: ``method``, ``members``, ``weights`` and ``meta`` as written
    to the ensemble's ``weights.json`` and ``members.json``.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    method = fitted["method"]
    members = list(fitted["members"])
    x = np.asarray(scores, dtype=float)
    if x.ndim != 2 or x.shape[1] != len(members):
        raise ValueError(f"scores of shape {x.shape} for members {members}")
    if method in FIXED:
        return FIXED[method](x)
    if method == "soft":
        w = (fitted.get("weights") or {}).get(level)
        if not w:
            raise InputError(f"soft-voting ensemble without {level} weights")
        return soft_vote(x, [float(w[m]) for m in members])
    if method == "stacked":
        meta = (fitted.get("meta") or {}).get(level)
        if not meta:
            raise InputError(f"stacked ensemble without {level} coefficients")
        return stacked_predict(stacker_from_params(meta, members), x)
    if method == "hard_calibrated":
        cals = ((fitted.get("meta") or {}).get("calibrators") or {}).get(level)
        if not cals or len(cals) != len(members):
            raise InputError(
                f"calibrated hard-voting ensemble without {level} calibrators "
                "(exported before calibrators were written: run the ensemble "
                "rule again)"
            )
        calibrated = np.column_stack(
            [calibrate_params(c, x[:, j]) for j, c in enumerate(cals)]
        )
        return hard_vote(calibrated)
    raise InputError(f"unknown combination method {method!r}")


def ensemble_video_scores(
    fitted: Mapping[str, Any], member_frames: Mapping[str, pd.DataFrame]
) -> pd.DataFrame:
    """An ensemble's scores of each video, from its members' frame
    predictions (``video_id, frame_index, label, score``; one table per
    member): columns ``video_id``, ``frame`` (the rule per frame, then the
    video's mean: the ensemble's own score) and ``video`` (the rule on the
    members' video means: the ``@video`` variant). Frames are aligned as in
    :func:`build_ensemble` (a frame some member lacks is left out)."""
    members = list(fitted["members"])
    lacking = [m for m in members if m not in member_frames]
    if lacking:
        raise InputError(f"no predictions of member(s) {', '.join(lacking)}")
    aligned, _ = align({m: member_frames[m] for m in members})
    per_frame = aligned[["video_id"]].assign(
        score=apply_fitted(fitted, "frame", aligned[members].to_numpy())
    )
    frame = per_frame.groupby("video_id", sort=True)["score"].mean()
    means = video_means(aligned, members)
    video = pd.Series(
        apply_fitted(fitted, "video", means[members].to_numpy()),
        index=means["video_id"].to_numpy(),
    )
    return pd.DataFrame(
        {
            "video_id": frame.index.to_numpy(),
            "frame": frame.to_numpy(),
            "video": video.reindex(frame.index).to_numpy(),
        }
    )
