"""Statistics for comparing detectors: DeLong's test and bootstrap intervals.

* :func:`delong_test` - paired DeLong test of two correlated ROC-AUCs
  (DeLong, DeLong and Clarke-Pearson 1988), computed from mid-ranks as in
  Sun and Xu (2014), "Fast implementation of DeLong's algorithm for comparing
  the areas under correlated receiver operating characteristic curves".
* :func:`bootstrap_auc_ci` - percentile bootstrap interval of an AUC that
  resamples *videos* (frames of one video are not independent).
* :func:`compare_to_best` - one sentence per ensemble: does it beat the best
  single model?
* :func:`per_dataset_metrics` - metrics per source dataset of the test split.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.stats import norm, rankdata

from deepfake_ensemble.errors import InputError
from deepfake_ensemble.metrics import (
    defined,
    evaluate,
    validate_predictions,
    video_scores,
)


def _labels_scores(labels, *scores) -> tuple[np.ndarray, list[np.ndarray]]:
    y = np.asarray(labels)
    if not np.isin(y, (0, 1)).all():
        raise InputError("labels must be 0 (real) or 1 (fake)")
    y = y.astype(int)
    out = []
    for s in scores:
        s = np.asarray(s, dtype=float)
        if s.shape != y.shape:
            raise InputError(f"{s.shape[0]} scores for {y.shape[0]} labels")
        if not np.isfinite(s).all():
            raise InputError(f"score {int(np.flatnonzero(~np.isfinite(s))[0])} is NaN")
        out.append(s)
    if np.unique(y).size != 2:
        raise InputError("an AUC comparison needs both real and fake examples")
    return y, out


def delong_covariance(labels, score_rows) -> tuple[np.ndarray, np.ndarray]:
    """AUCs of k score vectors on the same examples and their DeLong covariance.

    ``score_rows`` is k x n. Mid-ranks give the structural components without
    pairwise comparisons: for positive i, V10_i = (rank of i among all -
    rank of i among positives) / N is the share of negatives below it (ties
    one half); for negative j, V01_j = 1 - (rank among all - rank among
    negatives) / P is the share of positives above it. Returns ``(aucs,
    cov)`` with cov = S10 / P + S01 / N (sample covariances, ddof 1).
    """
    s = np.atleast_2d(np.asarray(score_rows, dtype=float))
    y, _ = _labels_scores(labels, *s)
    pos, neg = s[:, y == 1], s[:, y == 0]
    n_pos, n_neg = pos.shape[1], neg.shape[1]
    r_all = rankdata(np.hstack([pos, neg]), axis=1)
    r_pos = rankdata(pos, axis=1)
    r_neg = rankdata(neg, axis=1)
    v10 = (r_all[:, :n_pos] - r_pos) / n_neg
    v01 = 1.0 - (r_all[:, n_pos:] - r_neg) / n_pos
    aucs = v10.mean(axis=1)
    s10 = np.atleast_2d(np.cov(v10)) if n_pos > 1 else np.zeros((len(s), len(s)))
    s01 = np.atleast_2d(np.cov(v01)) if n_neg > 1 else np.zeros((len(s), len(s)))
    return aucs, s10 / n_pos + s01 / n_neg


def delong_test(labels, scores_a, scores_b) -> tuple[float, float, float, float]:
    """Paired two-sided DeLong test of AUC(a) = AUC(b) on the same examples.

    Returns ``(auc_a, auc_b, z, p)`` with z = (auc_a - auc_b) / sd of the
    difference. Identical AUCs with zero variance give z = 0, p = 1; a
    difference with zero variance gives z = +-inf, p = 0.
    """
    aucs, cov = delong_covariance(labels, np.vstack([scores_a, scores_b]))
    diff = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    if var <= 0 or not math.isfinite(var):
        z = 0.0 if abs(diff) < 1e-15 else math.copysign(math.inf, diff)
    else:
        z = diff / math.sqrt(var)
    p = float(2 * norm.sf(abs(z)))
    return float(aucs[0]), float(aucs[1]), float(z), p


def _video_table(video_ids, labels, scores) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "video_id": np.asarray(video_ids).astype(str),
            "label": np.asarray(labels),
            "score": np.asarray(scores, dtype=float),
        }
    )
    if not (len(df["video_id"]) == len(df["label"]) == len(df["score"])):
        raise InputError("video_ids, labels and scores differ in length")
    return df


def bootstrap_auc_ci(
    video_ids,
    labels,
    scores,
    n: int = 1000,
    seed: int = 1,
    level: str = "video",
    alpha: float = 0.05,
) -> tuple[float | None, float | None, int]:
    """Percentile bootstrap interval of the ROC-AUC, resampling videos.

    Rows are frames (or videos) with the video each belongs to. Videos are
    sorted by id; resample b draws ``n_videos`` of them with replacement, row
    b of ``numpy.random.default_rng(seed).integers(0, n_videos, (n,
    n_videos))``. ``level="video"``: the AUC of the drawn videos' mean
    scores; ``level="frame"``: the AUC over all frames of the drawn videos (a
    video drawn k times counts k times). Resamples holding one class only are
    skipped. Returns ``(lo, hi, n_valid)`` (the ``alpha/2`` and ``1 -
    alpha/2`` quantiles of the valid resamples' AUCs); ``(None, None, 0)``
    when no resample was usable.

    Scores never change between resamples, only the video multiplicities, so
    the frames are sorted once and every resample's AUC is the weighted
    Mann-Whitney statistic (ties one half) computed for all resamples at once.
    """
    df = validate_predictions(
        _video_table(video_ids, labels, scores),
        "bootstrap input",
        ("video_id", "label", "score"),
    )
    if level == "video":
        df = video_scores(df.assign(frame_index=0))
    elif level != "frame":
        raise ValueError(f"level must be 'video' or 'frame', not {level!r}")
    codes, uniques = pd.factorize(df["video_id"], sort=True)
    n_videos = len(uniques)
    y = df["label"].to_numpy()
    s = df["score"].to_numpy()
    order = np.argsort(s, kind="mergesort")
    s_sorted = s[order]
    group = np.concatenate([[0], np.cumsum(s_sorted[1:] != s_sorted[:-1])])
    n_groups = int(group[-1]) + 1
    video_sorted = codes[order]
    fake_sorted = y[order] == 1

    def rows_per_group(mask: np.ndarray) -> sparse.csr_matrix:
        # [group, video] -> number of frames of that class
        return sparse.csr_matrix(
            (np.ones(int(mask.sum())), (group[mask], video_sorted[mask])),
            shape=(n_groups, n_videos),
        )

    pos_g, neg_g = rows_per_group(fake_sorted), rows_per_group(~fake_sorted)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_videos, size=(n, n_videos))
    offsets = np.arange(n)[:, None] * n_videos
    counts = np.bincount((draws + offsets).ravel(), minlength=n * n_videos)
    counts = counts.reshape(n, n_videos).astype(float)
    aucs = []
    for start in range(0, n, 256):
        c = counts[start : start + 256].T  # videos x resamples
        p = np.asarray(pos_g @ c)  # groups x resamples: weight of fakes
        q = np.asarray(neg_g @ c)  # weight of reals
        below = np.cumsum(q, axis=0) - q
        num = (p * (below + 0.5 * q)).sum(axis=0)
        tot_p, tot_q = p.sum(axis=0), q.sum(axis=0)
        valid = (tot_p > 0) & (tot_q > 0)
        aucs.append(num[valid] / (tot_p[valid] * tot_q[valid]))
    aucs = np.concatenate(aucs) if aucs else np.empty(0)
    if aucs.size == 0:
        return None, None, 0
    lo, hi = np.quantile(aucs, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi), int(aucs.size)


def _fmt(v, digits: int = 3) -> str:
    v = defined(v)
    return "n/a" if v is None else f"{v:.{digits}f}"


def compare_to_best(
    name: str,
    video_df: pd.DataFrame,
    best_name: str,
    best_video_df: pd.DataFrame,
    n_boot: int = 1000,
    seed: int = 1,
    alpha: float = 0.05,
) -> dict:
    """Does ``name`` beat the best single model at video level?

    Both tables hold ``video_id, label, score`` (one row a video, e.g. from
    :func:`deepfake_ensemble.metrics.video_scores`); they are compared on
    their common videos (labels must agree). The verdict: "better" / "worse"
    when the paired DeLong p-value is below ``alpha``, otherwise "no
    significant difference"; the sentence also says whether the bootstrap
    intervals (video resampling, same seed) overlap. Returns a dict with
    ``auc, ci_lo, ci_hi, best, best_auc, best_ci_lo, best_ci_hi, z, p,
    ci_overlap, n_videos, verdict, sentence``.
    """
    a = video_df[["video_id", "label", "score"]].astype({"video_id": str})
    b = best_video_df[["video_id", "label", "score"]].astype({"video_id": str})
    j = a.merge(b, on="video_id", suffixes=("_a", "_b"), validate="one_to_one")
    if j.empty:
        raise InputError(f"{name} and {best_name} share no video")
    bad = j["label_a"] != j["label_b"]
    if bad.any():
        raise InputError(
            f"{name} and {best_name} disagree on the label of video "
            f"{j.loc[bad, 'video_id'].iloc[0]!r}"
        )
    y = j["label_a"].to_numpy()
    out = {"name": name, "best": best_name, "n_videos": len(j)}
    if np.unique(y).size < 2:
        out.update(
            auc=None,
            ci_lo=None,
            ci_hi=None,
            best_auc=None,
            best_ci_lo=None,
            best_ci_hi=None,
            z=None,
            p=None,
            ci_overlap=None,
            verdict="not comparable",
            sentence=f"{name}: the test videos hold one class only; "
            "AUC undefined, no comparison with the best single model.",
        )
        return out
    auc_a, auc_b, z, p = delong_test(y, j["score_a"], j["score_b"])
    lo_a, hi_a, _ = bootstrap_auc_ci(j["video_id"], y, j["score_a"], n_boot, seed)
    lo_b, hi_b, _ = bootstrap_auc_ci(j["video_id"], y, j["score_b"], n_boot, seed)
    overlap = None
    if None not in (lo_a, hi_a, lo_b, hi_b):
        overlap = bool(lo_a <= hi_b and lo_b <= hi_a)
    if p < alpha:
        verdict = "better" if auc_a > auc_b else "worse"
    else:
        verdict = "no significant difference"
    ci_words = {
        True: "intervals overlap",
        False: "intervals do not overlap",
        None: "intervals unavailable",
    }[overlap]
    sentence = (
        f"{name}: video AUC {_fmt(auc_a)} [{_fmt(lo_a)}, {_fmt(hi_a)}] vs best "
        f"single {best_name} {_fmt(auc_b)} [{_fmt(lo_b)}, {_fmt(hi_b)}]; "
        f"DeLong p = {p:.3g}, {ci_words} — {verdict}."
    )
    out.update(
        auc=auc_a,
        ci_lo=lo_a,
        ci_hi=hi_a,
        best_auc=auc_b,
        best_ci_lo=lo_b,
        best_ci_hi=hi_b,
        z=z,
        p=p,
        ci_overlap=overlap,
        verdict=verdict,
        sentence=sentence,
    )
    return out


def dataset_of(video_id: str) -> str:
    """The dataset a video belongs to: its id's prefix before the first '/'."""
    return str(video_id).split("/", 1)[0]


def per_dataset_metrics(pred_df: pd.DataFrame, threshold: float = 0.5) -> pd.DataFrame:
    """One row of :func:`deepfake_ensemble.metrics.evaluate` per dataset.

    The dataset is the video_id prefix before the first '/'. Columns:
    ``dataset`` then the metrics (confusion matrix as tn, fp, fn, tp).
    """
    df = validate_predictions(pred_df)
    rows = []
    for ds, part in df.groupby(df["video_id"].map(dataset_of), sort=True):
        m = evaluate(part, threshold)
        (tn, fp), (fn, tp) = m.pop("confusion_matrix")
        rows.append({"dataset": ds, **m, "tn": tn, "fp": fp, "fn": fn, "tp": tp})
    return pd.DataFrame(rows)


def per_dataset_table(
    preds: Mapping[str, pd.DataFrame], threshold: float = 0.5
) -> pd.DataFrame:
    """:func:`per_dataset_metrics` of several predictions tables (name -> table),
    stacked with a leading ``name`` column."""
    parts = [
        per_dataset_metrics(df, threshold).assign(name=name)
        for name, df in preds.items()
    ]
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    return out[["name"] + [c for c in out.columns if c != "name"]]
