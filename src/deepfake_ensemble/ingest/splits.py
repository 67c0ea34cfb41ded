"""Train / validation / test splits of the manifest.

Splits are stratified by dataset and label, seeded, and (with
``split_by="group"``) keep every group whole, so that a fake and the real video
or identity it was made from never sit in different splits; with
``split_by="identity"`` no identity sits in two splits, the source identity
of a fake included (fakes whose two identities fall apart are dropped).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from deepfake_ensemble.defaults import DEFAULTS
from deepfake_ensemble.errors import InputError

SPLITS = ("train", "val", "test")
SPLIT_BY = ("video", "group", "identity")
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


def _column(df: pd.DataFrame, name: str) -> pd.Series:
    """A text column with missing values (or a missing column) as ''."""
    if name not in df.columns:
        return pd.Series("", index=df.index, dtype=object)
    return df[name].fillna("").astype(str).str.strip()


def assign_splits(
    manifest: pd.DataFrame,
    ratios: Sequence[float] = tuple(DEFAULTS["split.ratios"]),
    split_by: str = DEFAULTS["split.split_by"],
    use_official_test: bool = DEFAULTS["split.use_official_test"],
    seed: int = DEFAULTS["split.seed"],
) -> pd.DataFrame:
    """The manifest, sorted by ``video_id``, with ``split`` (``train``,
    ``val``, ``test`` or ``dropped``) and ``drop_reason`` columns.

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
    - ``split_by="identity"``: like ``group``, with identities as the units
      where the manifest names them (``identity``, ``source_identity``:
      Celeb-DF, DFD). A real video goes with its identity; a fake shows two
      people (the target, whose scene it is, and the source, whose face was
      swapped in) and is kept only where both identities landed in the same
      split; the others are ``dropped`` ("identities in different splits").
      No identity then appears in two splits. Videos without an identity
      (YouTube-real clips, other layouts) are split by their group.
    - ``use_official_test=True``: for every dataset that has videos with
      ``official_split == "test"``, those videos form its test set, exactly,
      and the rest of that dataset is split into train and val with the train
      and val ratios renormalised. Datasets without an official test set are
      split three ways as usual. With ``split_by="group"`` (``"identity"``),
      a video outside the official test set that shares a group (an identity)
      with an official test video is ``dropped`` (a warning gives the count),
      so that nothing of a test identity or original is trained on. Where a
      dataset's official test set shares identities with most of its other
      videos (Celeb-DF v2 does), this can leave its train split without fakes:
      :func:`check_splits` then fails naming the dataset and the split;
      ``split_by="video"`` keeps every video at the cost of that overlap
      (measured by :func:`identity_overlap`).
    """
    if split_by not in SPLIT_BY:
        raise InputError(f"split_by {split_by!r} is not one of {', '.join(SPLIT_BY)}")
    r = _check_ratios(ratios)
    need = ["video_id", "label", "dataset"]
    need += ["group"] if split_by in ("group", "identity") else []
    need += ["official_split"] if use_official_test else []
    _check_manifest(manifest, need)

    df = manifest.sort_values("video_id", kind="mergesort").reset_index(drop=True)
    df = df.drop(columns=["split", "drop_reason"], errors="ignore")
    vid = df["video_id"].astype(str)
    if split_by == "video":
        unit = vid
        second = pd.Series("", index=df.index, dtype=object)
    elif split_by == "group":
        unit = df["group"].astype(str)
        second = pd.Series("", index=df.index, dtype=object)
    else:
        identity = _column(df, "identity")
        unit = identity.where(identity != "", df["group"].astype(str))
        second = _column(df, "source_identity").where(identity != "", "")
        second = second.where(df["label"].astype(int) == 1, "")
    split = pd.Series("", index=df.index, dtype=object)
    reason = pd.Series("", index=df.index, dtype=object)
    renorm = pd.Series(False, index=df.index)

    if use_official_test:
        official = _column(df, "official_split").str.lower() == "test"
        split[official] = "test"
        if split_by != "video":
            held = (set(unit[official]) | set(second[official])) - {""}
            clash = ~official & (unit.isin(held) | second.isin(held))
            word = "a group" if split_by == "group" else "an identity"
            split[clash] = "dropped"
            reason[clash] = f"shares {word} with official test videos"
            if clash.any():
                warnings.warn(
                    f"{int(clash.sum())} video(s) outside the official test set "
                    f"share {word} with official test videos: dropped (not "
                    "trained on; listed in results/splits/dropped.csv)",
                    stacklevel=2,
                )
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
        # identities seen only as the source of a fake: units of no videos
        sources = second[rest.index]
        only = sorted(set(sources[sources != ""]) - set(units["unit"]))
        if only:
            first = {u: i for i, u in reversed(list(sources.items())) if u}
            extra = pd.DataFrame(
                {
                    "unit": only,
                    "label": 1,
                    "kind": [int(renorm[first[u]]) for u in only],
                    "size": 0,
                    "dataset": [str(df.at[first[u], "dataset"]) for u in only],
                }
            )
            units = pd.concat([units, extra], ignore_index=True)
        r_tv = np.array([r[0], r[1], 0.0])
        r_tv = r_tv / r_tv.sum() if r_tv.sum() > 0 else r_tv

        def ratios_of(kind: int) -> list[float]:
            return list(r_tv if kind else r)

        rng = np.random.default_rng(seed)
        where = _split_units(units, ratios_of, rng)
        split[rest.index] = [SPLITS[where[u]] for u in unit[rest.index]]
        apart = [
            i for i in rest.index if second[i] and where[second[i]] != where[unit[i]]
        ]
        for i in apart:
            reason[i] = (
                f"identities in different splits: {unit[i]} in "
                f"{SPLITS[where[unit[i]]]}, {second[i]} in {SPLITS[where[second[i]]]}"
            )
        split[apart] = "dropped"

    df["split"] = split
    df["drop_reason"] = reason
    return df


def make_splits(
    manifest: pd.DataFrame,
    ratios: Sequence[float] = tuple(DEFAULTS["split.ratios"]),
    split_by: str = DEFAULTS["split.split_by"],
    use_official_test: bool = DEFAULTS["split.use_official_test"],
    seed: int = DEFAULTS["split.seed"],
) -> dict[str, pd.DataFrame]:
    """Split the manifest into ``train``, ``val`` and ``test``.

    Each returned table holds the manifest's columns plus ``split``, sorted by
    ``video_id``; together they cover the manifest, less the videos
    :func:`assign_splits` drops (identity splits, official test sets with
    groups), and do not overlap. The same manifest and seed always give the
    same splits. See :func:`assign_splits` for the modes.
    """
    df = assign_splits(manifest, ratios, split_by, use_official_test, seed)
    df = df.drop(columns="drop_reason")
    return {s: df[df["split"] == s].reset_index(drop=True) for s in SPLITS}


def identity_overlap(assigned: pd.DataFrame) -> pd.DataFrame:
    """How much of the test fakes' identities training has seen, per dataset.

    ``assigned``: :func:`assign_splits`' table. For the test fakes whose
    source identity is known (``source_identity``), the share whose source
    identity appears in train (as the person of a train video or as the
    source of a train fake). Columns ``dataset, test_fakes,
    source_in_train, overlap, dropped`` (``overlap`` empty without such
    fakes; ``dropped``: videos the split left out).
    """
    df = assigned.copy()
    for c in ("identity", "source_identity"):
        df[c] = _column(df, c)
    rows = []
    for ds, g in df.groupby("dataset", sort=True):
        train = g[g["split"] == "train"]
        seen = (set(train["identity"]) | set(train["source_identity"])) - {""}
        fakes = g[
            (g["split"] == "test")
            & (g["label"].astype(int) == 1)
            & (g["source_identity"] != "")
        ]
        hit = int(fakes["source_identity"].isin(seen).sum())
        rows.append(
            {
                "dataset": ds,
                "test_fakes": len(fakes),
                "source_in_train": hit,
                "overlap": hit / len(fakes) if len(fakes) else None,
                "dropped": int((g["split"] == "dropped").sum()),
            }
        )
    return pd.DataFrame(
        rows, columns=["dataset", "test_fakes", "source_in_train", "overlap", "dropped"]
    )


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
    """Raise :class:`InputError` if a dataset lacks real or fake videos in a split.

    Training needs both classes in train, and the AUC-based model selection
    and evaluation need both in val and test - in every dataset, not only
    pooled (a dataset whose fakes all sit in test would pass a pooled check
    and train on none of them). The message names each dataset and split
    with its counts.
    """
    counts = split_counts(splits)
    problems = []
    for (ds, s), c in counts.groupby(["dataset", "split"], sort=False):
        have = c.groupby("label")["videos"].sum().to_dict()
        lacking = [w for lab, w in ((0, "real"), (1, "fake")) if have.get(lab, 0) == 0]
        if lacking:
            problems.append(
                f"split {s!r} of dataset {ds!r} has no {' and no '.join(lacking)} "
                f"videos ({ds}: {int(have.get(0, 0))} real, {int(have.get(1, 0))} "
                "fake)"
            )
    if problems:
        raise InputError(
            "; ".join(problems)
            + ". Add videos, change the split ratios, the split seed or split_by."
        )
