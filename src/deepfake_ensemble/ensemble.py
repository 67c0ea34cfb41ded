"""Ensembles of the single detectors: hard voting, soft voting, stacking.

The study combines the frame scores of two or four single models (members):

* hard voting: each member votes "fake" when its score is above 0.5;
* soft voting: a weighted mean of member scores, the weights found by a
  seeded random search over Dirichlet draws that maximises validation AUC
  (the study used DeepStack's ``DirichletEnsemble``; this is a NumPy
  re-implementation of the same idea);
* stacking (an addition of this project): a logistic-regression meta-learner
  on the members' validation scores.

Members are chosen on validation performance (``best2``), on checkpoint size
(``small2``) or all four (``all``). Member predictions are aligned on
``(video_id, frame_index)`` explicitly: frames missing for a member are
dropped and counted, label disagreements and unrelated splits are errors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from deepfake_ensemble.errors import InputError
from deepfake_ensemble.io import write_csv, write_json
from deepfake_ensemble.metrics import (
    PREDICTION_COLUMNS,
    evaluate,
    evaluate_video_scores,
    validate_predictions,
)

#: name -> (member selection rule, combination method)
ENSEMBLES: dict[str, tuple[str, str]] = {
    "best2_hard": ("best2", "hard"),
    "best2_soft": ("best2", "soft"),
    "small2_hard": ("small2", "hard"),
    "small2_soft": ("small2", "soft"),
    "all_hard": ("all", "hard"),
    "all_soft": ("all", "soft"),
    "all_stacked": ("all", "stacked"),
}
SELECTION_RULES = ("best2", "small2", "all")
KEY = ["video_id", "frame_index"]
#: below this share of common videos (Jaccard index) two members' predictions
#: are taken to describe different splits
MIN_VIDEO_OVERLAP = 0.5
#: member scores are clipped to [eps, 1 - eps] before the logit (stacking)
LOGIT_EPS = 1e-6


# --------------------------------------------------------------------------
# Loading and aligning member predictions


def _check_member_table(df: pd.DataFrame, source: str) -> pd.DataFrame:
    df = validate_predictions(df, source)
    fi = pd.to_numeric(df["frame_index"], errors="coerce")
    if fi.isna().any():
        i = int(np.flatnonzero(fi.isna().to_numpy())[0])
        raise InputError(f"{source}: row {i}: frame_index is missing or not a number")
    df["frame_index"] = fi.astype(int)
    dup = df.duplicated(KEY, keep=False)
    if dup.any():
        row = df[dup].iloc[0]
        n = int(dup.sum())
        raise InputError(
            f"{source}: {n} rows share a (video_id, frame_index), e.g. "
            f"video {row['video_id']!r} frame {row['frame_index']}; "
            "expected one row per frame"
        )
    return df[list(PREDICTION_COLUMNS)].sort_values(KEY, ignore_index=True)


def load_predictions(
    paths: Mapping[str, str | os.PathLike],
) -> dict[str, pd.DataFrame]:
    """Read one predictions CSV per model (model -> path) and check it.

    Each file needs the columns ``video_id, frame_index, label, score``, one
    row per (video_id, frame_index), labels 0/1 and scores in [0, 1]; any
    violation raises :class:`InputError` naming the file and the row.
    """
    out: dict[str, pd.DataFrame] = {}
    for model, path in paths.items():
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: predictions of model {model!r} not found")
        try:
            df = pd.read_csv(path, dtype={"video_id": str})
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError) as e:
            raise InputError(f"{path}: cannot read predictions: {e}") from e
        out[model] = _check_member_table(df, str(path))
    return out


def align(
    preds: Mapping[str, pd.DataFrame], how: str = "inner"
) -> tuple[pd.DataFrame, dict]:
    """Join member predictions on ``(video_id, frame_index)``.

    Returns a table ``video_id, frame_index, label, <one score column per
    model>`` (sorted by video_id, frame_index) and statistics: ``models``,
    ``n_union`` (frames seen by any member), ``n_aligned`` (frames kept),
    ``n_dropped``, ``missing_per_model`` (frames of the union a member lacks),
    ``n_videos`` and ``videos_dropped`` (videos with no frame left).

    ``how="inner"`` drops a frame that any member lacks (counted above);
    ``how="strict"`` raises instead. Raises :class:`InputError` when members
    disagree on a frame's label, or when two members share less than half of
    their videos (they do not describe the same split).
    """
    if how not in ("inner", "strict"):
        raise ValueError(f"how must be 'inner' or 'strict', not {how!r}")
    models = list(preds)
    if not models:
        raise InputError("no member predictions to align")
    reserved = set(KEY) | {"label", "score"}
    for m in models:
        if m in reserved:
            raise InputError(f"model name {m!r} clashes with a column name")
    tables = {m: _check_member_table(preds[m], f"predictions of {m}") for m in models}

    videos = {m: set(t["video_id"]) for m, t in tables.items()}
    for i, a in enumerate(models):
        for b in models[i + 1 :]:
            common = len(videos[a] & videos[b])
            union = len(videos[a] | videos[b])
            if union and common / union < MIN_VIDEO_OVERLAP:
                raise InputError(
                    f"predictions of {a} and {b} do not describe the same split: "
                    f"they share {common} of {union} videos"
                )

    merged = None
    for m in models:
        t = tables[m].rename(columns={"label": f"label::{m}", "score": m})
        merged = t if merged is None else merged.merge(t, on=KEY, how="outer")
    merged = merged.sort_values(KEY, ignore_index=True)
    labels = merged[[f"label::{m}" for m in models]].to_numpy(dtype=float)
    present = ~np.isnan(labels)

    lo = np.nanmin(labels, axis=1)
    hi = np.nanmax(labels, axis=1)
    bad = np.flatnonzero(lo != hi)
    if bad.size:
        r = int(bad[0])
        who = ", ".join(
            f"{m}={int(labels[r, j])}" for j, m in enumerate(models) if present[r, j]
        )
        raise InputError(
            f"members disagree on the label of video {merged.at[r, 'video_id']!r} "
            f"frame {merged.at[r, 'frame_index']} ({who}); "
            f"{bad.size} frame(s) disagree in all"
        )

    missing = {m: int((~present[:, j]).sum()) for j, m in enumerate(models)}
    keep = present.all(axis=1)
    if how == "strict" and not keep.all():
        r = int(np.flatnonzero(~keep)[0])
        lacking = [m for j, m in enumerate(models) if not present[r, j]]
        raise InputError(
            f"video {merged.at[r, 'video_id']!r} frame {merged.at[r, 'frame_index']} "
            f"is missing from the predictions of {', '.join(lacking)} "
            f"(missing per model: {missing})"
        )
    all_videos = set(merged["video_id"])
    out = merged.loc[keep, KEY + models].copy()
    out.insert(2, "label", lo[keep].astype(int))
    out = out.reset_index(drop=True)
    if out.empty:
        raise InputError(
            f"members {', '.join(models)} have no frame in common "
            f"(missing per model: {missing})"
        )
    kept_videos = set(out["video_id"])
    stats = {
        "models": models,
        "n_union": len(merged),
        "n_aligned": len(out),
        "n_dropped": int((~keep).sum()),
        "missing_per_model": missing,
        "n_videos": len(kept_videos),
        "videos_dropped": sorted(all_videos - kept_videos),
    }
    return out, stats


def video_means(aligned: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """Per-video mean of each member's frame scores: ``video_id, label, <models>``."""
    g = aligned.groupby("video_id", sort=True)
    out = g[list(models)].mean()
    lab = g["label"].agg(["min", "max"])
    mixed = lab.index[lab["min"] != lab["max"]]
    if len(mixed):
        raise InputError(f"video {mixed[0]!r} has frames labelled both 0 and 1")
    out.insert(0, "label", lab["min"].astype(int))
    return out.reset_index()


# --------------------------------------------------------------------------
# Combination rules


def _as_matrix(scores) -> np.ndarray:
    s = np.asarray(scores, dtype=float)
    if s.ndim != 2 or s.shape[1] < 1:
        raise ValueError(f"scores must be an n x m matrix, got shape {s.shape}")
    return s


def hard_vote(scores, threshold: float = 0.5) -> np.ndarray:
    """Majority vote of m members, ties broken by the mean score.

    Each member votes fake when its score is above ``threshold``. With ``v``
    votes and mean member score ``s`` the ensemble score is

        (v + s) / (m + 1)

    which lies in [0, 1], orders frames by vote count first and mean score
    second, and (for ``threshold`` = 0.5) is above 0.5 exactly when a strict
    majority voted fake, or when half the members did and the mean score is
    above 0.5. Thresholding it at 0.5 is therefore majority voting with the
    mean score as tie-breaker; the vote fraction ``v / m`` of the study is
    recovered as ``floor(score * (m + 1)) / m`` except when s = 1.
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
    n_draws: int = 10000,
    seed: int = 1,
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


def _logit(scores: np.ndarray) -> np.ndarray:
    p = np.clip(scores, LOGIT_EPS, 1 - LOGIT_EPS)
    return np.log(p) - np.log1p(-p)


def stacked_fit(val_scores, val_labels, seed: int = 1, groups=None, n_splits: int = 5):
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


# --------------------------------------------------------------------------
# Member selection


def _auc_key(value) -> float:
    return -np.inf if value is None or not np.isfinite(value) else float(value)


def rank_by_validation(val_metrics: Mapping[str, Mapping]) -> list[str]:
    """Models best first: validation video AUC, then frame AUC, then name."""
    return sorted(
        val_metrics,
        key=lambda m: (
            -_auc_key(val_metrics[m].get("video_auc")),
            -_auc_key(val_metrics[m].get("frame_auc")),
            m,
        ),
    )


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def select_members(
    val_metrics: Mapping[str, Mapping],
    model_sizes: Mapping[str, Mapping],
    rule: str,
) -> tuple[list[str], str]:
    """Pick the members of an ensemble; return ``(members, reason)``.

    ``best2``: the two highest validation video AUCs (ties: frame AUC, then
    name). ``small2``: the two smallest checkpoint files (ties: parameter
    count, then name). ``all``: every model, in name order.
    """
    models = sorted(val_metrics)
    if rule == "all":
        return models, f"all {len(models)} models: {', '.join(models)}"
    if len(models) < 2:
        raise InputError(f"rule {rule!r} needs at least two models, got {models}")
    if rule == "best2":
        ranked = rank_by_validation(val_metrics)
        parts = [
            f"{m} (video AUC {_fmt(val_metrics[m].get('video_auc'))}, "
            f"frame AUC {_fmt(val_metrics[m].get('frame_auc'))})"
            for m in ranked
        ]
        reason = (
            "two highest validation video AUCs: "
            + ", ".join(parts[:2])
            + "; next: "
            + (", ".join(parts[2:]) or "none")
        )
        return ranked[:2], reason
    if rule == "small2":
        lacking = [m for m in models if m not in model_sizes]
        if lacking:
            raise InputError(f"no checkpoint size for model(s) {', '.join(lacking)}")

        def key(m):
            size = model_sizes[m]
            return (int(size["bytes"]), int(size.get("params", 0)), m)

        ranked = sorted(models, key=key)
        parts = [
            f"{m} ({int(model_sizes[m]['bytes']):,} bytes, "
            f"{int(model_sizes[m].get('params', 0)):,} parameters)"
            for m in ranked
        ]
        reason = (
            "two smallest checkpoint files: "
            + ", ".join(parts[:2])
            + "; next: "
            + (", ".join(parts[2:]) or "none")
        )
        return ranked[:2], reason
    raise ValueError(f"unknown selection rule {rule!r} (one of {SELECTION_RULES})")


# --------------------------------------------------------------------------
# Building an ensemble


def build_ensemble(
    name: str,
    val_preds: Mapping[str, pd.DataFrame],
    test_preds: Mapping[str, pd.DataFrame],
    val_metrics: Mapping[str, Mapping],
    model_sizes: Mapping[str, Mapping],
    cfg: Mapping | None = None,
) -> dict:
    """Build ensemble ``name`` (a key of :data:`ENSEMBLES`).

    Fits on validation predictions only and applies to test. Two variants:

    * frames: the rule is applied to each frame's member scores (weights or
      meta-learner fitted on validation frames); a video's score is then the
      mean of its ensemble frame scores;
    * videos: the rule is applied to each video's mean member scores (weights
      searched on validation video AUC, votes on video means, meta-learner
      fitted on validation video means).

    Returns a dict: ``name, rule, method, members, reason, weights`` (soft:
    ``{"frame": {model: w}, "video": {...}}`` and the validation AUCs of the
    search), ``meta`` (stacked: coefficients), ``val_frames, test_frames``
    (``video_id, frame_index, label, score``), ``val_videos, test_videos``
    (``video_id, label, score``) and ``alignment`` (:func:`align` stats).
    ``cfg`` is the ``ensemble`` config (``dirichlet_draws``, ``seed``).
    """
    if name not in ENSEMBLES:
        raise InputError(f"unknown ensemble {name!r} (one of {', '.join(ENSEMBLES)})")
    cfg = dict(cfg or {})
    draws = int(cfg.get("dirichlet_draws", 10000))
    seed = int(cfg.get("seed", 1))
    rule, method = ENSEMBLES[name]
    available = sorted(set(val_metrics) & set(val_preds) & set(test_preds))
    lacking = sorted(set(val_metrics) - set(available))
    if lacking:
        raise InputError(f"ensemble {name}: no predictions for {', '.join(lacking)}")
    members, reason = select_members(
        {m: val_metrics[m] for m in available}, model_sizes, rule
    )
    val, val_stats = align({m: val_preds[m] for m in members})
    test, test_stats = align({m: test_preds[m] for m in members})
    val_v = video_means(val, members)
    test_v = video_means(test, members)
    vs, ts = val[members].to_numpy(), test[members].to_numpy()
    vvs, tvs = val_v[members].to_numpy(), test_v[members].to_numpy()

    weights = None
    meta = None
    if method == "hard":
        val_f, test_f = hard_vote(vs), hard_vote(ts)
        val_vid, test_vid = hard_vote(vvs), hard_vote(tvs)
    elif method == "soft":
        wf, auc_f, _ = dirichlet_search(
            vs, val["label"], draws, seed, "frame", names=members
        )
        wv, auc_v, _ = dirichlet_search(
            vvs, val_v["label"], draws, seed, "frame", names=members
        )
        val_f, test_f = soft_vote(vs, wf), soft_vote(ts, wf)
        val_vid, test_vid = soft_vote(vvs, wv), soft_vote(tvs, wv)
        weights = {
            "frame": dict(zip(members, map(float, wf), strict=True)),
            "video": dict(zip(members, map(float, wv), strict=True)),
            "val_frame_auc": auc_f,
            "val_video_auc": auc_v,
            "n_draws": draws,
            "seed": seed,
        }
    elif method == "stacked":
        mf = stacked_fit(vs, val["label"], seed, groups=val["video_id"])
        mv = stacked_fit(vvs, val_v["label"], seed, groups=val_v["video_id"])
        val_f, test_f = stacked_predict(mf, vs), stacked_predict(mf, ts)
        val_vid, test_vid = stacked_predict(mv, vvs), stacked_predict(mv, tvs)
        meta = {
            level: {
                "features": "logit of member scores",
                "coef": dict(zip(members, map(float, m.coef_[0]), strict=True)),
                "intercept": float(m.intercept_[0]),
                "C": float(np.ravel(m.C_)[0]) if hasattr(m, "C_") else float(m.C),
            }
            for level, m in (("frame", mf), ("video", mv))
        }
    else:  # pragma: no cover - ENSEMBLES only holds the three methods
        raise ValueError(method)

    def frames(al, score):
        return pd.DataFrame(
            {
                "video_id": al["video_id"],
                "frame_index": al["frame_index"],
                "label": al["label"],
                "score": score,
            }
        )

    def videos(al, score):
        return pd.DataFrame(
            {"video_id": al["video_id"], "label": al["label"], "score": score}
        )

    return {
        "name": name,
        "rule": rule,
        "method": method,
        "members": members,
        "reason": reason,
        "weights": weights,
        "meta": meta,
        "val_frames": frames(val, val_f),
        "test_frames": frames(test, test_f),
        "val_videos": videos(val_v, val_vid),
        "test_videos": videos(test_v, test_vid),
        "alignment": {"val": val_stats, "test": test_stats},
    }


def ensemble_metrics(result: Mapping, threshold: float = 0.5) -> dict:
    """Metrics of an ensemble's test predictions.

    Top level: :func:`deepfake_ensemble.metrics.evaluate` of the frame variant
    (the shared metrics contract); ``video_variant``: video-level metrics of
    the video variant; ``val``: the same two on validation.
    """
    out = evaluate(result["test_frames"], threshold)
    out["video_variant"] = evaluate_video_scores(result["test_videos"], threshold)
    out["val"] = {
        "frames": evaluate(result["val_frames"], threshold),
        "video_variant": evaluate_video_scores(result["val_videos"], threshold),
    }
    return out


def write_ensemble_outputs(result: Mapping, out_dir: str | os.PathLike) -> dict:
    """Write an ensemble's files into ``out_dir``, each atomically.

    ``test_frames.csv, val_frames.csv, test_videos.csv, val_videos.csv,
    members.json, weights.json, metrics.json``. Returns the metrics dict.
    """
    out_dir = Path(out_dir)
    for key in ("test_frames", "val_frames", "test_videos", "val_videos"):
        write_csv(result[key], out_dir / f"{key}.csv")
    write_json(
        {
            "name": result["name"],
            "rule": result["rule"],
            "method": result["method"],
            "members": list(result["members"]),
            "reason": result["reason"],
            "alignment": result["alignment"],
        },
        out_dir / "members.json",
    )
    write_json(
        {
            "name": result["name"],
            "method": result["method"],
            "weights": result["weights"],
            "meta": result["meta"],
        },
        out_dir / "weights.json",
    )
    metrics = ensemble_metrics(result)
    write_json(metrics, out_dir / "metrics.json")
    return metrics
