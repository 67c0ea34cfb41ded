"""Manifest building from miniature dataset trees (a file is a video by name)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from deepfake_ensemble.errors import InputError
from deepfake_ensemble.ingest.manifest import (
    MANIFEST_COLUMNS,
    build_manifest,
    ingest_dataset,
)


def touch(path: Path, data: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under root with its size and modification time."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            st = os.lstat(os.path.join(dirpath, f))
            out[os.path.join(dirpath, f)] = (st.st_size, st.st_mtime_ns)
    return out


def by_id(df: pd.DataFrame) -> dict[str, dict]:
    return df.set_index("video_id").to_dict("index")


# ---------------------------------------------------------------- Celeb-DF


@pytest.fixture
def celebdf(tmp_path: Path) -> Path:
    root = tmp_path / "Celeb-DF-v2"
    for n in ("id0_0000", "id0_0001", "id1_0000"):
        touch(root / "Celeb-real" / f"{n}.mp4")
    touch(root / "YouTube-real" / "00000.mp4")
    touch(root / "YouTube-real" / "00001.mp4")
    for n in ("id0_id1_0000", "id0_id1_0001", "id1_id0_0000", "id1_id0_0007"):
        touch(root / "Celeb-synthesis" / f"{n}.mp4")
    touch(root / "Celeb-synthesis" / "notes.txt")
    (root / "List_of_testing_videos.txt").write_text(
        "1 Celeb-real/id0_0001.mp4\n0 Celeb-synthesis/id0_id1_0001.mp4\n"
        "\n1 YouTube-real/00001.mp4\n"
    )
    return root


def test_celebdf_labels_groups_originals_split(celebdf: Path) -> None:
    before = snapshot(celebdf)
    df = ingest_dataset({"name": "celebdf", "layout": "celebdf", "root": celebdf})
    assert list(df.columns) == MANIFEST_COLUMNS
    assert df["video_id"].tolist() == sorted(df["video_id"])
    rows = by_id(df)
    assert len(rows) == 9
    r = rows["celebdf/Celeb-synthesis/id0_id1_0000"]
    assert r["label"] == 1
    assert r["group"] == "celebdf/id0"
    assert r["original"] == "celebdf/Celeb-real/id0_0000"
    assert r["path"] == str(celebdf / "Celeb-synthesis" / "id0_id1_0000.mp4")
    assert rows["celebdf/Celeb-real/id0_0000"]["group"] == "celebdf/id0"
    assert rows["celebdf/Celeb-real/id0_0000"]["label"] == 0
    assert rows["celebdf/Celeb-real/id0_0000"]["original"] == ""
    # no real clip id1_0007: the fake keeps its identity group, no original
    r = rows["celebdf/Celeb-synthesis/id1_id0_0007"]
    assert (r["group"], r["original"]) == ("celebdf/id1", "")
    yt = rows["celebdf/YouTube-real/00000"]
    assert (yt["label"], yt["group"]) == (0, "celebdf/YouTube-real/00000")
    tests = {v for v, r in rows.items() if r["official_split"] == "test"}
    assert tests == {
        "celebdf/Celeb-real/id0_0001",
        "celebdf/Celeb-synthesis/id0_id1_0001",
        "celebdf/YouTube-real/00001",
    }
    assert {r["official_split"] for r in rows.values()} == {"test", "train"}
    assert df["label"].dtype.kind == "i"
    assert snapshot(celebdf) == before  # nothing moved or changed


def test_celebdf_without_test_list(celebdf: Path) -> None:
    (celebdf / "List_of_testing_videos.txt").unlink()
    df = ingest_dataset({"name": "c", "layout": "celebdf", "root": str(celebdf)})
    assert set(df["official_split"]) == {""}


def test_celebdf_test_list_missing_video(celebdf: Path) -> None:
    lst = celebdf / "List_of_testing_videos.txt"
    lst.write_text("1 Celeb-real/id0_0000.mp4\n0 Celeb-synthesis/id9_id1_0000.mp4\n")
    with pytest.raises(InputError) as err:
        ingest_dataset({"name": "c", "layout": "celebdf", "root": celebdf})
    msg = str(err.value)
    assert str(lst) in msg and "line 2" in msg and "id9_id1_0000" in msg


def test_celebdf_test_list_bad_line_and_label(celebdf: Path) -> None:
    lst = celebdf / "List_of_testing_videos.txt"
    lst.write_text("1 Celeb-real/id0_0000.mp4\nREAL Celeb-real/id0_0001.mp4\n")
    with pytest.raises(InputError, match="line 2") as err:
        ingest_dataset({"name": "c", "layout": "celebdf", "root": celebdf})
    assert str(lst) in str(err.value)
    # a fake listed as REAL contradicts its folder
    lst.write_text("\n\n1 Celeb-synthesis/id0_id1_0000.mp4\n")
    with pytest.raises(InputError, match="line 3") as err:
        ingest_dataset({"name": "c", "layout": "celebdf", "root": celebdf})
    assert "disagrees" in str(err.value)


# ---------------------------------------------------------------- FF++ DFD


def dfd_tree(root: Path, comp: str = "c23") -> None:
    real = root / "original_sequences" / "actors" / comp / "videos"
    fake = root / "manipulated_sequences" / "DeepFakeDetection" / comp / "videos"
    for n in ("01__walking", "01__talking_angry", "02__walking", "03__hugging"):
        touch(real / f"{n}.mp4")
    for n in (
        "01_02__walking__ABCDEFGH",
        "02_01__walking__12345678",
        "03_01__kitchen__ZZZZZZZZ",  # original 03__kitchen is missing
    ):
        touch(fake / f"{n}.mp4")


def test_dfd_groups_follow_target_actor(tmp_path: Path) -> None:
    dfd_tree(tmp_path / "dfd")
    dfd_tree(tmp_path / "dfd", comp="c40")
    df = ingest_dataset({"name": "dfd", "layout": "dfd", "root": tmp_path / "dfd"})
    rows = by_id(df)
    assert len(rows) == 7  # c23 only (the default)
    assert all("/c23/" in v for v in rows)
    real = "dfd/original_sequences/actors/c23/videos/"
    fake = "dfd/manipulated_sequences/DeepFakeDetection/c23/videos/"
    f = rows[fake + "01_02__walking__ABCDEFGH"]
    assert (f["label"], f["group"], f["original"]) == (
        1,
        "dfd/01",
        real + "01__walking",
    )
    assert rows[real + "01__walking"]["group"] == f["group"]
    assert rows[real + "01__talking_angry"]["group"] == "dfd/01"
    assert rows[fake + "02_01__walking__12345678"]["group"] == "dfd/02"
    g = rows[fake + "03_01__kitchen__ZZZZZZZZ"]
    assert (g["group"], g["original"]) == ("dfd/03", "")
    df40 = ingest_dataset(
        {"name": "dfd", "layout": "dfd", "root": tmp_path / "dfd", "compression": "c40"}
    )
    assert all("/c40/" in v for v in df40["video_id"])


def test_dfd_bad_compression_and_missing_tree(tmp_path: Path) -> None:
    dfd_tree(tmp_path / "dfd")
    spec = {"name": "dfd", "layout": "dfd", "root": tmp_path / "dfd"}
    with pytest.raises(InputError, match="compression"):
        ingest_dataset({**spec, "compression": "c99"})
    with pytest.raises(InputError, match="raw"):
        ingest_dataset({**spec, "compression": "raw"})


# ---------------------------------------------------------------- DFDC


def dfdc_meta(folder: Path, meta: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for key in meta:
        touch(folder / key)
    p = folder / "metadata.json"
    p.write_text(json.dumps(meta, indent=1))
    return p


SAMPLE = {
    "aaa.mp4": {"label": "REAL", "split": "train", "original": None},
    "bbb.mp4": {"label": "FAKE", "split": "train", "original": "aaa.mp4"},
    "ccc.mp4": {"label": "FAKE", "split": "train", "original": "aaa.mp4"},
    "ddd.mp4": {"label": "FAKE", "split": "train", "original": "absent.mp4"},
    "eee.mp4": {"label": "REAL", "split": "train", "original": None},
}


def test_dfdc_single_metadata(tmp_path: Path) -> None:
    root = tmp_path / "train_sample_videos"
    dfdc_meta(root, SAMPLE)
    touch(root / "unlisted.mp4")  # not in metadata: ignored
    df = ingest_dataset({"name": "dfdc", "layout": "dfdc", "root": root})
    rows = by_id(df)
    assert sorted(rows) == [f"dfdc/{k[:3]}" for k in sorted(SAMPLE)]
    assert rows["dfdc/aaa"]["label"] == 0 and rows["dfdc/aaa"]["group"] == "dfdc/aaa"
    assert rows["dfdc/bbb"]["group"] == rows["dfdc/ccc"]["group"] == "dfdc/aaa"
    assert rows["dfdc/bbb"]["original"] == "dfdc/aaa"
    # original not present: grouped by its would-be id, no original
    assert (rows["dfdc/ddd"]["group"], rows["dfdc/ddd"]["original"]) == (
        "dfdc/absent",
        "",
    )
    assert set(df["official_split"]) == {"train"}


def test_dfdc_parts(tmp_path: Path) -> None:
    root = tmp_path / "dfdc"
    dfdc_meta(
        root / "dfdc_train_part_0",
        {
            "a.mp4": {"label": "REAL", "split": "train", "original": None},
            "b.mp4": {"label": "FAKE", "split": "train", "original": "a.mp4"},
        },
    )
    dfdc_meta(
        root / "dfdc_train_part_1",
        {
            # same file name as in part 0: a distinct id
            "a.mp4": {"label": "FAKE", "split": "train", "original": "z.mp4"},
            "z.mp4": {"label": "REAL", "split": "train", "original": None},
            # original lives in part 0
            "c.mp4": {"label": "FAKE", "split": "train", "original": "b0.mp4"},
        },
    )
    touch(root / "dfdc_train_part_0" / "b0.mp4")
    meta0 = json.loads((root / "dfdc_train_part_0" / "metadata.json").read_text())
    meta0["b0.mp4"] = {"label": "REAL", "split": "train", "original": None}
    (root / "dfdc_train_part_0" / "metadata.json").write_text(json.dumps(meta0))
    touch(root / ".hidden_part" / "metadata.json", b"not json")  # skipped
    rows = by_id(ingest_dataset({"name": "d", "layout": "dfdc", "root": root}))
    p0, p1 = "d/dfdc_train_part_0/", "d/dfdc_train_part_1/"
    assert sorted(rows) == sorted(
        [p0 + "a", p0 + "b", p0 + "b0", p1 + "a", p1 + "z", p1 + "c"]
    )
    assert rows[p0 + "b"]["group"] == p0 + "a"
    assert rows[p1 + "a"]["group"] == p1 + "z"
    assert rows[p1 + "c"]["original"] == p0 + "b0"


def test_dfdc_bad_json_names_line(tmp_path: Path) -> None:
    root = tmp_path / "dfdc"
    root.mkdir()
    meta = root / "metadata.json"
    meta.write_text('{\n "a.mp4": {"label": "REAL"},\n "b.mp4": {"label": FAKE}\n}\n')
    with pytest.raises(InputError) as err:
        ingest_dataset({"name": "d", "layout": "dfdc", "root": root})
    msg = str(err.value)
    assert str(meta) in msg and "line 3" in msg and "column" in msg


def test_dfdc_bad_label_names_key(tmp_path: Path) -> None:
    root = tmp_path / "dfdc"
    meta = dfdc_meta(
        root,
        {
            "a.mp4": {"label": "REAL"},
            "odd name.mp4": {"label": "MAYBE", "original": None},
        },
    )
    with pytest.raises(InputError) as err:
        ingest_dataset({"name": "d", "layout": "dfdc", "root": root})
    msg = str(err.value)
    assert str(meta) in msg and "odd name.mp4" in msg and "MAYBE" in msg


def test_dfdc_listed_video_missing(tmp_path: Path) -> None:
    root = tmp_path / "dfdc"
    meta = dfdc_meta(root, {"a.mp4": {"label": "REAL"}})
    meta.write_text(
        json.dumps({"a.mp4": {"label": "REAL"}, "gone.mp4": {"label": "FAKE"}})
    )
    with pytest.raises(InputError) as err:
        ingest_dataset({"name": "d", "layout": "dfdc", "root": root})
    msg = str(err.value)
    assert str(meta) in msg and "gone.mp4" in msg and "does not exist" in msg


def test_dfdc_no_metadata(tmp_path: Path) -> None:
    (tmp_path / "dfdc" / "part").mkdir(parents=True)
    with pytest.raises(InputError, match="metadata.json"):
        ingest_dataset({"name": "d", "layout": "dfdc", "root": tmp_path / "dfdc"})


# ---------------------------------------------------------------- folder


def test_folder_layout_skips_hidden_and_non_videos(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    touch(root / "real" / "a.mp4")
    touch(root / "real" / "sub" / "b.MOV")
    touch(root / "real" / ".c.mp4")
    touch(root / "real" / ".cache" / "d.mp4")
    touch(root / "real" / "readme.txt")
    touch(root / "real" / "e.mp4.part")
    touch(root / "fake" / "a.webm", b"")  # zero bytes: kept (preprocessing records)
    touch(root / "other" / "x.mp4")  # neither real/ nor fake/
    df = ingest_dataset({"name": "mine", "layout": "folder", "root": root})
    rows = by_id(df)
    assert sorted(rows) == ["mine/fake/a", "mine/real/a", "mine/real/sub/b"]
    assert rows["mine/fake/a"]["label"] == 1
    assert rows["mine/real/sub/b"]["group"] == "mine/real/sub/b"
    assert rows["mine/real/a"]["path"] == str(root / "real" / "a.mp4")


def test_relative_root_gives_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    touch(tmp_path / "data" / "real" / "a.mp4")
    touch(tmp_path / "data" / "fake" / "b.mp4")
    monkeypatch.chdir(tmp_path)
    df = ingest_dataset({"name": "x", "layout": "folder", "root": "data"})
    assert all(os.path.isabs(p) for p in df["path"])
    assert df["path"].tolist() == [
        str(tmp_path / "data" / "fake" / "b.mp4"),
        str(tmp_path / "data" / "real" / "a.mp4"),
    ]


def test_odd_characters_in_names(tmp_path: Path) -> None:
    names = [
        "with space.mp4",
        "quote'single.mp4",
        'quote"double.mp4',
        "unicodé_视频.mp4",
        "$(touch pwned).mp4",
        "semi;colon.mp4",
        "back`tick`.mp4",
    ]
    root = tmp_path / "odd $dir; `x`"
    for n in names:
        touch(root / "real" / n)
        touch(root / "fake" / n)
    df = ingest_dataset({"name": "odd", "layout": "folder", "root": root})
    assert len(df) == 2 * len(names)
    for n in names:
        vid = f"odd/real/{n[:-4]}"
        assert vid in set(df["video_id"])
        row = df[df["video_id"] == vid].iloc[0]
        assert Path(row["path"]).exists()
    assert not (tmp_path / "pwned").exists()
    # the same tree in DFDC form, keys with odd characters
    meta = {n: {"label": "FAKE" if i % 2 else "REAL"} for i, n in enumerate(names)}
    (root / "real" / "metadata.json").write_text(json.dumps(meta))
    d = ingest_dataset({"name": "o2", "layout": "dfdc", "root": root / "real"})
    assert len(d) == len(names)


def test_symlink_loop_does_not_hang(tmp_path: Path) -> None:
    root = tmp_path / "loop"
    touch(root / "real" / "a" / "v.mp4")
    touch(root / "fake" / "w.mp4")
    os.symlink(root / "real", root / "real" / "a" / "back")  # cycle
    os.symlink(root / "real" / "self.mp4", root / "real" / "self.mp4")  # self link
    os.symlink("missing", root / "real" / "dangling")
    df = ingest_dataset({"name": "l", "layout": "folder", "root": root})
    ids = set(df["video_id"])
    assert {"l/real/a/v", "l/fake/w"} <= ids
    assert not any("back/a/back" in v for v in ids)


def test_symlinked_folder_keeps_user_path(tmp_path: Path) -> None:
    store = tmp_path / "store"
    touch(store / "v1.mp4")
    root = tmp_path / "ds"
    (root / "fake").mkdir(parents=True)
    touch(root / "real" / "r.mp4")
    os.symlink(store, root / "fake" / "linked")
    df = ingest_dataset({"name": "s", "layout": "folder", "root": root})
    row = by_id(df)["s/fake/linked/v1"]
    assert row["path"] == str(root / "fake" / "linked" / "v1.mp4")


def test_same_stem_two_extensions_is_an_error(tmp_path: Path) -> None:
    touch(tmp_path / "real" / "a.mp4")
    touch(tmp_path / "real" / "a.avi")
    with pytest.raises(InputError, match="same video id"):
        ingest_dataset({"name": "x", "layout": "folder", "root": tmp_path})


# ---------------------------------------------------------------- csv


def test_csv_layout(tmp_path: Path) -> None:
    root = tmp_path / "set"
    touch(root / "vids" / "r1.mp4")
    touch(root / "vids" / "f 1.mp4")
    touch(root / "vids" / "f2.avi")
    touch(root / "vids" / "r2.mkv")
    csv = root / "list.csv"
    pd.DataFrame(
        {
            "path": [
                "vids/r1.mp4",
                "vids/f 1.mp4",
                str(root / "vids" / "f2.avi"),
                "vids/r2.mkv",
            ],
            "label": ["real", "FAKE", "1", "0"],
            "group": ["", "", "", "person7"],
            "original": ["", "vids/r1.mp4", "vids/f 1.mp4", ""],
            "split": ["train", "test", "", "test"],
        }
    ).to_csv(csv, index=False)
    df = ingest_dataset({"name": "c", "layout": "csv", "root": root, "csv": csv})
    rows = by_id(df)
    assert rows["c/vids/r1"]["label"] == 0 and rows["c/vids/f 1"]["label"] == 1
    assert rows["c/vids/f 1"]["original"] == "c/vids/r1"
    assert rows["c/vids/f 1"]["group"] == "c/vids/r1"
    # group follows the original chain f2 -> f 1 -> r1
    assert rows["c/vids/f2"]["group"] == "c/vids/r1"
    assert rows["c/vids/r2"]["group"] == "c/person7"
    assert rows["c/vids/r1"]["official_split"] == "train"
    assert rows["c/vids/f2"]["official_split"] == ""
    # csv path relative to the root; root defaults to the CSV's folder
    df2 = ingest_dataset({"name": "c", "layout": "csv", "csv": csv})
    assert df2["video_id"].tolist() == df["video_id"].tolist()


def test_csv_errors(tmp_path: Path) -> None:
    touch(tmp_path / "a.mp4")
    csv = tmp_path / "t.csv"
    spec = {"name": "c", "layout": "csv", "root": tmp_path, "csv": csv}
    csv.write_text("path,kind\na.mp4,real\n")
    with pytest.raises(InputError) as err:
        ingest_dataset(spec)
    assert str(csv) in str(err.value) and "label" in str(err.value)
    csv.write_text("path,label\na.mp4,real\nb.mp4,fake\n")
    with pytest.raises(InputError) as err:
        ingest_dataset(spec)
    assert str(csv) in str(err.value) and "row 2" in str(err.value)
    assert "b.mp4" in str(err.value)
    csv.write_text("path,label\na.mp4,maybe\n")
    with pytest.raises(InputError) as err:
        ingest_dataset(spec)
    assert str(csv) in str(err.value) and "row 1" in str(err.value)
    assert "maybe" in str(err.value)
    with pytest.raises(InputError, match="does not exist"):
        ingest_dataset({**spec, "csv": tmp_path / "none.csv"})


# ---------------------------------------------------------------- general


def test_missing_root_and_unknown_layout(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    for layout in ("celebdf", "dfd", "dfdc", "folder"):
        with pytest.raises(InputError) as err:
            ingest_dataset({"name": "x", "layout": layout, "root": missing})
        assert str(missing) in str(err.value) and "'x'" in str(err.value)
    with pytest.raises(InputError) as err:
        ingest_dataset({"name": "x", "layout": "youtube", "root": tmp_path})
    assert "youtube" in str(err.value) and "'x'" in str(err.value)


def test_empty_dataset_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    touch(tmp_path / "real" / "notes.txt")
    with pytest.raises(InputError, match="no videos"):
        ingest_dataset({"name": "e", "layout": "folder", "root": tmp_path})


def test_build_manifest_same_file_names_in_two_datasets(tmp_path: Path) -> None:
    for d in ("one", "two"):
        touch(tmp_path / d / "real" / "000.mp4")
        touch(tmp_path / d / "fake" / "000.mp4")
    m = build_manifest(
        [
            {"name": "b", "layout": "folder", "root": tmp_path / "one"},
            {"name": "a", "layout": "folder", "root": tmp_path / "two"},
        ]
    )
    assert list(m.columns) == MANIFEST_COLUMNS
    assert m["video_id"].tolist() == [
        "a/fake/000",
        "a/real/000",
        "b/fake/000",
        "b/real/000",
    ]
    assert m["video_id"].is_unique and m["path"].is_unique
    assert set(m["dataset"]) == {"a", "b"}


def test_build_manifest_duplicate_names(tmp_path: Path) -> None:
    touch(tmp_path / "real" / "0.mp4")
    spec = {"name": "same", "layout": "folder", "root": tmp_path}
    with pytest.raises(InputError) as err:
        build_manifest([spec, dict(spec)])
    assert "'same'" in str(err.value) and "unique" in str(err.value)


def test_bad_dataset_name(tmp_path: Path) -> None:
    touch(tmp_path / "real" / "0.mp4")
    with pytest.raises(InputError, match="name"):
        ingest_dataset({"name": "a/b", "layout": "folder", "root": tmp_path})


def test_deterministic(celebdf: Path) -> None:
    spec = {"name": "c", "layout": "celebdf", "root": celebdf}
    pd.testing.assert_frame_equal(ingest_dataset(spec), ingest_dataset(spec))
