"""Per-video processing, batch jobs with cache, shards, report, contact sheet."""

import json

import numpy as np
import pandas as pd
import pytest
from helpers_media import (
    blank_frame,
    face_frame,
    face_video,
    numbered_video,
    write_video,
)

from deepfake_ensemble.errors import InputError
from deepfake_ensemble.preprocess import pipeline as pp
from deepfake_ensemble.preprocess.pipeline import (
    PreprocessConfig,
    contact_sheet,
    pack_shards,
    read_cache,
    run_batch,
    write_report,
)
from deepfake_ensemble.preprocess.shards import ShardWriter
from deepfake_ensemble.train.datasets import EyeSequenceDataset, FrameDataset

CFG = {
    "frame_interval_s": 0.5,
    "upsample": 0,
    "detect_scale": 1.0,
    "face_size": 64,
    "eye_size": 16,
    "encoding": "raw",
    "shard_max_videos": 2,
    "video_timeout_s": 60,
}


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    paths = {
        "face_a": face_video(d / "face_a.mp4", n=12),
        "face_b": face_video(d / "face_b.mp4", n=7),
        "face_c": face_video(d / "face_c.mp4", n=5),
        "noface": numbered_video(d / "noface.mp4", 10),
        "short": face_video(d / "short.mp4", n=3),
    }
    (d / "empty.mp4").write_bytes(b"")
    paths["empty"] = d / "empty.mp4"
    (d / "text.mp4").write_text("not a video at all\n" * 100)
    paths["text"] = d / "text.mp4"
    full = face_video(d / "full.mp4", n=20).read_bytes()
    (d / "truncated.mp4").write_bytes(full[: len(full) // 2])  # index at the end
    paths["truncated"] = d / "truncated.mp4"
    uhd = face_frame(3840, 2160, at=(1400, 500), size=900)  # a 4K frame, big face
    paths["uhd"] = write_video(d / "uhd.mp4", [uhd, uhd], fps=2)
    return paths


def videos_df(paths, split="train"):
    return pd.DataFrame(
        {
            "video_id": [f"demo/{k}" for k in paths],
            "path": [str(p) for p in paths.values()],
            "label": [i % 2 for i in range(len(paths))],
            "dataset": "demo",
            "split": split,
        }
    )


@pytest.fixture(scope="module")
def batch(media, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    rep = run_batch(videos_df(media), cache, CFG, progress=False)
    return cache, rep


EXPECTED = {
    "face_a": "ok",
    "face_b": "ok",
    "face_c": "ok",
    "noface": "no_face",
    "short": "too_short",
    "empty": "empty_file",
    "text": "unreadable",
    "truncated": "unreadable",
    "uhd": "ok",
}


def test_statuses_and_report_columns(batch):
    _, rep = batch
    assert list(rep.columns) == pp.REPORT_COLUMNS
    got = dict(
        zip(rep["video_id"].str.removeprefix("demo/"), rep["status"], strict=True)
    )
    assert got == EXPECTED
    assert not rep["cached"].any()
    r = rep.set_index("video_id")
    assert r.loc["demo/face_a", "frames_sampled"] == 3  # 12 frames, 10 fps, 0.5 s
    assert r.loc["demo/face_a", "faces_found"] == 3
    assert r.loc["demo/uhd", "faces_found"] == 2
    assert r.loc["demo/noface", "faces_found"] == 0
    assert all(r.loc[f"demo/{k}", "reason"] for k, s in EXPECTED.items() if s != "ok")


def test_cache_files_hold_the_faces(batch):
    _, rep = batch
    row = rep.set_index("video_id").loc["demo/uhd"]
    attrs, rows = read_cache(row["cache_file"])
    assert attrs["status"] == "ok" and attrs["video_id"] == "demo/uhd"
    # the first sample searched whole, the second around the face found
    assert [attrs[k] for k in pp.SEARCH_COUNTS] == [1, 1, 0]
    assert rows["faces"].shape == (2, 64, 64, 3)
    assert rows["eyes"].shape == (2, 2, 16, 16, 3)
    assert list(rows["frame_index"]) == [0, 1]
    # the box is on the pasted face (900 px wide at x=1400, y=500)
    x0, y0, x1, y1 = rows["boxes"][0]
    assert 1400 <= x0 < x1 <= 2300 and 500 <= y0 < y1 <= 1500
    # the chin may reach the crop's edge; the eyes lie well inside it
    eyes = rows["landmarks"][:, 36:48]
    assert (eyes > 0).all() and (eyes < 64).all()


def test_second_run_uses_cache_and_processes_new_videos(batch, media, tmp_path):
    cache, first = batch
    extra = face_video(tmp_path / "new.mp4", n=6)
    df = videos_df({**media, "new": extra})
    rep = run_batch(df, cache, CFG, progress=False)
    cached = dict(zip(rep["video_id"], rep["cached"], strict=True))
    assert cached.pop("demo/new") is False
    assert all(cached.values())
    pd.testing.assert_frame_equal(
        rep.iloc[:-1].drop(columns="cached"), first.drop(columns="cached")
    )
    # a changed config value that affects output means new cache keys
    rep2 = run_batch(df.iloc[:1], cache, {**CFG, "face_size": 48}, progress=False)
    assert not rep2["cached"].any()


def test_timeout_status_and_not_cached(media, tmp_path):
    df = videos_df({"face_a": media["face_a"]})
    rep = run_batch(df, tmp_path, {**CFG, "video_timeout_s": 1e-9}, progress=False)
    assert rep["status"].tolist() == ["timeout"]
    assert rep["cache_file"].tolist() == [""]
    assert not list(tmp_path.rglob("*.h5"))


def test_interrupted_cache_write_leaves_no_file(media, tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pp, "append_rows", boom)
    df = videos_df({"face_a": media["face_a"], "noface": media["noface"]})
    rep = run_batch(df, tmp_path, CFG, progress=False)
    assert rep["status"].tolist() == ["error", "no_face"]
    assert "disk full" in rep["reason"].iloc[0]
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 1 and files[0].suffix == ".h5"  # only the no-face video


def test_pack_shards_round_trip(batch, tmp_path):
    _, rep = batch
    out = tmp_path / "train"
    paths = pack_shards(rep, out, CFG, "train", progress=False)
    ok = rep[rep["status"] == "ok"].sort_values("video_id")
    assert [p.name for p in paths] == ["shard-00000.h5", "shard-00001.h5"]
    index = json.loads((out / "index.json").read_text())
    assert index["n_videos"] == 4 and index["n_rows"] == ok["faces_found"].sum()
    ds = FrameDataset(out)
    assert len(ds) == ok["faces_found"].sum()
    assert ds.meta["video_id"].tolist() == sorted(ds.meta["video_id"])
    # every item is exactly what the cache holds
    for vid, cf in zip(ok["video_id"], ok["cache_file"], strict=True):
        _, rows = read_cache(cf)
        m = ds.meta[ds.meta["video_id"] == vid]
        assert m["frame_index"].tolist() == rows["frame_index"].tolist()
        for j, i in enumerate(m.index):
            img, label, idx = ds[i]
            assert idx == i and label == int(ok.set_index("video_id").at[vid, "label"])
            np.testing.assert_array_equal(
                img.numpy().transpose(1, 2, 0), rows["faces"][j]
            )
    seq = EyeSequenceDataset(out, seq_len=2)
    a = seq.meta.set_index(["video_id", "window"])["n_frames"]
    assert a.loc[("demo/face_a", 0)] == 2 and a.loc[("demo/face_a", 1)] == 1
    # re-packing with fewer videos per shard replaces the old shards
    paths = pack_shards(
        rep, out, {**CFG, "shard_max_videos": 4}, "train", progress=False
    )
    assert sorted(p.name for p in out.glob("shard-*.h5")) == ["shard-00000.h5"]


def test_pack_shards_with_no_ok_video(batch, tmp_path):
    _, rep = batch
    paths = pack_shards(rep, tmp_path / "val", CFG, "val", progress=False)
    assert len(paths) == 1
    assert len(FrameDataset(tmp_path / "val")) == 0
    assert len(EyeSequenceDataset(tmp_path / "val", seq_len=4)) == 0


def test_interrupted_pack_leaves_no_shard(batch, tmp_path, monkeypatch):
    _, rep = batch
    calls = []
    original = ShardWriter.add_video

    def fail_second(self, *a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("killed")
        return original(self, *a, **k)

    monkeypatch.setattr(ShardWriter, "add_video", fail_second)
    with pytest.raises(RuntimeError, match="killed"):
        pack_shards(rep, tmp_path / "train", CFG, "train", progress=False)
    assert list((tmp_path / "train").iterdir()) == []


def test_pack_shards_missing_cache_file_names_video(batch, tmp_path):
    _, rep = batch
    bad = rep.copy()
    bad.loc[bad["video_id"] == "demo/face_b", "cache_file"] = str(tmp_path / "gone.h5")
    with pytest.raises(InputError, match="demo/face_b"):
        pack_shards(bad, tmp_path / "x", CFG, "train", progress=False)


def test_write_report_and_contact_sheet(batch, tmp_path):
    _, rep = batch
    val = rep.iloc[:3].assign(split="val")
    report, summary = write_report(
        [rep.iloc[3:], val], tmp_path / "report.csv", tmp_path / "summary.csv"
    )
    assert len(report) == len(rep)
    s = summary.set_index("split")
    assert s.loc["all", "videos"] == len(rep)
    assert s.loc["all", "ok"] == 4 and s.loc["all", "unreadable"] == 2
    assert s.loc["val", "videos"] == 3
    assert s.loc["all", "faces_found"] == rep["faces_found"].sum()
    assert pd.read_csv(tmp_path / "report.csv").shape[0] == len(rep)
    pack_shards(rep, tmp_path / "train", CFG, "train", progress=False)
    pack_shards(rep, tmp_path / "val", CFG, "val", progress=False)
    png = contact_sheet(
        {"train": tmp_path / "train", "val": tmp_path / "val"}, tmp_path / "s.png", n=4
    )
    import cv2

    img = cv2.imread(str(png))
    assert img is not None and img.shape[1] == 4 * 96


def test_config_validation():
    with pytest.raises(InputError, match="unknown"):
        PreprocessConfig.from_dict({"frame_interval": 1})
    with pytest.raises(InputError, match="encoding"):
        PreprocessConfig.from_dict({"encoding": "png"})
    c = PreprocessConfig.from_dict({"frame_interval_s": None, "frames_per_video": 32})
    assert c.frames_per_video == 32


def test_count_mode_and_jpeg_encoding(media, tmp_path):
    cfg = {**CFG, "frame_interval_s": None, "frames_per_video": 4, "encoding": "jpeg"}
    rep = run_batch(
        videos_df({"face_a": media["face_a"]}), tmp_path, cfg, progress=False
    )
    assert rep["status"].tolist() == ["ok"] and rep["frames_sampled"].tolist() == [4]
    pack_shards(rep, tmp_path / "s", cfg, "train", progress=False)
    ds = FrameDataset(tmp_path / "s")
    assert ds.meta["frame_index"].tolist() == [0, 3, 6, 9]
    img, _, _ = ds[0]
    assert img.shape == (3, 64, 64)
    # a JPEG crop decodes close to the raw crop of the same frame
    _, rows = read_cache(rep["cache_file"].iloc[0])
    assert rows["faces"].dtype == object


def test_blank_frame_helper_is_not_a_face():
    assert blank_frame().shape == (160, 192, 3)
