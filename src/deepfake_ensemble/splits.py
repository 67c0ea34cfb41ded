"""Train / validation / test splits of the manifest.

Splits are stratified by dataset and label, seeded, and (with
``split_by="group"``) keep every group whole, so that a fake and the real video
or identity it was made from never sit in different splits.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from deepfake_ensemble.errors import InputError

SPLITS = ("train", "val", "test")
SPLIT_BY = ("video", "group")
_TRIES = 32  # random orders tried per stratum when units differ in size
_EPS = 1e-9


def _check_ratios(ratios: Sequence[float]) -> np.ndarray:
    try:
        r = np.asarray([float(x) for x in ratios], dtype=float)
    except (TypeError, ValueError) as err:
        raise InputError(f"split ratios {ratios!r}: expected three numbers") from err
    if r.shape != (3,) or not np.all(np.isfinite(r)) or np.any(r < 0) or r.sum() <= 0:
        raise InputError(
            f"split ratios {list(ratios)!r}: expected three non-negative numbers "
            "(train, val, test) with a positive sum"
        )
    return r / r.sum()


def _check_manifest(manifest: pd.DataFrame, need: list[str]) -> None:
    missing = [c for c in need if c not in manifest.columns]
    if missing:
        raise InputError(f"manifest lacks column(s) {', '.join(missing)}")
    if manifest.empty:
        raise InputError("manifest has no videos to split")
    dup = manifest["video_id"][manifest["video_id"].duplicated()]
    if len(dup):
        raise InputError(f"manifest: video id {dup.iloc[0]!r} occurs twice")
    bad = manifest.loc[~manifest["label"].isin([0, 1]), "video_id"]
    if len(bad):
        raise InputError(f"manifest: video {bad.iloc[0]!r} has a label other than 0/1")


def _greedy(
    sizes: list[int],
    order: np.ndarray,
    target: list[float],
    allowed: list[int],
    g_cur: list[float],
    g_tgt: list[float],
) -> tuple[list[int], list[float], list[float]]:
    """Give each unit (in ``order``) to the allowed split short of most videos.

    Ties go to the split furthest below its overall target (all strata
    together), then to the earlier split. Returns the split index per unit, the
    stratum counts and the updated overall counts.
    """
    cur = [0.0, 0.0, 0.0]
    g_cur = list(g_cur)
    out = [0] * len(sizes)
    for u in order:
        best, best_key = allowed[0], None
        for s in allowed:
            key = (round(target[s] - cur[s], 9), round(g_tgt[s] - g_cur[s], 9))
            if best_key is None or key > best_key:
                best, best_key = s, key
        out[u] = best
        cur[best] += sizes[u]
        g_cur[best] += sizes[u]
    return out, cur, g_cur


def _split_units(units: pd.DataFrame, ratios_of, rng: np.random.Generator) -> dict:
    """Map unit -> split index, stratum by stratum (sorted, for determinism)."""
    units = units.sort_values(["dataset", "label", "kind", "unit"], kind="mergesort")
    strata = list(units.groupby(["dataset", "label", "kind"], sort=True))
    g_tgt = [0.0, 0.0, 0.0]
    for (_, _, kind), st in strata:
        total = float(st["size"].sum())
        g_tgt = [g + r * total for g, r in zip(g_tgt, ratios_of(kind), strict=True)]
    g_cur = [0.0, 0.0, 0.0]
    result: dict = {}
    for (_, _, kind), st in strata:
        ratios = ratios_of(kind)
        sizes = st["size"].astype(int).tolist()
        total = float(sum(sizes))
        target = [r * total for r in ratios]
        allowed = [s for s in range(3) if ratios[s] > 0]
        n = len(sizes)
        tries = 1 if max(sizes) == 1 else (_TRIES if n <= 5000 else 4)
        best = None
        for t in range(tries + (1 if tries > 1 else 0)):
            order = rng.permutation(n)
            if t == tries:  # largest units first, random order among equals
                order = order[np.argsort(-np.asarray(sizes)[order], kind="stable")]
            out, cur, new_g = _greedy(sizes, order, target, allowed, g_cur, g_tgt)
            err = sum(abs(c - x) for c, x in zip(cur, target, strict=True))
            if best is None or err < best[0] - _EPS:
                best = (err, out, new_g)
        _, out, g_cur = best
        result.update(zip(st["unit"].tolist(), out, strict=True))
    return result


def make_splits(
    manifest: pd.DataFrame,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    split_by: str = "group",
    use_official_test: bool = False,
    seed: int = 1,
) -> dict[str, pd.DataFrame]:
    """Split the manifest into ``train``, ``val`` and ``test``.

    Each returned table holds the manifest's columns plus ``split``, sorted by
    ``video_id``; together they cover the manifest and do not overlap. The same
    manifest and seed always give the same splits.

    - ``ratios`` (train, val, test) are normalised to sum to one.
    - ``split_by="video"``: each video is drawn on its own, stratified by
      (dataset, label); every stratum's counts come within one video of its
      target (ties resolved towards the overall target).
    - ``split_by="group"``: whole groups are assigned, so all videos sharing a
      ``group`` land in the same split. Groups are stratified by (dataset,
      majority label of the group, ties counted as fake) and given to the split
      furthest below its target number of videos; several seeded orders are
      tried per stratum and the one closest to the targets kept, so counts come
      within about one group of their targets.
    - ``use_official_test=True``: for every dataset that has videos with
      ``official_split == "test"``, those videos form its test set and the rest
      of that dataset is split into train and val with the train and val ratios
      renormalised. Datasets without an official test set are split three ways
      as usual. With ``split_by="group"``, every video sharing a group with an
      official test video is moved to test as well (a warning gives the count):
      the test set then is the official one plus its group mates, and no
      identity or original of an official test video is trained on. Where a
      dataset's official test set shares identities with most of its other
      videos (Celeb-DF v2 does), this moves most of that dataset into test;
      ``split_by="video"`` keeps the official test set exact at the cost of
      that identity overlap. The ``official_split`` column still marks the
      official subset.
    """
    if split_by not in SPLIT_BY:
        raise InputError(f"split_by {split_by!r} is not one of {', '.join(SPLIT_BY)}")
    r = _check_ratios(ratios)
    need = ["video_id", "label", "dataset"]
    need += ["group"] if split_by == "group" else []
    need += ["official_split"] if use_official_test else []
    _check_manifest(manifest, need)

    df = manifest.sort_values("video_id", kind="mergesort").reset_index(drop=True)
    df = df.drop(columns=["split"], errors="ignore")
    unit = (df["group"] if split_by == "group" else df["video_id"]).astype(str)
    split = pd.Series("", index=df.index, dtype=object)
    renorm = pd.Series(False, index=df.index)

    if use_official_test:
        official = (
            df["official_split"].fillna("").astype(str).str.strip().str.lower()
            == "test"
        )
        forced = unit.isin(set(unit[official])) if split_by == "group" else official
        extra = int((forced & ~official).sum())
        if extra:
            warnings.warn(
                f"{extra} video(s) share a group with official test videos and "
                "go to the test split too",
                stacklevel=2,
            )
        split[forced] = "test"
        renorm = df["dataset"].isin(set(df.loc[official, "dataset"]))
        if renorm.any() and r[0] + r[1] <= 0:
            raise InputError(
                f"split ratios {list(ratios)!r}: train and val ratios are both 0, "
                "nothing left for the videos outside the official test set"
            )

    rest = df[split == ""]
    if len(rest):
        lab = rest["label"].astype(int)
        per_video = pd.DataFrame(
            {
                "unit": unit[rest.index],
                "dataset": rest["dataset"].astype(str),
                "label": lab,
                "kind": renorm[rest.index].astype(int),
            }
        )
        units = per_video.groupby("unit", sort=True).agg(
            label=("label", "mean"), kind=("kind", "max"), size=("label", "size")
        )
        # majority label (ties count as fake), most frequent dataset (ties: first)
        units["label"] = (units["label"] >= 0.5).astype(int)
        ds = (
            per_video.groupby(["unit", "dataset"]).size().rename("n").reset_index()
        ).sort_values(["unit", "n", "dataset"], ascending=[True, False, True])
        units["dataset"] = ds.drop_duplicates("unit").set_index("unit")["dataset"]
        units = units.reset_index()
        r_tv = np.array([r[0], r[1], 0.0])
        r_tv = r_tv / r_tv.sum() if r_tv.sum() > 0 else r_tv

        def ratios_of(kind: int) -> list[float]:
            return list(r_tv if kind else r)

        rng = np.random.default_rng(seed)
        where = _split_units(units, ratios_of, rng)
        split[rest.index] = [SPLITS[where[u]] for u in unit[rest.index]]

    df["split"] = split
    return {s: df[df["split"] == s].reset_index(drop=True) for s in SPLITS}


def split_counts(splits: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Videos per split, dataset and label (zeros included).

    Columns ``split, dataset, label, videos``; one row for every split and
    every (dataset, label) pair found in any split.
    """
    pairs = set()
    for s in SPLITS:
        df = splits.get(s)
        if df is not None and len(df):
            pairs |= set(zip(df["dataset"], df["label"].astype(int), strict=True))
    rows = []
    for s in SPLITS:
        df = splits.get(s)
        counts = (
            df.groupby(["dataset", "label"]).size().to_dict()
            if df is not None and len(df)
            else {}
        )
        for dataset, label in sorted(pairs):
            rows.append(
                {
                    "split": s,
                    "dataset": dataset,
                    "label": int(label),
                    "videos": int(counts.get((dataset, label), 0)),
                }
            )
    return pd.DataFrame(rows, columns=["split", "dataset", "label", "videos"])


def check_splits(splits: dict[str, pd.DataFrame]) -> None:
    """Raise :class:`InputError` if a split lacks real or fake videos.

    Training needs both classes in train, and the AUC-based model selection
    and evaluation need both in val and test. The message names the split and
    its counts per dataset.
    """
    counts = split_counts(splits)
    problems = []
    for s in SPLITS:
        c = counts[counts["split"] == s]
        have = c.groupby("label")["videos"].sum().to_dict()
        lacking = [w for lab, w in ((0, "real"), (1, "fake")) if have.get(lab, 0) == 0]
        if lacking:
            per = (
                "; ".join(
                    f"{d}: {int(g.loc[g['label'] == 0, 'videos'].sum())} real, "
                    f"{int(g.loc[g['label'] == 1, 'videos'].sum())} fake"
                    for d, g in c.groupby("dataset", sort=True)
                )
                or "no videos"
            )
            problems.append(
                f"split {s!r} has no {' and no '.join(lacking)} videos ({per})"
            )
    if problems:
        raise InputError(
            "; ".join(problems)
            + ". Add videos, change the split ratios or the split seed."
        )
