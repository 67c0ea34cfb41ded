"""One whole ensemble: members, fit on validation, test predictions, files."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from deepfake_ensemble.defaults import DEFAULTS
from deepfake_ensemble.errors import InputError
from deepfake_ensemble.evaluate.ensemble.alignment import align, video_means
from deepfake_ensemble.evaluate.ensemble.calibration import (
    calibrate_members,
    fit_member_calibrators,
)
from deepfake_ensemble.evaluate.ensemble.combine import (
    dirichlet_search,
    hard_vote,
    hard_vote_tiebreak,
    soft_vote,
)
from deepfake_ensemble.evaluate.ensemble.crossfit import NO_FIT, crossfit
from deepfake_ensemble.evaluate.ensemble.fitted import apply_fitted, calibrator_params
from deepfake_ensemble.evaluate.ensemble.selection import select_members
from deepfake_ensemble.evaluate.ensemble.stacking import stacked_fit, stacked_predict
from deepfake_ensemble.evaluate.videos import (
    evaluate_on_split,
    evaluation_config,
    threshold_report,
)
from deepfake_ensemble.io import read_json, write_csv, write_json
from deepfake_ensemble.layout import ALL_ENSEMBLES, ensemble_files
from deepfake_ensemble.predictions import read_predictions


def _groups_of(video_ids, groups: Mapping[str, str] | None) -> np.ndarray:
    """The group of each row's video (the video itself where unknown)."""
    ids = pd.Series(np.asarray(video_ids)).astype(str)
    if not groups:
        return ids.to_numpy()
    return ids.map(dict(groups)).fillna(ids).astype(str).to_numpy()


def _fitted(method: str, members: list[str], cfg: Mapping):
    """``(fit, predict)`` of a method fitted on validation, else ``None``."""
    draws = int(cfg.get("dirichlet_draws", DEFAULTS["ensemble.dirichlet_draws"]))
    seed = int(cfg.get("seed", DEFAULTS["ensemble.seed"]))
    if method == "soft":

        def fit(x, y, g):
            return dirichlet_search(x, y, draws, seed, "frame", names=members)[0]

        def predict(weights, x):
            return soft_vote(x, weights)

        return fit, predict
    if method == "stacked":

        def fit(x, y, g):
            return stacked_fit(x, y, seed, groups=g)

        return fit, stacked_predict
    if method == "hard_calibrated":
        how = str(cfg.get("calibration", DEFAULTS["ensemble.calibration"]))
        if how == "none":
            raise InputError(
                "the calibrated hard-voting ensembles need ensemble.calibration "
                "platt or isotonic (it is none)"
            )

        def fit(x, y, g):
            return fit_member_calibrators(x, y, how)

        def predict(cals, x):
            return hard_vote(calibrate_members(cals, x))

        return fit, predict
    return None


#: combination methods that fit nothing (their scores are the same on any data)
FIXED_RULES = {"hard": hard_vote, "hard_tiebreak": hard_vote_tiebreak}


def build_ensemble(
    name: str,
    val_preds: Mapping[str, pd.DataFrame],
    test_preds: Mapping[str, pd.DataFrame] | None,
    val_metrics: Mapping[str, Mapping],
    model_sizes: Mapping[str, Mapping],
    cfg: Mapping | None = None,
    val_groups: Mapping[str, str] | None = None,
) -> dict:
    """Build ensemble ``name`` (a key of
    :data:`deepfake_ensemble.layout.ALL_ENSEMBLES`).

    Fits on validation predictions only and applies to test. Two variants:

    * frames: the rule is applied to each frame's member scores (weights,
      calibrators or meta-learner fitted on validation frames); a video's
      score is then the mean of its ensemble frame scores;
    * videos: the rule is applied to each video's mean member scores (weights
      searched on validation video AUC, votes on video means, meta-learner
      fitted on validation video means).

    Methods (:data:`deepfake_ensemble.layout.METHODS`): ``hard`` (the
    study's fraction of members voting fake), ``hard_tiebreak``,
    ``hard_calibrated`` (each member calibrated on validation with
    ``cfg["calibration"]``, then the study's vote), ``soft`` (Dirichlet
    weights) and ``stacked``. What is fitted is fitted on all of validation
    for test; the validation scores are out-of-fold (``cfg["fit"]`` =
    ``crossfit``: ``crossfit_folds`` folds by group, ``val_groups`` mapping
    video id -> group; see :mod:`.crossfit`) or the study's in-sample fit
    (``in_sample``), recorded in ``val_fit``.

    Returns a dict: ``name, rule, method, members, reason, weights`` (soft:
    ``{"frame": {model: w}, "video": {...}}`` and the validation AUCs of the
    search), ``meta`` (stacked: coefficients), ``val_frames, test_frames``
    (``video_id, frame_index, label, score``), ``val_videos, test_videos``
    (``video_id, label, score``), ``val_fit`` (per level: how the validation
    scores were obtained) and ``alignment`` (:func:`align` stats). ``cfg`` is
    the ``ensemble`` config (``dirichlet_draws``, ``seed``, ``calibration``,
    ``fit``, ``crossfit_folds``).

    With ``test_preds=None`` only the fit is made (no ``test_*`` tables):
    :func:`apply_ensemble` applies its plain parameters to any test set later.
    """
    if name not in ALL_ENSEMBLES:
        raise InputError(
            f"unknown ensemble {name!r} (one of {', '.join(ALL_ENSEMBLES)})"
        )
    cfg = dict(cfg or {})
    draws = int(cfg.get("dirichlet_draws", DEFAULTS["ensemble.dirichlet_draws"]))
    seed = int(cfg.get("seed", DEFAULTS["ensemble.seed"]))
    mode = str(cfg.get("fit", DEFAULTS["ensemble.fit"]))
    folds = int(cfg.get("crossfit_folds", DEFAULTS["ensemble.crossfit_folds"]))
    rule, method = ALL_ENSEMBLES[name]
    scored = set(val_preds) if test_preds is None else set(test_preds)
    available = sorted(set(val_metrics) & set(val_preds) & scored)
    lacking = sorted(set(val_metrics) - set(available))
    if lacking:
        raise InputError(f"ensemble {name}: no predictions for {', '.join(lacking)}")
    members, reason = select_members(
        {m: val_metrics[m] for m in available}, model_sizes, rule
    )
    val, val_stats = align({m: val_preds[m] for m in members})
    val_v = video_means(val, members)
    if test_preds is None:
        test = test_v = test_stats = None
    else:
        test, test_stats = align({m: test_preds[m] for m in members})
        test_v = video_means(test, members)

    def matrix(table):
        return None if table is None else table[members].to_numpy()

    levels = {
        "frame": (val[members].to_numpy(), matrix(test), val),
        "video": (val_v[members].to_numpy(), matrix(test_v), val_v),
    }

    scores: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    models: dict[str, object] = {}
    val_fit: dict[str, dict] = {}
    for level, (vs, ts, table) in levels.items():
        if method in FIXED_RULES:
            combine = FIXED_RULES[method]
            scores[level] = (combine(vs), None if ts is None else combine(ts))
            val_fit[level] = {"val_scores": NO_FIT}
            continue
        fit, predict = _fitted(method, members, cfg)
        groups = _groups_of(table["video_id"], val_groups)
        model, val_scores, info = crossfit(
            fit, predict, vs, table["label"], groups, mode, folds, seed
        )
        models[level] = model
        scores[level] = (val_scores, None if ts is None else predict(model, ts))
        val_fit[level] = info

    weights = None
    meta = None
    if method == "soft":
        wf, wv = models["frame"], models["video"]
        weights = {
            "frame": dict(zip(members, map(float, wf), strict=True)),
            "video": dict(zip(members, map(float, wv), strict=True)),
            # in-sample AUCs of the chosen weights (what the search maximised)
            "val_frame_auc": float(
                roc_auc_score(val["label"], soft_vote(levels["frame"][0], wf))
            ),
            "val_video_auc": float(
                roc_auc_score(val_v["label"], soft_vote(levels["video"][0], wv))
            ),
            "n_draws": draws,
            "seed": seed,
        }
    elif method == "stacked":
        meta = {
            level: {
                "features": "logit of member scores",
                "coef": dict(zip(members, map(float, m.coef_[0]), strict=True)),
                "intercept": float(m.intercept_[0]),
                "C": float(np.ravel(m.C_)[0]) if hasattr(m, "C_") else float(m.C),
            }
            for level, m in (("frame", models["frame"]), ("video", models["video"]))
        }
    elif method == "hard_calibrated":
        meta = {
            "calibration": str(
                cfg.get("calibration", DEFAULTS["ensemble.calibration"])
            ),
            "fitted_on": "validation scores of each member (frames / video means)",
            # plain parameters, one per member in member order (.fitted)
            "calibrators": {
                level: [calibrator_params(c) for c in models[level]]
                for level in ("frame", "video")
            },
        }
    (val_f, test_f), (val_vid, test_vid) = scores["frame"], scores["video"]

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
        "test_frames": None if test is None else frames(test, test_f),
        "val_videos": videos(val_v, val_vid),
        "test_videos": None if test is None else videos(test_v, test_vid),
        "val_fit": val_fit,
        "alignment": {"val": val_stats, "test": test_stats},
    }


def apply_ensemble(
    fit: Mapping, test_preds: Mapping[str, pd.DataFrame]
) -> dict[str, object]:
    """An ensemble fitted on validation applied to a test set.

    ``fit``: what the fit wrote (``members.json`` and ``weights.json``:
    ``method``, ``members``, ``weights``, ``meta``), applied with
    :func:`deepfake_ensemble.evaluate.ensemble.fitted.apply_fitted`;
    ``test_preds``: member -> frame predictions. Members are aligned as in
    :func:`build_ensemble`. Returns ``test_frames``, ``test_videos`` and
    ``alignment`` (the :func:`align` stats of the test set).
    """
    members = list(fit["members"])
    lacking = [m for m in members if m not in test_preds]
    if lacking:
        raise InputError(
            f"ensemble {fit.get('name', '?')}: no test predictions of member(s) "
            f"{', '.join(lacking)}"
        )
    test, stats = align({m: test_preds[m] for m in members})
    test_v = video_means(test, members)
    frames = test[["video_id", "frame_index", "label"]].assign(
        score=apply_fitted(fit, "frame", test[members].to_numpy())
    )
    videos = test_v[["video_id", "label"]].assign(
        score=apply_fitted(fit, "video", test_v[members].to_numpy())
    )
    return {
        "test_frames": frames.reset_index(drop=True),
        "test_videos": videos.reset_index(drop=True),
        "alignment": stats,
    }


def ensemble_metrics(
    result: Mapping,
    threshold: float = 0.5,
    splits: Mapping[str, pd.DataFrame] | None = None,
    evaluation: Mapping | None = None,
) -> dict:
    """Metrics of an ensemble's test predictions.

    Top level: the metrics of the frame variant on test
    (:func:`deepfake_ensemble.evaluate.videos.evaluate_on_split`: the shared
    metrics contract, on the whole split when ``splits`` maps ``val`` and
    ``test`` to the split lists, under the no-face policy of ``evaluation``)
    and, in ``at_val_threshold``, the test metrics at the threshold chosen on
    the validation scores; ``video_variant``: the same for the video
    variant; ``val``: both variants on validation, with ``val_fit`` saying
    whether those scores are out-of-fold or in-sample.
    """
    splits = dict(splits or {})
    cfg = evaluation_config(evaluation)
    name = result.get("name", "ensemble")

    def run(split: str, frames, videos):
        return evaluate_on_split(
            frames, videos, splits.get(split), cfg, threshold, f"{name} ({split})"
        )

    out, test_f = run("test", result["test_frames"], None)
    val_m, val_f = run("val", result["val_frames"], None)
    video, test_v = run("test", None, result["test_videos"])
    val_video, val_v = run("val", None, result["val_videos"])
    rule = cfg["threshold_rule"]
    out["at_val_threshold"] = threshold_report(val_f, test_f, rule)
    video["at_val_threshold"] = threshold_report(val_v, test_v, rule)
    out["video_variant"] = video
    out["val"] = {
        "frames": val_m,
        "video_variant": val_video,
        "val_fit": result.get("val_fit"),
    }
    return out


def write_ensemble_outputs(
    result: Mapping,
    out_dir: str | os.PathLike,
    splits: Mapping[str, pd.DataFrame] | None = None,
    evaluation: Mapping | None = None,
    test_dir: str | os.PathLike | None = None,
) -> dict:
    """Write an ensemble's files, each atomically: its fit into ``out_dir``
    (:func:`write_ensemble_fit`), its test set into ``test_dir`` (default
    ``out_dir``; :func:`write_ensemble_test`). One file per role of
    :data:`deepfake_ensemble.layout.ENSEMBLE_FILES` (named by
    :func:`deepfake_ensemble.layout.ensemble_files`). Returns the metrics
    dict (:func:`ensemble_metrics` with ``splits`` and ``evaluation``).
    """
    write_ensemble_fit(result, out_dir)
    return write_ensemble_test(
        result, out_dir if test_dir is None else test_dir, splits, evaluation
    )


def write_ensemble_fit(result: Mapping, out_dir: str | os.PathLike) -> None:
    """The files of the fit (:data:`deepfake_ensemble.layout.ENSEMBLE_FIT_FILES`):
    the validation tables ``val_frames, val_videos``, then ``members`` (with
    the validation alignment) and, last, ``weights`` (everything fitted, as
    plain parameters)."""
    files = ensemble_files(out_dir)
    for role in ("val_frames", "val_videos"):
        write_csv(result[role], files[role])
    write_json(
        {
            "name": result["name"],
            "rule": result["rule"],
            "method": result["method"],
            "members": list(result["members"]),
            "reason": result["reason"],
            "val_fit": result.get("val_fit"),
            "alignment": {"val": result["alignment"]["val"]},
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


def read_ensemble_fit(
    members_json: str | os.PathLike,
    weights_json: str | os.PathLike,
    val_frames: str | os.PathLike,
    val_videos: str | os.PathLike,
) -> dict:
    """An ensemble's fit as :func:`write_ensemble_fit` wrote it: the dict of
    :func:`build_ensemble` without its test tables."""
    members = read_json(members_json)
    weights = read_json(weights_json)
    return {
        "name": members["name"],
        "rule": members["rule"],
        "method": members["method"],
        "members": list(members["members"]),
        "reason": members["reason"],
        "weights": weights["weights"],
        "meta": weights["meta"],
        "val_frames": read_predictions(val_frames),
        "val_videos": read_predictions(val_videos),
        "val_fit": members.get("val_fit"),
        "alignment": members.get("alignment") or {},
    }


def write_ensemble_test(
    result: Mapping,
    test_dir: str | os.PathLike,
    splits: Mapping[str, pd.DataFrame] | None = None,
    evaluation: Mapping | None = None,
) -> dict:
    """The files of one test set
    (:data:`deepfake_ensemble.layout.ENSEMBLE_TEST_FILES`): ``test_frames,
    test_videos`` and, last, ``metrics`` (with the test alignment).
    ``result`` holds the fit's validation tables too (for the validation
    threshold); returns the metrics."""
    files = ensemble_files(test_dir)
    for role in ("test_frames", "test_videos"):
        write_csv(result[role], files[role])
    metrics = ensemble_metrics(result, splits=splits, evaluation=evaluation)
    metrics["alignment"] = result["alignment"].get("test")
    write_json(metrics, files["metrics"])
    return metrics
