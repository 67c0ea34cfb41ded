"""Combination rules: hard voting (the study's and a tie-broken variant), soft
voting and the soft-voting weight search.

Also the vectorised ROC-AUC (:func:`auc_rows`) the search scores its draws
with. Unlike :func:`deepfake_ensemble.evaluate.metrics.auc`, which reports an
undefined AUC as ``None``, these helpers need both classes and raise
:class:`InputError` without them: a weight search has nothing to maximise.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from deepfake_ensemble.defaults import DEFAULTS
from deepfake_ensemble.errors import InputError


def _as_matrix(scores) -> np.ndarray:
    s = np.asarray(scores, dtype=float)
    if s.ndim != 2 or s.shape[1] < 1:
        raise ValueError(f"scores must be an n x m matrix, got shape {s.shape}")
    return s


def hard_vote(scores, threshold: float = 0.5) -> np.ndarray:
    """The study's hard (majority) vote: the fraction of members voting fake.

    Each of the m members votes fake when its score is above ``threshold``;
    the ensemble score is ``votes / m``. Thresholded like every score
    (``score > 0.5`` is fake), a strict majority is needed: a tie (one of two
    members, two of four) counts as real.
    """
    s = _as_matrix(scores)
    return (s > threshold).mean(axis=1)


def hard_vote_tiebreak(scores, threshold: float = 0.5) -> np.ndarray:
    """Majority vote of m members, ties broken by the mean score (ours).

    With ``v`` votes (score above ``threshold``) and mean member score ``s``
    the ensemble score is

        (v + s) / (m + 1)

    which lies in [0, 1], orders frames by vote count first and mean score
    second, and (for ``threshold`` = 0.5) is above 0.5 exactly when a strict
    majority voted fake, or when half the members did and the mean score is
    above 0.5. For two members one vote and a mean above 0.5 is enough, so it
    behaves almost like soft voting; :func:`hard_vote` is the study's rule.
    """
    s = _as_matrix(scores)
    m = s.shape[1]
    votes = (s > threshold).sum(axis=1)
    return (votes + s.mean(axis=1)) / (m + 1)


def _check_weights(weights, m: int) -> np.ndarray:
    w = np.asarray(weights, dtype=float).ravel()
    if w.size != m:
        raise ValueError(f"{w.size} weights for {m} members")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be non-negative with a positive sum: {w}")
    return w / w.sum()


def soft_vote(scores, weights=None) -> np.ndarray:
    """Weighted mean of member scores (weights normalised to sum 1; equal if None)."""
    s = _as_matrix(scores)
    m = s.shape[1]
    w = np.full(m, 1.0 / m) if weights is None else _check_weights(weights, m)
    return s @ w


def auc_rows(labels, score_rows) -> np.ndarray:
    """ROC-AUC of every row of a d x n score matrix against n labels.

    Mann-Whitney form with ties counted one half: for each positive, the
    number of negatives scored lower plus half the negatives scored equal,
    summed and divided by P N. One ``argsort`` per row; tied groups are found
    in the sorted rows. Equals :func:`sklearn.metrics.roc_auc_score` row by row.
    """
    y = np.asarray(labels).astype(bool)
    s = np.ascontiguousarray(np.atleast_2d(np.asarray(score_rows, dtype=float)))
    n = y.size
    if s.shape[1] != n:
        raise ValueError(f"{n} labels for score rows of length {s.shape[1]}")
    n_pos = int(y.sum())
    n_neg = n - n_pos
    if n_pos == 0 or n_neg == 0:
        raise InputError("AUC needs both real and fake examples")
    order = np.argsort(s, axis=1)
    ss = np.take_along_axis(s, order, axis=1)
    neg = ~y[order]
    pos = ~neg
    neg_upto = np.cumsum(neg, axis=1, dtype=np.int64)  # negatives at or before i
    neg_before = neg_upto - neg  # negatives strictly before i
    change = ss[:, 1:] != ss[:, :-1]
    if change.all():  # no ties: a positive beats every negative before it
        total = np.where(pos, neg_before, 0).sum(axis=1).astype(float)
    else:
        idx = np.arange(n)
        edge = np.ones((s.shape[0], 1), dtype=bool)
        start = np.where(np.hstack([edge, change]), idx, 0)
        np.maximum.accumulate(start, axis=1, out=start)
        end = np.where(np.hstack([change, edge]), idx, n - 1)[:, ::-1]
        end = np.minimum.accumulate(end, axis=1)[:, ::-1]
        below = np.take_along_axis(neg_before, start, axis=1)  # strictly lower
        upto = np.take_along_axis(neg_upto, end, axis=1)  # lower or tied
        total = np.where(pos, below + upto, 0).sum(axis=1) / 2.0
    return total / (n_pos * n_neg)


def auc_columns(labels, score_matrix) -> np.ndarray:
    """ROC-AUC of every column of an n x d score matrix (see :func:`auc_rows`)."""
    s = np.asarray(score_matrix, dtype=float)
    if s.ndim == 1:
        s = s[:, None]
    return auc_rows(labels, s.T)


def _per_video(scores: np.ndarray, labels: np.ndarray, video_ids) -> tuple:
    df = pd.DataFrame(scores)
    cols = list(df.columns)
    df["label"] = labels
    df["video_id"] = np.asarray(video_ids)
    g = df.groupby("video_id", sort=True)
    lab = g["label"].agg(["min", "max"])
    if (lab["min"] != lab["max"]).any():
        vid = lab.index[lab["min"] != lab["max"]][0]
        raise InputError(f"video {vid!r} has frames labelled both 0 and 1")
    return g[cols].mean().to_numpy(), lab["min"].to_numpy()


def dirichlet_search(
    val_scores,
    val_labels,
    n_draws: int = DEFAULTS["ensemble.dirichlet_draws"],
    seed: int = DEFAULTS["ensemble.seed"],
    level: str = "frame",
    video_ids=None,
    names: Sequence[str] | None = None,
    chunk: int = 512,
) -> tuple[np.ndarray, float, pd.DataFrame]:
    """Random search of soft-voting weights maximising validation ROC-AUC.

    Draw 0 is the equal-weights point; draws 1..n_draws-1 come from a
    Dirichlet(1, ..., 1) distribution (uniform on the simplex) with
    ``numpy.random.default_rng(seed)``. The first draw with the highest AUC
    wins, so equal weights win ties. With ``level="video"`` the AUC is taken
    over videos, each scored by the weighted mean of its members' mean frame
    scores (``video_ids`` gives each frame's video; rows may already be
    videos). Returns ``(weights, best_auc, trace)``, ``trace`` holding
    ``draw, auc`` and one weight column per member (``names`` or w0, w1, ...).
    ``best_auc`` is recomputed with :func:`soft_vote` and scikit-learn, so it
    is exactly the validation AUC of the returned weights (the summation order
    of the vectorised search can move exact ties). Draws are scored ``chunk``
    at a time (about 1.5-5 s for 10,000 draws x 5,000 frames on 2 cores).
    """
    s = _as_matrix(val_scores)
    y = np.asarray(val_labels).astype(int)
    if y.shape[0] != s.shape[0]:
        raise ValueError(f"{y.shape[0]} labels for {s.shape[0]} score rows")
    if n_draws < 1:
        raise ValueError("n_draws must be at least 1")
    if level == "video":
        if video_ids is None:
            raise ValueError("level='video' needs video_ids")
        s, y = _per_video(s, y, video_ids)
    elif level != "frame":
        raise ValueError(f"level must be 'frame' or 'video', not {level!r}")
    if np.unique(y).size != 2:
        raise InputError(
            "the Dirichlet weight search needs validation predictions of both "
            "real and fake examples"
        )
    m = s.shape[1]
    rng = np.random.default_rng(seed)
    draws = np.vstack(
        [np.full((1, m), 1.0 / m), rng.dirichlet(np.ones(m), size=n_draws - 1)]
    )
    aucs = np.empty(n_draws)
    for start in range(0, n_draws, chunk):
        w = draws[start : start + chunk]
        aucs[start : start + len(w)] = auc_rows(y, w @ s.T)
    best = int(np.argmax(aucs))
    names = list(names) if names is not None else [f"w{j}" for j in range(m)]
    if len(names) != m:
        raise ValueError(f"{len(names)} names for {m} members")
    trace = pd.DataFrame(draws, columns=names)
    trace.insert(0, "auc", aucs)
    trace.insert(0, "draw", np.arange(n_draws))
    weights = draws[best].copy()
    # reported AUC: that of soft_vote itself (summation order can move ties)
    best_auc = float(roc_auc_score(y, soft_vote(s, weights)))
    return weights, best_auc, trace
