"""Train / val / test splits: coverage, ratios, groups, seeds, official tests."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from deepfake_ensemble.errors import InputError
from deepfake_ensemble.ingest.manifest import MANIFEST_COLUMNS, build_manifest
from deepfake_ensemble.ingest.splits import (
    assign_splits,
    check_splits,
    identity_overlap,
    make_splits,
    split_counts,
)
from deepfake_ensemble.ingest.synthetic import synthetic_manifest, write_celebdf_tree


def manifest(
    n_real: int = 60,
    n_fake: int = 140,
    n_groups: int = 20,
    dataset: str = "d",
    official_test: int = 0,
) -> pd.DataFrame:
    """Videos spread over groups; the first ``official_test`` of each label
    are marked official test videos."""
    rows = []
    for label, n in ((0, n_real), (1, n_fake)):
        for i in range(n):
            vid = f"{dataset}/{'rf'[label]}{i:04d}"
            rows.append(
                {
                    "video_id": vid,
                    "path": f"/data/{vid}.mp4",
                    "label": label,
                    "dataset": dataset,
                    "group": f"{dataset}/g{i % n_groups:03d}",
                    "original": "",
                    "official_split": "test" if i < official_test else "train",
                }
            )
    return pd.DataFrame(rows, columns=MANIFEST_COLUMNS)


def two_datasets() -> pd.DataFrame:
    return pd.concat(
        [manifest(60, 140, 20, "a"), manifest(31, 45, 9, "b")], ignore_index=True
    )


def assert_partition(m: pd.DataFrame, splits: dict) -> None:
    assert set(splits) == {"train", "val", "test"}
    ids = [v for s in splits.values() for v in s["video_id"]]
    assert len(ids) == len(set(ids)) == len(m)
    assert set(ids) == set(m["video_id"])
    for name, df in splits.items():
        assert list(df.columns) == [*m.columns, "split"]
        assert (df["split"] == name).all()
        assert df["video_id"].is_monotonic_increasing


def test_video_mode_ratios_within_one_video_per_stratum() -> None:
    m = two_datasets()
    splits = make_splits(m, split_by="video", seed=3)
    assert_partition(m, splits)
    counts = split_counts(splits)
    for (dataset, label), c in counts.groupby(["dataset", "label"]):
        total = ((m["dataset"] == dataset) & (m["label"] == label)).sum()
        for split, ratio in zip(("train", "val", "test"), (0.8, 0.1, 0.1), strict=True):
            got = int(c.loc[c["split"] == split, "videos"].iloc[0])
            assert abs(got - ratio * total) <= 1, (dataset, label, split, got)
    # all strata together stay within one video as well
    sizes = {k: len(v) for k, v in splits.items()}
    assert abs(sizes["val"] - 0.1 * len(m)) <= 1
    assert abs(sizes["test"] - 0.1 * len(m)) <= 1


def test_group_mode_keeps_groups_whole_and_ratios_reasonable() -> None:
    m = two_datasets()
    splits = make_splits(m, split_by="group", seed=1)
    assert_partition(m, splits)
    where = {
        g: s for s, df in splits.items() for g in df["group"].unique()
    }  # a group seen in two splits would be overwritten
    seen = sum(df["group"].nunique() for df in splits.values())
    assert seen == m["group"].nunique() == len(where)
    biggest = int(m.groupby("group").size().max())
    for split, ratio in (("train", 0.8), ("val", 0.1), ("test", 0.1)):
        for dataset in ("a", "b"):
            n = int((splits[split]["dataset"] == dataset).sum())
            total = int((m["dataset"] == dataset).sum())
            assert abs(n - ratio * total) <= biggest, (split, dataset, n)
    check_splits(splits)


def test_group_mode_with_real_fake_groups() -> None:
    """DFDC-like: each original with its fakes; fakes never leave their real."""
    rows = []
    for g in range(40):
        rows.append((f"x/r{g:02d}", 0, f"x/r{g:02d}", ""))
        for k in range(g % 4 + 1):
            rows.append((f"x/f{g:02d}_{k}", 1, f"x/r{g:02d}", f"x/r{g:02d}"))
    for g in range(10):  # reals with no fakes
        rows.append((f"x/s{g:02d}", 0, f"x/s{g:02d}", ""))
    m = pd.DataFrame(rows, columns=["video_id", "label", "group", "original"])
    m["dataset"], m["path"], m["official_split"] = "x", "/v", ""
    m["identity"] = m["source_identity"] = ""
    splits = make_splits(m[MANIFEST_COLUMNS], split_by="group", seed=5)
    assert_partition(m[MANIFEST_COLUMNS], splits)
    split_of = {v: s for s, df in splits.items() for v in df["video_id"]}
    for vid, orig in zip(m["video_id"], m["original"], strict=True):
        if orig:
            assert split_of[vid] == split_of[orig]
    assert abs(len(splits["test"]) - 0.1 * len(m)) <= 5


def test_seed_determinism_and_change() -> None:
    m = two_datasets()
    for by in ("video", "group"):
        a = make_splits(m, split_by=by, seed=11)
        b = make_splits(m.sample(frac=1, random_state=0), split_by=by, seed=11)
        c = make_splits(m, split_by=by, seed=12)
        for s in a:  # row order of the manifest does not matter
            pd.testing.assert_frame_equal(a[s], b[s])
        assert set(a["test"]["video_id"]) != set(c["test"]["video_id"])


def test_official_test_video_mode() -> None:
    m = pd.concat(
        [manifest(50, 50, 10, "cdf", official_test=8), manifest(40, 40, 8, "other")],
        ignore_index=True,
    )
    splits = make_splits(m, split_by="video", use_official_test=True, seed=2)
    assert_partition(m, splits)
    test = splits["test"]
    cdf_test = set(test.loc[test["dataset"] == "cdf", "video_id"])
    official = set(m.loc[m["official_split"] == "test", "video_id"])
    assert cdf_test == official
    # the rest of cdf: train/val 8:1 (renormalised), nothing else in test
    rest = {s: int((splits[s]["dataset"] == "cdf").sum()) for s in ("train", "val")}
    assert abs(rest["val"] - 84 / 9) <= 2 and rest["train"] + rest["val"] == 84
    # a dataset without an official test set is split three ways as usual
    other_test = int((test["dataset"] == "other").sum())
    assert abs(other_test - 8) <= 1
    check_splits(splits)


def test_official_test_group_mode_drops_group_mates() -> None:
    m = manifest(50, 50, 10, "cdf", official_test=2)  # groups g000 and g001
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assigned = assign_splits(m, split_by="group", use_official_test=True, seed=2)
        splits = make_splits(m, split_by="group", use_official_test=True, seed=2)
    assert any("share a group" in str(w.message) for w in caught)
    official = set(m.loc[m["official_split"] == "test", "video_id"])
    assert set(splits["test"]["video_id"]) == official  # the official set, exact
    dropped = assigned[assigned["split"] == "dropped"]
    assert set(dropped["group"]) == {"cdf/g000", "cdf/g001"}
    assert (dropped["drop_reason"] == "shares a group with official test videos").all()
    assert len(dropped) + sum(len(df) for df in splits.values()) == len(m)
    train_val = pd.concat([splits["train"], splits["val"]])
    assert not set(train_val["group"]) & set(splits["test"]["group"])
    assert len(splits["val"]) > 0


def test_check_splits_refuses_val_without_fakes() -> None:
    m = manifest(30, 30, 30)
    splits = make_splits(m, split_by="video")
    check_splits(splits)
    val = splits["val"]
    fakes = val[val["label"] == 1]
    splits["val"] = val[val["label"] == 0]
    splits["train"] = pd.concat([splits["train"], fakes])
    with pytest.raises(InputError) as err:
        check_splits(splits)
    msg = str(err.value)
    assert "'val'" in msg and "no fake" in msg and "d: 3 real, 0 fake" in msg
    assert "'test'" not in msg


def test_tiny_dataset_leaves_val_without_fakes() -> None:
    m = manifest(20, 3, 23)
    splits = make_splits(m, split_by="video")
    assert_partition(m, splits)
    with pytest.raises(InputError, match="no fake"):
        check_splits(splits)


def test_split_counts_table() -> None:
    m = two_datasets()
    counts = split_counts(make_splits(m, split_by="video"))
    assert list(counts.columns) == ["split", "dataset", "label", "videos"]
    assert len(counts) == 3 * 2 * 2
    assert counts["videos"].sum() == len(m)


def test_bad_arguments() -> None:
    m = manifest(10, 10, 5)
    with pytest.raises(InputError, match="split_by"):
        make_splits(m, split_by="person")
    with pytest.raises(InputError, match="ratios"):
        make_splits(m, ratios=(0.8, -0.1, 0.3))
    with pytest.raises(InputError, match="group"):
        make_splits(m.drop(columns=["group"]), split_by="group")
    bad = m.copy()
    bad.loc[3, "label"] = 2
    with pytest.raises(InputError, match="label"):
        make_splits(bad)
    # ratios are normalised: 8:1:1 equals 0.8/0.1/0.1
    a = make_splits(m, ratios=(8, 1, 1), split_by="video")
    b = make_splits(m, ratios=(0.8, 0.1, 0.1), split_by="video")
    for s in a:
        pd.testing.assert_frame_equal(a[s], b[s])


# ------------------------------------------------- Celeb-DF-shaped identities


def celebdf_manifest(root, **kw) -> pd.DataFrame:
    write_celebdf_tree(root, **kw)
    return build_manifest([{"name": "celebdf", "layout": "celebdf", "root": root}])


def identities_by_split(splits: dict) -> dict[str, set]:
    return {
        s: (set(df["identity"]) | set(df["source_identity"])) - {""}
        for s, df in splits.items()
    }


def test_identity_split_keeps_every_identity_in_one_split(tmp_path) -> None:
    m = celebdf_manifest(tmp_path / "cdf", n_identities=30)
    assert m["source_identity"].str.len().gt(0).sum() == 30 * 29  # every fake
    assigned = assign_splits(m, split_by="identity", seed=3)
    splits = make_splits(m, split_by="identity", seed=3)
    seen = identities_by_split(splits)
    assert not seen["train"] & seen["val"]
    assert not seen["train"] & seen["test"]
    assert not seen["val"] & seen["test"]
    # brute force: the split of each identity (from its real clips), then
    # every fake whose target and source sit in different splits
    split_of = {}
    for s, df in splits.items():
        for ident in df.loc[df["label"] == 0, "identity"]:
            if ident:
                assert split_of.setdefault(ident, s) == s
    brute = 0
    for _, row in m[m["label"] == 1].iterrows():
        if split_of[row["identity"]] != split_of[row["source_identity"]]:
            brute += 1
    dropped = assigned[assigned["split"] == "dropped"]
    assert len(dropped) == brute > 0
    assert dropped["drop_reason"].str.startswith("identities in different").all()
    kept = sum(len(df) for df in splits.values())
    assert kept + len(dropped) == len(m)
    check_splits(splits)  # every split holds both classes
    # YouTube clips (no identity in the name) are split by their own group
    yt = assigned[assigned["video_id"].str.contains("YouTube")]
    assert set(yt["split"]) <= {"train", "val", "test"}


def test_identity_overlap_of_group_and_identity_splits(tmp_path) -> None:
    m = celebdf_manifest(tmp_path / "cdf", n_identities=30)
    by_group = identity_overlap(assign_splits(m, split_by="group", seed=3))
    by_identity = identity_overlap(assign_splits(m, split_by="identity", seed=3))
    # group = target identity: every test fake shows a face trained on
    assert by_group["overlap"].iloc[0] > 0.9 and by_group["dropped"].iloc[0] == 0
    assert by_identity["overlap"].iloc[0] == 0.0
    assert by_identity["test_fakes"].iloc[0] > 0
    assert by_identity["dropped"].iloc[0] > 0


def test_official_celebdf_list_with_groups_keeps_fakes_in_train(tmp_path) -> None:
    m = celebdf_manifest(tmp_path / "cdf", n_identities=20, test_targets=(0, 1, 2))
    official = set(m.loc[m["official_split"] == "test", "video_id"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        splits = make_splits(m, split_by="group", use_official_test=True, seed=1)
    assert set(splits["test"]["video_id"]) == official
    assert (splits["train"]["label"] == 1).sum() > 0
    assert (splits["val"]["label"] == 1).sum() > 0
    test_groups = set(splits["test"]["group"])
    for s in ("train", "val"):
        assert not set(splits[s]["group"]) & test_groups
    check_splits(splits)


def test_official_celebdf_list_over_every_identity_fails_clearly(tmp_path) -> None:
    # the real list names clips of (nearly) every identity: grouping must
    # then leave train without fakes - before, every fake moved to test, and a
    # pooled check with a second dataset let it pass unnoticed
    m = celebdf_manifest(tmp_path / "cdf", n_identities=12, test_targets=range(12))
    other = synthetic_manifest(60, dataset="dfdc")
    both = pd.concat([m, other], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        splits = make_splits(both, split_by="group", use_official_test=True, seed=1)
    assert (splits["train"]["label"] == 1).sum() > 0  # dfdc's fakes, pooled
    with pytest.raises(InputError) as err:
        check_splits(splits)
    msg = str(err.value)
    assert "split 'train' of dataset 'celebdf' has no fake videos" in msg
    assert "dfdc" not in msg


def test_check_splits_names_the_dataset() -> None:
    m = two_datasets()
    splits = make_splits(m, split_by="video")
    check_splits(splits)
    test = splits["test"]
    moved = test[(test["dataset"] == "b") & (test["label"] == 0)]
    splits["test"] = test.drop(moved.index)
    splits["train"] = pd.concat([splits["train"], moved])
    with pytest.raises(InputError, match="split 'test' of dataset 'b' has no real"):
        check_splits(splits)
