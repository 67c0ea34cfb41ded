"""Staging a split's shards to node-local scratch (train.stage_dir)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_shards import fake_video, write_split

from deepfake_ensemble.errors import InputError
from deepfake_ensemble.preprocess.shards import shard_paths
from deepfake_ensemble.train.staging import STAGE_FOLDER, stage_shards, verify_copy


@pytest.fixture()
def split(tmp_path):
    rng = np.random.default_rng(1)
    videos = {f"demo/{i}": (i % 2, fake_video(rng, 3)) for i in range(5)}
    return write_split(tmp_path / "shards" / "train", videos)


def rows(shard_dir):
    """Every shard's faces and frame indices, as bytes."""
    import h5py

    out = []
    for path in shard_paths(shard_dir):
        with h5py.File(path, "r") as h5:
            out.append((h5["faces"][:].tobytes(), h5["frame_index"][:].tobytes()))
    return out


def test_staged_copy_reads_as_the_source_and_is_reused(split, tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("NODE_SCRATCH", str(scratch))
    staged = stage_shards(split, "$NODE_SCRATCH")
    assert staged.parent == scratch / STAGE_FOLDER and staged != split
    assert rows(staged) == rows(split)
    mtime = (staged / "shard-00000.h5").stat().st_mtime_ns
    assert stage_shards(split, "$NODE_SCRATCH") == staged  # reused, not copied
    assert (staged / "shard-00000.h5").stat().st_mtime_ns == mtime
    # nothing temporary is left beside it
    assert [p.name for p in staged.parent.iterdir()] == [staged.name]


def test_a_damaged_copy_is_replaced(split, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    staged = stage_shards(split, str(scratch))
    with open(staged / "shard-00001.h5", "r+b") as handle:
        handle.truncate(100)
    index = json.loads((split / "index.json").read_text())
    assert verify_copy(staged, split, index) == "shard-00001.h5 has another size"
    again = stage_shards(split, str(scratch))
    assert again == staged and rows(again) == rows(split)


def test_a_missing_stage_dir_is_an_input_error(split, tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_VARIABLE", raising=False)
    with pytest.raises(InputError, match="train.stage_dir"):
        stage_shards(split, "$NO_SUCH_VARIABLE")
    with pytest.raises(InputError, match="not an existing folder"):
        stage_shards(split, str(tmp_path / "absent"))
