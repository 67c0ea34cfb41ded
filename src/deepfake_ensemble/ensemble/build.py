"""One whole ensemble: members, fit on validation, test predictions, files."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from deepfake_ensemble.catalog import ENSEMBLES, ensemble_files
from deepfake_ensemble.ensemble.alignment import align, video_means
from deepfake_ensemble.ensemble.combine import dirichlet_search, hard_vote, soft_vote
from deepfake_ensemble.ensemble.selection import select_members
from deepfake_ensemble.ensemble.stacking import stacked_fit, stacked_predict
from deepfake_ensemble.errors import InputError
from deepfake_ensemble.io import write_csv, write_json
from deepfake_ensemble.metrics import evaluate, evaluate_video_scores


def build_ensemble(
    name: str,
    val_preds: Mapping[str, pd.DataFrame],
    test_preds: Mapping[str, pd.DataFrame],
    val_metrics: Mapping[str, Mapping],
    model_sizes: Mapping[str, Mapping],
    cfg: Mapping | None = None,
) -> dict:
    """Build ensemble ``name`` (a key of :data:`deepfake_ensemble.catalog.ENSEMBLES`).

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

    One file per role of :data:`deepfake_ensemble.catalog.ENSEMBLE_FILES`
    (named by :func:`deepfake_ensemble.catalog.ensemble_files`): the four
    prediction tables ``test_frames, val_frames, test_videos, val_videos``,
    then ``members``, ``weights`` and, last, ``metrics``. Returns the metrics
    dict (:func:`ensemble_metrics`).
    """
    files = ensemble_files(out_dir)
    for role in ("test_frames", "val_frames", "test_videos", "val_videos"):
        write_csv(result[role], files[role])
    write_json(
        {
            "name": result["name"],
            "rule": result["rule"],
            "method": result["method"],
            "members": list(result["members"]),
            "reason": result["reason"],
            "alignment": result["alignment"],
        },
        files["members"],
    )
    write_json(
        {
            "name": result["name"],
            "method": result["method"],
            "weights": result["weights"],
            "meta": result["meta"],
        },
        files["weights"],
    )
    metrics = ensemble_metrics(result)
    write_json(metrics, files["metrics"])
    return metrics
