"""Statistics for comparing detectors: DeLong, grouped tests, bootstrap intervals.

* :func:`delong_test` - paired DeLong test of two correlated ROC-AUCs
  (DeLong, DeLong and Clarke-Pearson 1988), computed from mid-ranks as in
  Sun and Xu (2014), "Fast implementation of DeLong's algorithm for comparing
  the areas under correlated receiver operating characteristic curves".
* :func:`grouped_test` - paired test of two AUCs on grouped examples
  (videos of one identity or one original are not independent): the
  delete-a-group jackknife variance of the AUC difference and Student's t
  with degrees of freedom that shrink when groups are unbalanced
  (:func:`grouped_df`); :func:`grouped_auc_jackknife` computes the
  leave-one-group-out AUCs from mid-ranks.
* :func:`wild_cluster_test` - the same jackknife t referred to a restricted
  wild cluster bootstrap (Webb's six-point weights) instead of Student's t.
* :func:`holm` - Holm's step-down correction of a family of p-values;
  :func:`holm_matched_interval` - the difference interval whose level
  matches a Holm-adjusted p-value (it excludes 0 exactly when the adjusted
  p-value is below alpha).
* :func:`power_at`, :func:`detectable_difference` - the power of a grouped
  test against a given AUC difference and the smallest difference it detects
  with a given power; :func:`verdict_of` says "inconclusive" where a
  non-significant test had too little power.
* :func:`bootstrap_auc_ci` - percentile bootstrap interval of an AUC that
  resamples *clusters* (groups of videos; each video its own by default),
  paired across detectors through a shared seed and cluster list.
* :func:`compare_to_best` - one sentence per ensemble: does it beat the best
  single model?
* :func:`per_dataset_metrics` - metrics per source dataset of the test split.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import brentq
from scipy.stats import nct, norm, rankdata
from scipy.stats import t as student_t

from deepfake_ensemble.defaults import DEFAULTS
from deepfake_ensemble.errors import InputError
from deepfake_ensemble.evaluate.metrics import (
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


def _codes(values) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes 0..K-1 of ``values`` (sorted as strings) and the uniques."""
    codes, uniques = pd.factorize(pd.Series(np.asarray(values)).astype(str), sort=True)
    return codes.astype(np.int64), np.asarray(uniques)


def _ranks_within(codes: np.ndarray, r_all: np.ndarray, n_codes: int) -> np.ndarray:
    """Mid-ranks of the items inside their own code (group), from global mid-ranks.

    ``r_all`` (k x n) are mid-ranks (ties share one value, a multiple of 1/2,
    at most ``top``); ordering by (code, r_all) keeps those ties, so the
    mid-ranks of ``code * (top + 1) + r_all`` minus the number of items in
    earlier codes are the mid-ranks within each code.
    """
    sizes = np.bincount(codes, minlength=n_codes)
    before = np.cumsum(sizes) - sizes
    top = float(r_all.max()) if r_all.size else 0.0
    key = codes[None, :] * (top + 1.0) + r_all
    return rankdata(key, axis=1) - before[codes][None, :]


def grouped_auc_jackknife(labels, score_rows, groups) -> dict:
    """AUCs of k score vectors and their leave-one-group-out (jackknife) values.

    The AUC is the Mann-Whitney statistic W / (P N) (ties one half). Deleting
    group i removes its positives' wins ``R_i``, the wins over its negatives
    ``C_i`` and adds back the pairs inside the group ``W_ii`` (counted twice):

        AUC_(-i) = (W - R_i - C_i + W_ii) / ((P - P_i) (N - N_i))

    All of it comes from mid-ranks (over all items, within each group, among
    the positives): no pairwise loop and no K x K matrix. Returns ``aucs``
    (k,), ``loo`` (k x K, NaN where deleting a group leaves one class),
    ``n_groups`` and ``groups`` (the sorted group names).
    """
    s = np.atleast_2d(np.asarray(score_rows, dtype=float))
    y, _ = _labels_scores(labels, *s)
    gi, uniques = _codes(groups)
    if gi.size != y.size:
        raise InputError(f"{gi.size} groups for {y.size} labels")
    k_groups = uniques.size
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    r_all = rankdata(s, axis=1)
    r_pos = rankdata(s[:, pos], axis=1)
    r_neg = rankdata(s[:, ~pos], axis=1)
    wins_pos = r_all[:, pos] - r_pos  # negatives below each positive (ties 1/2)
    wins_neg = n_pos - (r_all[:, ~pos] - r_neg)  # positives above each negative
    # pairs inside a group: the same identity, within each group's items
    r_in = _ranks_within(gi, r_all, k_groups)
    r_in_pos = _ranks_within(gi[pos], r_all[:, pos], k_groups)
    wins_in = r_in[:, pos] - r_in_pos
    p_i = np.bincount(gi[pos], minlength=k_groups)
    n_i = np.bincount(gi[~pos], minlength=k_groups)
    total = wins_pos.sum(axis=1)
    loo = np.empty((s.shape[0], k_groups))
    denom = (n_pos - p_i) * (n_neg - n_i)
    for r in range(s.shape[0]):
        r_i = np.bincount(gi[pos], weights=wins_pos[r], minlength=k_groups)
        c_i = np.bincount(gi[~pos], weights=wins_neg[r], minlength=k_groups)
        w_ii = np.bincount(gi[pos], weights=wins_in[r], minlength=k_groups)
        num = total[r] - r_i - c_i + w_ii
        with np.errstate(invalid="ignore", divide="ignore"):
            loo[r] = np.where(denom > 0, num / np.where(denom > 0, denom, 1), np.nan)
    return {
        "aucs": total / (n_pos * n_neg),
        "loo": loo,
        "n_groups": int(k_groups),
        "groups": uniques,
    }


def group_shares(labels, groups) -> np.ndarray:
    """Each group's share of an AUC, in the order of the sorted group names.

    The AUC is the mean of the positives' and the negatives' placements, so
    group g carries ``(P_g / P + N_g / N) / 2`` of it (P_g, N_g: its fakes
    and reals); the shares sum to 1 and are equal for equal groups of equal
    class balance."""
    y = np.asarray(labels).astype(int)
    gi, uniques = _codes(groups)
    pos = y == 1
    p_g = np.bincount(gi[pos], minlength=uniques.size) / max(int(pos.sum()), 1)
    n_g = np.bincount(gi[~pos], minlength=uniques.size) / max(int((~pos).sum()), 1)
    return (p_g + n_g) / 2


def effective_groups(shares) -> float:
    """The effective number of groups ``1 / sum(s_g^2)`` (K for K equal
    groups, fewer when some groups carry more of the AUC)."""
    s = np.asarray(shares, dtype=float)
    return float(1.0 / np.sum(s**2)) if s.size else 0.0


def bell_mccaffrey_df(shares) -> float:
    """Bell-McCaffrey degrees of freedom of the CR2 variance of a statistic
    that is a sum of group contributions with shares ``s_g``, under the
    working model of independent videos (group g's contribution has variance
    proportional to ``s_g``): ``tr(B W)^2 / tr((B W)^2)`` with
    ``B = M' diag(1 / (1 - s)) M``, ``M = I - s 1'``, ``W = diag(s)``
    (Bell and McCaffrey 2002; Imbens and Kolesar 2016). K - 1 for equal
    groups; fewer when one group carries much of the statistic."""
    s = np.asarray(shares, dtype=float)
    k = s.size
    if k < 2 or np.any(s >= 1):
        return float(max(k - 1, 0))
    m = np.eye(k) - np.outer(s, np.ones(k))
    bw = m.T @ np.diag(1 / (1 - s)) @ m @ np.diag(s)
    return float(np.trace(bw) ** 2 / np.trace(bw @ bw))


def grouped_df(shares) -> float:
    """Degrees of freedom of the grouped jackknife t-test: the midpoint of
    K - 1 and the Bell-McCaffrey value (:func:`bell_mccaffrey_df`).

    Chosen by simulation (``benchmarks/grouped_test_size.py``, whose table
    is in docs/statistics.md): with equal groups both are K - 1, and the
    jackknife t-test holds its size; with one group holding 40% of the
    videos K - 1 over-rejects at 30 groups, while Bell-McCaffrey's value
    together with the jackknife's variance (which already inflates the large
    group's residual) is conservative; the midpoint lies between them.
    """
    s = np.asarray(shares, dtype=float)
    return float((s.size - 1 + bell_mccaffrey_df(s)) / 2)


def grouped_test(
    labels, scores_a, scores_b, groups, alpha: float = DEFAULTS["evaluation.alpha"]
) -> dict:
    """Paired test of AUC(a) = AUC(b) when examples come in correlated groups.

    The variance of the AUC difference is the delete-a-group jackknife
    (CV3, the small-sample form of the cluster-robust DeLong variance):
    ``(K - 1) / K * sum_i (d_(-i) - mean d_(-))^2`` over the K groups, and
    ``t = d / se`` is referred to Student's t (Cameron and Miller 2015, "A
    practitioner's guide to cluster-robust inference") with :func:`grouped_df`
    degrees of freedom: K - 1 for equal groups, fewer for unbalanced ones.
    With one group per example it is the ordinary jackknife of the paired
    AUC difference, close to DeLong's test. On clustered simulated test sets
    it keeps its size where DeLong and a percentile cluster bootstrap reject
    about twice too often (``tests/test_stats.py``,
    ``benchmarks/grouped_test_size.py``).

    Returns ``auc_a, auc_b, diff, se, t, df, p, diff_ci_lo, diff_ci_hi
    (1 - alpha, t-based, unadjusted), n_groups, n_effective``
    (:func:`effective_groups`); ``p`` and the interval are ``None``
    with fewer than two groups or when deleting some group leaves one class
    (the jackknife is undefined there). A zero variance gives t = 0, p = 1
    for equal AUCs and no test (``None``) for different ones: every group
    moved the difference alike, which says nothing about its uncertainty
    (tiny test sets of two or three groups do this).
    """
    c = grouped_contrast_test(
        labels, np.vstack([scores_a, scores_b]), [1.0, -1.0], groups, alpha
    )
    auc_a, auc_b = c.pop("aucs")
    return {"auc_a": auc_a, "auc_b": auc_b, **c}


def grouped_contrast_test(
    labels, score_rows, weights, groups, alpha: float = DEFAULTS["evaluation.alpha"]
) -> dict:
    """The test of :func:`grouped_test` for any linear contrast of AUCs on
    the same examples: ``diff = sum_r weights[r] * AUC(score_rows[r])``,
    its variance the delete-a-group jackknife of the same contrast.
    ``(1, -1)`` is :func:`grouped_test`; ``(-1, 1, 1, -1)`` over an
    ensemble's and a member's clean and degraded scores tests whether the
    ensemble's AUC drop is smaller than the member's (the robustness stage).
    Returns ``aucs`` (one a row) and the keys of :func:`grouped_test` but
    ``auc_a, auc_b``."""
    w = np.asarray(weights, dtype=float)
    jk = grouped_auc_jackknife(labels, score_rows, groups)
    if w.size != jk["aucs"].size:
        raise InputError(f"{w.size} contrast weights for {jk['aucs'].size} AUCs")
    aucs = [float(a) for a in jk["aucs"]]
    diff = float(w @ jk["aucs"])
    k = jk["n_groups"]
    shares = group_shares(labels, groups)
    df = grouped_df(shares)
    out = {
        "aucs": aucs,
        "diff": diff,
        "se": None,
        "t": None,
        "df": df,
        "p": None,
        "diff_ci_lo": None,
        "diff_ci_hi": None,
        "n_groups": k,
        "n_effective": effective_groups(shares),
    }
    d_loo = w @ jk["loo"]
    if k < 2 or not np.isfinite(d_loo).all():
        return out
    var = float((k - 1) / k * ((d_loo - d_loo.mean()) ** 2).sum())
    if var <= 1e-30 or not math.isfinite(var):
        if abs(diff) >= 1e-12:  # a difference with no measured spread: no test
            return out
        t, se = 0.0, 0.0
    else:
        se = math.sqrt(var)
        t = diff / se
    half = float(student_t.ppf(1 - alpha / 2, df)) * se
    out.update(
        se=se,
        t=float(t),
        p=float(2 * student_t.sf(abs(t), df)),
        diff_ci_lo=diff - half,
        diff_ci_hi=diff + half,
    )
    return out


#: wild bootstrap weights, mean 0 and variance 1: Webb's six points
#: (+-sqrt(1/2), +-1, +-sqrt(3/2), equally likely) and Rademacher's two (+-1)
WILD_WEIGHTS = {
    "webb": np.array(
        [-math.sqrt(1.5), -1.0, -math.sqrt(0.5), math.sqrt(0.5), 1.0, math.sqrt(1.5)]
    ),
    "rademacher": np.array([-1.0, 1.0]),
}


def _wild_weight_blocks(
    values: np.ndarray, k: int, n: int | None, seed: int
) -> Iterator[np.ndarray]:
    """Blocks of wild bootstrap weight vectors (one row each, k columns, at
    most about 2**20 weights a block): every one of the ``len(values) ** k``
    vectors for ``n=None``, else ``n`` rows drawn with ``seed``."""
    rows = max(1, 2**20 // k)
    if n is None:
        every = itertools.product(range(values.size), repeat=k)
        while block := list(itertools.islice(every, rows)):
            yield values[np.array(block)]
        return
    rng = np.random.default_rng(seed)
    for start in range(0, n, rows):
        yield values[rng.integers(0, values.size, (min(rows, n - start), k))]


def wild_cluster_test(
    labels,
    scores_a,
    scores_b,
    groups,
    n_boot: int = 9999,
    seed: int = DEFAULTS["ensemble.seed"],
    weights: str = "webb",
) -> tuple[float | None, float | None]:
    """Paired test of AUC(a) = AUC(b) on grouped examples: the jackknife t of
    :func:`grouped_test` referred to a restricted wild cluster bootstrap.

    The statistic is :func:`grouped_test`'s ``t = d / se`` (d the AUC
    difference, se its delete-a-group jackknife). Its null distribution comes
    from a wild cluster bootstrap with the null imposed (WCR; Cameron,
    Gelbach and Miller 2008, "Bootstrap-based improvements for inference with
    clustered errors") of a linear stand-in for d: group g carries
    ``c_g = s_g d + e_g`` of it (``s_g``: its share, :func:`group_shares`;
    ``e_g``: its residual, ``(1 - s_g) (d - d_(-g))`` as for a weighted mean,
    less ``s_g`` times their sum so that the residuals sum to 0 and the
    ``c_g`` to d). Under the null every ``c_g`` has mean 0, so a bootstrap
    sample multiplies each by a weight ``w_g`` of mean 0 and variance 1:
    ``d* = sum_g w_g c_g``, and its t* divides d* by the same jackknife
    standard error computed on the bootstrap sample (for a weighted mean,
    ``d* - d*_(-g) = (w_g c_g - s_g d*) / (1 - s_g)``), as in the WCR
    bootstrap with a jackknife (CV3) variance in the bootstrap statistic
    (MacKinnon, Nielsen and Webb 2023, "Fast and reliable jackknife and
    bootstrap methods for cluster-robust inference", arXiv:2301.04527).
    ``p = (1 + count) / (1 + B)``: the share of the B bootstrap samples and
    the observed one with ``|t*| >= |t|``; the samples are ``n_boot`` seeded
    draws or, where there are at most ``n_boot`` distinct weight vectors,
    all of them (no randomness; the all-ones vector gives back d but not
    exactly t, the stand-in being linear, so the observed t counts on its
    own). ``weights`` "webb" (the default) is Webb's six-point distribution
    (Webb 2014, "Reworking wild bootstrap based inference for clustered
    errors", Queen's Economics Department Working Paper 1315): 46,656
    distinct samples for 6 groups, where Rademacher's two points
    (``"rademacher"``) give 64 and p-values in steps of 2/65 (w and -w give
    the same |t*|). On the clustered designs of
    ``benchmarks/grouped_test_size.py`` (6, 12, 30 groups, equal or one
    holding 40% of the videos) it rejects at 0.05 in 5% of the simulations
    or close to it, where Student's t with :func:`grouped_df` degrees of
    freedom rejects in 3-4% with 6 groups. Its power is the t-test's with 6
    to 12 groups but lower where one group holds 40% of 30 groups' videos
    (about 15% against 21% at an AUC difference of 0.045): the null imposed
    on that group's large contribution widens the bootstrap distribution
    (its 95% point of |t*| rises from about 2.1 to 2.3 there).

    Returns ``(t, p)``: ``(None, None)`` where :func:`grouped_test` has no
    p-value (fewer than two groups, deleting some group leaves one class, a
    difference with no measured spread), ``(0.0, 1.0)`` for equal AUCs with
    zero variance. Deterministic given ``seed``.
    """
    if weights not in WILD_WEIGHTS:
        raise InputError(
            f"weights must be one of {sorted(WILD_WEIGHTS)}, not {weights!r}"
        )
    if n_boot < 1:
        raise InputError(f"n_boot must be at least 1, not {n_boot}")
    jk = grouped_auc_jackknife(labels, np.vstack([scores_a, scores_b]), groups)
    k = jk["n_groups"]
    d_loo = jk["loo"][0] - jk["loo"][1]
    if k < 2 or not np.isfinite(d_loo).all():
        return None, None
    diff = float(jk["aucs"][0] - jk["aucs"][1])
    var = float((k - 1) / k * ((d_loo - d_loo.mean()) ** 2).sum())
    if var <= 1e-30 or not math.isfinite(var):
        return (0.0, 1.0) if abs(diff) < 1e-12 else (None, None)
    t = diff / math.sqrt(var)
    s = group_shares(labels, groups)  # < 1 each: no group holds a whole class
    resid = (1 - s) * (diff - d_loo)
    contrib = s * diff + resid - s * resid.sum()
    values = WILD_WEIGHTS[weights]
    every = values.size**k <= n_boot
    count = total = 0
    for w in _wild_weight_blocks(values, k, None if every else n_boot, seed):
        c = w * contrib
        d_star = c.sum(axis=1)
        dev = (c - d_star[:, None] * s) / (1 - s)
        v_star = (k - 1) / k * ((dev - dev.mean(axis=1, keepdims=True)) ** 2).sum(1)
        spread = v_star > 0
        t_star = np.where(d_star == 0, 0.0, np.inf)  # no spread: 0 or infinite
        t_star[spread] = np.abs(d_star[spread]) / np.sqrt(v_star[spread])
        count += int(np.count_nonzero(t_star >= abs(t) * (1 - 1e-9)))
        total += len(w)
    return float(t), (1 + count) / (1 + total)


def holm(pvalues) -> list[float | None]:
    """Holm's step-down adjustment of a family of p-values (``None`` skipped).

    The i-th smallest of m p-values becomes ``max_{j <= i} (m - j + 1) p_(j)``,
    capped at 1; rejecting where the adjusted value is below alpha controls
    the family-wise error rate at alpha (Holm 1979). ``None`` entries are no
    test and stay ``None``; they do not count in m.
    """
    values = [defined(p) for p in pvalues]
    idx = [i for i, p in enumerate(values) if p is not None]
    out: list[float | None] = [None] * len(values)
    if not idx:
        return out
    p = np.array([values[i] for i in idx])
    order = np.argsort(p, kind="mergesort")
    m = p.size
    adj = np.minimum(np.maximum.accumulate((m - np.arange(m)) * p[order]), 1.0)
    for rank, j in enumerate(order):
        out[idx[j]] = float(adj[rank])
    return out


def holm_matched_interval(
    diff, se, df, p, p_holm, alpha: float = DEFAULTS["evaluation.alpha"]
) -> tuple[float | None, float | None, float | None]:
    """The t-interval of a difference at the level its Holm adjustment used.

    Holm multiplies the row's p-value by ``c = p_holm / p`` (at most the
    family's size); the interval at confidence ``1 - alpha / c`` excludes 0
    exactly when ``p_holm < alpha``, so that an interval and its verdict
    never disagree. It is not a simultaneous interval for the family (those
    are wider: Bonferroni's uses the family's size for every row). Returns
    ``(lo, hi, level)``; ``None`` where there is no test."""
    diff, se, df = defined(diff), defined(se), defined(df)
    p, p_holm = defined(p), defined(p_holm)
    if None in (diff, se, df, p, p_holm) or p <= 0:
        return None, None, None
    level = alpha * min(p / p_holm, 1.0) if p_holm > 0 else alpha
    half = float(student_t.ppf(1 - level / 2, df)) * se
    return diff - half, diff + half, 1 - level


def power_at(delta, se, df, level: float) -> float | None:
    """Power of the two-sided grouped t-test at ``level`` against a true
    difference ``delta``, its standard error ``se`` and ``df`` (noncentral
    t); ``None`` without a standard error."""
    se, df = defined(se), defined(df)
    if se is None or df is None or se <= 0 or df <= 0:
        return None
    crit = float(student_t.ppf(1 - level / 2, df))
    ncp = abs(float(delta)) / se
    power = float(nct.sf(crit, df, ncp) + nct.cdf(-crit, df, ncp))
    if not math.isfinite(power):  # far in the tail: the normal limit
        power = float(norm.sf(crit - ncp) + norm.cdf(-crit - ncp))
    return min(max(power, 0.0), 1.0)


def detectable_difference(se, df, level: float, power: float) -> float | None:
    """The smallest AUC difference the grouped t-test at ``level`` detects
    with probability ``power`` (:func:`power_at` solved for the difference;
    about ``(t_(1 - level/2) + t_power) * se``, the usual minimum detectable
    difference)."""
    se, df = defined(se), defined(df)
    if se is None or df is None or se <= 0 or df <= 0:
        return None
    crit = float(student_t.ppf(1 - level / 2, df))
    guess = (crit + float(student_t.ppf(power, df))) * se
    return float(brentq(lambda d: power_at(d, se, df, level) - power, 0.0, 2 * guess))


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


def cluster_bootstrap_aucs(
    video_ids,
    labels,
    scores,
    n: int = 1000,
    seed: int = DEFAULTS["ensemble.seed"],
    level: str = "video",
    clusters=None,
    all_clusters=None,
) -> np.ndarray:
    """The AUC of each of ``n`` cluster-bootstrap resamples (NaN where a
    resample holds one class); the scheme of :func:`bootstrap_auc_ci`. Two
    detectors scored on the same clusters get the same draws with the same
    ``seed`` and ``all_clusters``: differences of their arrays are a paired
    bootstrap of the AUC difference."""
    df = validate_predictions(
        _video_table(video_ids, labels, scores),
        "bootstrap input",
        ("video_id", "label", "score"),
    )
    cl = df["video_id"] if clusters is None else pd.Series(np.asarray(clusters))
    if len(cl) != len(df):
        raise InputError(f"{len(cl)} clusters for {len(df)} rows")
    df["cluster"] = cl.astype(str).to_numpy()
    if level == "video":
        per = df.groupby("video_id", sort=True)["cluster"].nunique()
        if (per > 1).any():
            raise InputError(
                f"video {per.index[per > 1][0]!r} belongs to more than one cluster"
            )
        first = df.groupby("video_id", sort=True)["cluster"].first()
        df = video_scores(df.drop(columns="cluster").assign(frame_index=0))
        df["cluster"] = first.loc[df["video_id"]].to_numpy()
    elif level != "frame":
        raise ValueError(f"level must be 'video' or 'frame', not {level!r}")
    if all_clusters is None:
        universe = np.asarray(sorted(set(df["cluster"])))
    else:
        universe = np.asarray(sorted({str(c) for c in all_clusters}))
        missing = sorted(set(df["cluster"]) - set(universe))
        if missing:
            raise InputError(f"cluster {missing[0]!r} is not among all_clusters")
    codes = np.searchsorted(universe, df["cluster"].to_numpy())
    n_clusters = len(universe)
    y = df["label"].to_numpy()
    s = df["score"].to_numpy()
    order = np.argsort(s, kind="mergesort")
    s_sorted = s[order]
    tie = np.concatenate([[0], np.cumsum(s_sorted[1:] != s_sorted[:-1])])
    n_ties = int(tie[-1]) + 1 if len(tie) else 0
    cluster_sorted = codes[order]
    fake_sorted = y[order] == 1

    def rows_per_tie(mask: np.ndarray) -> sparse.csr_matrix:
        # [tie group, cluster] -> number of rows of that class
        return sparse.csr_matrix(
            (np.ones(int(mask.sum())), (tie[mask], cluster_sorted[mask])),
            shape=(n_ties, n_clusters),
        )

    pos_g, neg_g = rows_per_tie(fake_sorted), rows_per_tie(~fake_sorted)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_clusters, size=(n, n_clusters))
    offsets = np.arange(n)[:, None] * n_clusters
    counts = np.bincount((draws + offsets).ravel(), minlength=n * n_clusters)
    counts = counts.reshape(n, n_clusters).astype(float)
    aucs = []
    for start in range(0, n, 256):
        c = counts[start : start + 256].T  # clusters x resamples
        p = np.asarray(pos_g @ c)  # tie groups x resamples: weight of fakes
        q = np.asarray(neg_g @ c)  # weight of reals
        below = np.cumsum(q, axis=0) - q
        num = (p * (below + 0.5 * q)).sum(axis=0)
        tot_p, tot_q = p.sum(axis=0), q.sum(axis=0)
        valid = (tot_p > 0) & (tot_q > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            aucs.append(np.where(valid, num / (tot_p * tot_q), np.nan))
    return np.concatenate(aucs) if aucs else np.empty(0)


def bootstrap_auc_ci(
    video_ids,
    labels,
    scores,
    n: int = 1000,
    seed: int = DEFAULTS["ensemble.seed"],
    level: str = "video",
    alpha: float = DEFAULTS["evaluation.alpha"],
    clusters=None,
    all_clusters=None,
) -> tuple[float | None, float | None, int]:
    """Percentile bootstrap interval of the ROC-AUC, resampling clusters.

    Rows are frames (or videos) with the video each belongs to and, in
    ``clusters``, the group of that video (an identity, an original video):
    resampling draws whole clusters, so every frame and every video of a
    group comes along (a cluster bootstrap). Without ``clusters`` each video
    is its own cluster. Clusters are drawn from ``all_clusters`` when given
    (sorted), else from the sorted clusters of the rows: resample b draws as
    many clusters as there are, row b of ``numpy.random.default_rng(seed)
    .integers(0, n_clusters, (n, n_clusters))``, so tables scored by
    different detectors on the same clusters get the same draws with the
    same seed (a paired bootstrap). ``level="video"``: the AUC of the drawn
    videos' mean scores; ``level="frame"``: the AUC over all frames of the
    drawn clusters (a cluster drawn k times counts k times). Resamples holding
    one class only are skipped. Returns ``(lo, hi, n_valid)`` (the ``alpha/2``
    and ``1 - alpha/2`` quantiles of the valid resamples' AUCs); ``(None,
    None, 0)`` when no resample was usable.

    Scores never change between resamples, only the cluster multiplicities,
    so the rows are sorted once and every resample's AUC is the weighted
    Mann-Whitney statistic (ties one half) computed for all resamples at once.
    With few clusters (fewer than about 10) the percentile interval is wide
    and still covers less than its nominal level; the paired comparison of
    :func:`grouped_test` is the one to read there.
    """
    aucs = cluster_bootstrap_aucs(
        video_ids, labels, scores, n, seed, level, clusters, all_clusters
    )
    aucs = aucs[np.isfinite(aucs)]
    if aucs.size == 0:
        return None, None, 0
    lo, hi = np.quantile(aucs, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi), int(aucs.size)


def _fmt(v, digits: int = 3) -> str:
    v = defined(v)
    return "n/a" if v is None else f"{v:.{digits}f}"


def _fmt_p(p) -> str:
    p = defined(p)
    return "n/a" if p is None else f"{p:.3g}"


def verdict_of(
    p,
    diff,
    alpha: float = DEFAULTS["evaluation.alpha"],
    power=None,
    target_power: float = DEFAULTS["evaluation.target_power"],
) -> str:
    """ "better" / "worse" where ``p < alpha`` (sign of ``diff``); where not,
    "inconclusive" when the test's ``power`` against the relevant difference
    is below ``target_power`` (it could not have told that difference from
    none, or has no power to show), else "no significant difference";
    "not testable" without a p-value. ``target_power`` 0 skips the power
    rule."""
    p = defined(p)
    if p is None:
        return "not testable"
    if p < alpha:
        return "better" if diff > 0 else "worse"
    power = defined(power)
    if target_power > 0 and (power is None or power < target_power):
        return "inconclusive"
    return "no significant difference"


def comparison_sentence(c: Mapping, p_used=None, p_label: str = "grouped p") -> str:
    """One sentence about a :func:`compare_to_best` result; the verdict is
    that of ``p_used`` (default: ``c["p_grouped"]``) and ``c["verdict"]``."""
    if c["auc"] is None:
        return (
            f"{c['name']}: the test videos hold one class only; AUC undefined, "
            "no comparison with the best single model."
        )
    p_used = c["p_grouped"] if p_used is None else p_used
    lo, hi = c.get("diff_ci_adj_lo"), c.get("diff_ci_adj_hi")
    if lo is not None and c.get("diff_ci_adj_level") is not None:
        ci = (
            f"[{_fmt(lo)}, {_fmt(hi)}] ({c['diff_ci_adj_level']:.1%}, "
            f"matching the Holm-adjusted p; unadjusted 95% "
            f"[{_fmt(c['diff_ci_lo'])}, {_fmt(c['diff_ci_hi'])}])"
        )
    elif c["diff_ci_lo"] is not None:
        ci = f"[{_fmt(c['diff_ci_lo'])}, {_fmt(c['diff_ci_hi'])}] (95%, unadjusted)"
    else:
        ci = "[n/a]"
    effective = c.get("n_effective")
    groups = f"{c['n_groups']} groups" + (
        f" ({effective:.1f} effective)" if effective is not None else ""
    )
    power = ""
    if c.get("power") is not None:
        power = (
            f"; power {c['power']:.0%} against a difference of "
            f"{c['relevant_difference']:g}, smallest difference detected with "
            f"{c['target_power']:.0%} power {_fmt(c['detectable'])}"
        )
    return (
        f"{c['name']}: video AUC {_fmt(c['auc'])} [{_fmt(c['ci_lo'])}, "
        f"{_fmt(c['ci_hi'])}] vs best single {c['best']} {_fmt(c['best_auc'])}; "
        f"difference {c['diff']:+.3f} {ci} over {groups}, "
        f"{p_label} = {_fmt_p(p_used)} (plain DeLong p = {_fmt_p(c['p'])})"
        f"{power} — {c['verdict']}."
    )


def compare_to_best(
    name: str,
    video_df: pd.DataFrame,
    best_name: str,
    best_video_df: pd.DataFrame,
    n_boot: int = DEFAULTS["ensemble.bootstrap"],
    seed: int = DEFAULTS["ensemble.seed"],
    alpha: float = DEFAULTS["evaluation.alpha"],
    all_groups=None,
) -> dict:
    """Does ``name`` beat the best single model at video level?

    Both tables hold ``video_id, label, score`` and optionally ``group`` (the
    identity or original each video comes from; without it every video is
    its own group); they are compared on their common videos (labels and
    groups must agree). Two paired tests of the AUC difference: the grouped
    jackknife t-test (:func:`grouped_test`, the verdict's) and plain DeLong
    (videos taken as independent, for comparison with the literature). The
    AUC intervals are paired cluster-bootstrap intervals (groups resampled,
    the same draws for both, drawn from ``all_groups`` when given). The
    verdict is "better" / "worse" when the grouped p-value is below
    ``alpha``, else "no significant difference" (a summary corrects the p-
    values for multiplicity first: :func:`holm`). Returns ``name, best,
    n_videos, n_groups, auc, ci_lo, ci_hi, best_auc, best_ci_lo, best_ci_hi,
    diff, diff_ci_lo, diff_ci_hi, t_grouped, df, p_grouped, se, n_effective,
    z, p, verdict, sentence`` (``z, p``: DeLong; the verdict is that of the
    uncorrected grouped p-value without the power rule: a summary replaces
    it).
    """
    cols = ["video_id", "label", "score"]
    a = video_df.copy()
    b = best_video_df.copy()
    for t in (a, b):
        if "group" not in t.columns:
            t["group"] = t["video_id"]
    a = a[[*cols, "group"]].astype({"video_id": str, "group": str})
    b = b[[*cols, "group"]].astype({"video_id": str, "group": str})
    j = a.merge(b, on="video_id", suffixes=("_a", "_b"), validate="one_to_one")
    if j.empty:
        raise InputError(f"{name} and {best_name} share no video")
    bad = j["label_a"] != j["label_b"]
    if bad.any():
        raise InputError(
            f"{name} and {best_name} disagree on the label of video "
            f"{j.loc[bad, 'video_id'].iloc[0]!r}"
        )
    bad = j["group_a"] != j["group_b"]
    if bad.any():
        raise InputError(
            f"{name} and {best_name} disagree on the group of video "
            f"{j.loc[bad, 'video_id'].iloc[0]!r}"
        )
    y = j["label_a"].to_numpy()
    g = j["group_a"].to_numpy()
    out = {
        "name": name,
        "best": best_name,
        "n_videos": len(j),
        "n_groups": int(pd.Series(g).nunique()),
    }
    keys = [
        "auc",
        "ci_lo",
        "ci_hi",
        "best_auc",
        "best_ci_lo",
        "best_ci_hi",
        "diff",
        "diff_ci_lo",
        "diff_ci_hi",
        "t_grouped",
        "p_grouped",
        "se",
        "n_effective",
        "z",
        "p",
    ]
    if np.unique(y).size < 2:
        out.update(dict.fromkeys(keys), df=None, verdict="not comparable")
        out["sentence"] = comparison_sentence(out)
        return out
    _, _, z, p = delong_test(y, j["score_a"], j["score_b"])
    gt = grouped_test(y, j["score_a"], j["score_b"], g, alpha)
    universe = sorted(set(g)) if all_groups is None else all_groups
    lo_a, hi_a, _ = bootstrap_auc_ci(
        j["video_id"], y, j["score_a"], n_boot, seed, "video", alpha, g, universe
    )
    lo_b, hi_b, _ = bootstrap_auc_ci(
        j["video_id"], y, j["score_b"], n_boot, seed, "video", alpha, g, universe
    )
    out.update(
        auc=gt["auc_a"],
        ci_lo=lo_a,
        ci_hi=hi_a,
        best_auc=gt["auc_b"],
        best_ci_lo=lo_b,
        best_ci_hi=hi_b,
        diff=gt["diff"],
        diff_ci_lo=gt["diff_ci_lo"],
        diff_ci_hi=gt["diff_ci_hi"],
        t_grouped=gt["t"],
        df=gt["df"],
        p_grouped=gt["p"],
        se=gt["se"],
        n_effective=gt["n_effective"],
        z=z,
        p=p,
        verdict=verdict_of(gt["p"], gt["diff"], alpha, target_power=0),
    )
    out["sentence"] = comparison_sentence(out)
    return out


def dataset_of(video_id: str) -> str:
    """The dataset a video belongs to: its id's prefix before the first '/'."""
    return str(video_id).split("/", 1)[0]


def per_dataset_metrics(pred_df: pd.DataFrame, threshold: float = 0.5) -> pd.DataFrame:
    """One row of :func:`deepfake_ensemble.evaluate.metrics.evaluate` per dataset.

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
