"""HDF5 shards: writer/reader round trip, datasets, DataLoader workers."""

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from deepfake_ensemble.errors import InputError
from deepfake_ensemble.io import write_json
from deepfake_ensemble.preprocess.faces import FaceRecord
from deepfake_ensemble.preprocess.shards import ShardWriter, make_rows, open_shards
from deepfake_ensemble.train.datasets import (
    EyeSequenceDataset,
    FrameDataset,
    resolve_seq_len,
    shard_dataset,
)

SRC = Path(__file__).resolve().parents[1] / "src"

S, E = 24, 8


def fake_video(rng, n_frames, faces_per_frame=1):
    items = []
    for f in range(n_frames):
        for k in range(faces_per_frame):
            items.append(
                (
                    f * 5,
                    f * 0.5,
                    FaceRecord(
                        face=rng.integers(0, 256, (S, S, 3), dtype=np.uint8),
                        eyes=rng.integers(0, 256, (2, E, E, 3), dtype=np.uint8),
                        landmarks=rng.uniform(0, S, (68, 2)).astype(np.float32),
                        box=np.array([1, 2, 30, 40], np.float32),
                        crop_box=np.array([0, 0, 40, 40], np.float32),
                        face_index=k,
                    ),
                )
            )
    return items


def write_split(out, videos, encoding="raw", per_shard=2):
    """Write videos {id: (label, items)} into shards + index.json."""
    ids = sorted(videos)
    shards = []
    for si in range(0, len(ids), per_shard):
        path = out / f"shard-{si // per_shard:05d}.h5"
        with ShardWriter(path, encoding, S, E, 95, {"face_size": S}) as w:
            for vid in ids[si : si + per_shard]:
                label, items = videos[vid]
                w.add_video(
                    vid, label, "demo", "train", make_rows(items, encoding, S, E)
                )
            shards.append({"file": path.name, "n_videos": 2, "n_rows": w.n_rows})
    write_json({"format_version": 1, "shards": shards}, out / "index.json")
    return out


@pytest.fixture(scope="module")
def raw_split(tmp_path_factory):
    rng = np.random.default_rng(0)
    videos = {
        "demo/a": (0, fake_video(rng, 5)),
        "demo/b": (1, fake_video(rng, 3, faces_per_frame=2)),
        "demo/c": (1, fake_video(rng, 1)),
    }
    out = write_split(tmp_path_factory.mktemp("raw"), videos)
    return out, videos


def expected_rows(videos):
    for vid in sorted(videos):
        label, items = videos[vid]
        for f, t, rec in items:
            yield vid, label, f, t, rec


def test_reader_returns_what_was_written_across_shards(raw_split):
    out, videos = raw_split
    s = open_shards(out)
    assert len(s.paths) == 2 and len(s) == 5 + 6 + 1
    assert s.videos["video_id"].tolist() == ["demo/a", "demo/b", "demo/c"]
    assert s.videos["n_rows"].tolist() == [5, 6, 1]
    for i, (vid, label, f, t, rec) in enumerate(expected_rows(videos)):
        r = s.rows.iloc[i]
        assert (r["video_id"], r["label"], r["frame_index"]) == (vid, label, f)
        assert r["face_index"] == rec.face_index and r["timestamp"] == pytest.approx(t)
        np.testing.assert_array_equal(s.face(r["shard"], r["row"]), rec.face)
        np.testing.assert_array_equal(s.eyes(r["shard"], r["row"]), rec.eyes)
        np.testing.assert_array_equal(s.landmarks(r["shard"], r["row"]), rec.landmarks)
    with h5py.File(s.paths[0]) as h5:
        assert h5.attrs["encoding"] == "raw"
        assert json.loads(h5.attrs["versions"])["dlib"]
        assert h5["faces"].shape == (11, S, S, 3)


def test_frame_dataset_items_and_meta(raw_split):
    out, videos = raw_split
    ds = FrameDataset(out, transform=lambda x: x.float() / 255)
    assert list(ds.meta.columns[:4]) == [
        "video_id",
        "frame_index",
        "label",
        "face_index",
    ]
    img, label, idx = ds[6]
    vid, lab, f, _, rec = list(expected_rows(videos))[6]
    assert img.dtype == torch.float32 and img.shape == (3, S, S)
    assert label == lab and idx == 6 and ds.meta.at[6, "video_id"] == vid
    np.testing.assert_allclose(
        img.numpy().transpose(1, 2, 0), rec.face / 255, atol=1e-6
    )


def test_dataloader_with_two_workers(raw_split):
    out, videos = raw_split
    ds = FrameDataset(out)
    ds[0]  # open files in the parent first: workers must reopen their own
    loader = torch.utils.data.DataLoader(ds, batch_size=3, shuffle=True, num_workers=2)
    seen = {}
    for imgs, labels, idx in loader:
        for im, lab, i in zip(imgs, labels, idx, strict=True):
            seen[int(i)] = (im.numpy().transpose(1, 2, 0), int(lab))
    exp = list(expected_rows(videos))
    assert sorted(seen) == list(range(len(exp)))
    for i, (_, label, _, _, rec) in enumerate(exp):
        np.testing.assert_array_equal(seen[i][0], rec.face)
        assert seen[i][1] == label


def test_eye_sequences_window_and_pad(raw_split):
    out, videos = raw_split
    ds = EyeSequenceDataset(out, seq_len=2)
    # a: 5 frames -> 3 windows; b: 3 frames (largest face only) -> 2; c: 1 -> 1
    assert ds.meta["video_id"].tolist() == ["demo/a"] * 3 + ["demo/b"] * 2 + ["demo/c"]
    assert ds.meta["n_frames"].tolist() == [2, 2, 1, 2, 1, 1]
    eyes, mask, label, idx = ds[2]
    assert eyes.shape == (2, 2, 3, E, E) and eyes.dtype == torch.uint8
    assert mask.tolist() == [True, False] and label == 0 and idx == 2
    assert ds.frame_indices(2) == [20]
    last = videos["demo/a"][1][4][2].eyes  # frame 4 of video a
    np.testing.assert_array_equal(eyes[0].numpy().transpose(0, 2, 3, 1), last)
    np.testing.assert_array_equal(eyes[1], eyes[0])  # padding repeats the last
    b_items = [it for it in videos["demo/b"][1] if it[2].face_index == 0]
    eyes, mask, label, _ = ds[4]
    assert ds.frame_indices(4) == [b_items[2][0]] and label == 1
    np.testing.assert_array_equal(
        eyes[0].numpy().transpose(0, 2, 3, 1), b_items[2][2].eyes
    )
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2)
    batches = list(loader)
    assert sum(len(b[3]) for b in batches) == len(ds)


def test_jpeg_encoding_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    smooth = fake_video(rng, 2)
    for _, _, rec in smooth:  # smooth images survive JPEG nearly unchanged
        rec.face[:] = np.linspace(0, 255, S, dtype=np.uint8)[None, :, None]
        rec.eyes[:] = 128
    out = write_split(tmp_path, {"demo/j": (1, smooth)}, encoding="jpeg")
    s = open_shards(out)
    with h5py.File(s.paths[0]) as h5:
        assert h5.attrs["encoding"] == "jpeg" and h5["faces"].shape == (2,)
    face = s.face(0, 1)
    assert face.shape == (S, S, 3)
    assert np.abs(face.astype(int) - smooth[1][2].face).mean() < 3
    ds = EyeSequenceDataset(out, seq_len=4)
    eyes, mask, _, _ = ds[0]
    assert mask.tolist() == [True, True, False, False]
    assert np.abs(eyes.numpy().astype(int) - 128).max() < 4


def test_incomplete_or_missing_shards_raise(tmp_path):
    (tmp_path / "split").mkdir()
    with pytest.raises(InputError, match="index.json"):
        FrameDataset(tmp_path / "split")
    with pytest.raises(InputError, match="not found"):
        open_shards([tmp_path / "nope.h5"])


def test_writer_exception_leaves_no_file(tmp_path):
    rng = np.random.default_rng(2)
    with (
        pytest.raises(RuntimeError),
        ShardWriter(tmp_path / "shard-00000.h5", "raw", S, E) as w,
    ):
        w.add_video(
            "demo/x", 0, "demo", "train", make_rows(fake_video(rng, 2), "raw", S, E)
        )
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "module",
    ["deepfake_ensemble.preprocess.shards", "deepfake_ensemble.preprocess.pipeline"],
)
def test_shard_writing_needs_no_torch(module):
    """Preprocessing runs in an environment without PyTorch."""
    code = f"import sys, {module}; assert 'torch' not in sys.modules, 'torch'"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_shard_dataset_picks_the_dataset_and_seq_len(raw_split):
    out, _ = raw_split
    frames = shard_dataset("xception", out, {})
    assert isinstance(frames, FrameDataset) and len(frames) == 12
    eyes = shard_dataset("ictu_oculi", out, {"seq_len": 2})
    assert isinstance(eyes, EyeSequenceDataset) and eyes.seq_len == 2
    assert len(eyes) == len(EyeSequenceDataset(out, seq_len=2))
    # no seq_len in the config (or null): the registry spec's
    assert shard_dataset("ictu_oculi", out, {}).seq_len == 20
    assert shard_dataset("ictu_oculi", out, {"seq_len": None}).seq_len == 20
    assert resolve_seq_len("ictu_oculi", None) == 20
    assert resolve_seq_len("capsule", {}) is None
    with pytest.raises(InputError, match="seq_len"):
        resolve_seq_len("ictu_oculi", {"seq_len": 2.5})
    # a name that is not a study detector is a member that must say its kind
    with pytest.raises(InputError, match="models.nope.kind"):
        shard_dataset("nope", out, {})
