"""``models.<name>.fakes``: training on fakes synthesised from the real faces.

The shards here are written by ``ShardWriter``: videos of textured faces with
68 landmarks on an ellipse (enough for the landmarks' hull the synthesis
blends inside), real and fake videos alternating.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from snakemake.utils import validate

from deepfake_ensemble.config import check_config, fakes_problem
from deepfake_ensemble.defaults import DEFAULTS
from deepfake_ensemble.errors import InputError
from deepfake_ensemble.layout import EYE_SEQUENCE_MODELS, MODEL_NAMES
from deepfake_ensemble.preprocess.shards import ShardWriter
from deepfake_ensemble.train.datasets import (
    FAKES,
    ConcatFrames,
    FrameDataset,
    resolve_fakes,
    shard_dataset,
    training_dataset,
)
from deepfake_ensemble.train.loop import (
    config_hash,
    epoch_sampler,
    resolve_config,
    train_model,
)
from deepfake_ensemble.train.models import EYE_SEQUENCE, get_spec
from deepfake_ensemble.train.synthesis import KINDS, SynthesisDataset

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "schema" / "config.schema.yaml"
SIZE, EYE = 40, 16
FRAMES = 3

# the tiny capsule network of tests/test_train.py
CAPSULE_CFG = {
    "input_size": 32,
    "epochs": 1,
    "batch_size": 4,
    "max_steps_per_epoch": 1,
    "optimizer": {"name": "adam", "lr": 5e-3},
    "kwargs": {"freeze_stem": False},
}


def ellipse_landmarks(size: int, rng: np.random.Generator) -> np.ndarray:
    """68 points on an ellipse about the crop's centre, a little jittered."""
    t = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    c = size / 2 + rng.uniform(-1, 1, 2)
    pts = np.c_[c[0] + 0.3 * size * np.cos(t), c[1] + 0.38 * size * np.sin(t)]
    return pts.astype(np.float32)


def write_shard(path: Path, n_videos: int = 4, seed: int = 0) -> Path:
    """Videos 0, 2, ... real, 1, 3, ... fake (a bright square), FRAMES faces each."""
    rng = np.random.default_rng(seed)
    with ShardWriter(path, encoding="raw", face_size=SIZE, eye_size=EYE) as w:
        for v in range(n_videos):
            faces = rng.integers(0, 200, (FRAMES, SIZE, SIZE, 3), dtype=np.uint8)
            if v % 2:
                faces[:, 8:24, 8:24] = 250
            rows = {
                "landmarks": np.stack(
                    [ellipse_landmarks(SIZE, rng) for _ in range(FRAMES)]
                ),
                "boxes": np.zeros((FRAMES, 4), np.float32),
                "crop_boxes": np.zeros((FRAMES, 4), np.float32),
                "frame_index": np.arange(FRAMES, dtype=np.int32) * 5,
                "timestamp": np.arange(FRAMES, dtype=np.float32) / 2,
                "face_index": np.zeros(FRAMES, np.int16),
                "faces": faces,
                "eyes": rng.integers(0, 255, (FRAMES, 2, EYE, EYE, 3), dtype=np.uint8),
            }
            w.add_video(
                f"demo/s{seed}{v}", v % 2, "demo", "train", rows, frames_sampled=FRAMES
            )
    return path


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("shards")
    return (
        write_shard(root / "train" / "shard-00000.h5", seed=0),
        write_shard(root / "val" / "shard-00000.h5", seed=1),
    )


def item_bytes(ds, i: int) -> tuple[bytes, int, int]:
    x, label, index = ds[i]
    return x.numpy().tobytes(), int(label), int(index)


# -- the training dataset ----------------------------------------------------------


@pytest.mark.parametrize("cfg", [None, {}, {"fakes": "dataset"}, {"fakes": None}])
def test_dataset_fakes_give_the_plain_frame_dataset(shards, cfg):
    train, _ = shards
    plain = FrameDataset(train)
    ds = training_dataset("capsule", train, cfg, seed=5)
    assert type(ds) is FrameDataset and not hasattr(ds, "set_epoch")
    assert ds.meta.equals(plain.meta) and len(ds) == len(plain) == 4 * FRAMES
    for i in range(len(plain)):
        assert item_bytes(ds, i) == item_bytes(plain, i)
    assert ds.meta.equals(shard_dataset("capsule", train, cfg).meta)


@pytest.mark.parametrize("fakes", ["self_blended", "face_warp"])
def test_synthesis_trains_on_the_real_faces_and_their_fakes(shards, fakes):
    train, _ = shards
    plain = FrameDataset(train)
    ds = training_dataset("dsp_fwa", train, {"fakes": fakes}, seed=5)
    assert isinstance(ds, SynthesisDataset) and ds.kinds == (fakes,) and ds.seed == 5
    real = plain.meta[plain.meta["label"] == 0]
    assert len(ds) == 2 * len(real)
    # every source row is a real one of the shard, each once as itself and
    # once as a fake: labels alternate
    assert ds.meta["label"].tolist() == [0, 1] * len(real)
    sources = ds.meta[["shard", "row"]].drop_duplicates()
    assert sources.reset_index(drop=True).equals(
        real[["shard", "row"]].reset_index(drop=True)
    )
    assert set(ds.meta["video_id"]) == set(real["video_id"])
    by_row = {int(r): i for i, r in enumerate(plain.meta["row"])}
    for k in range(len(real)):
        face = plain[by_row[int(ds.meta.at[2 * k, "row"])]][0].numpy()
        x0, y0, i0 = ds[2 * k]
        x1, y1, i1 = ds[2 * k + 1]
        assert (y0, y1, i0, i1) == (0, 1, 2 * k, 2 * k + 1)
        assert x0.numpy().tobytes() == face.tobytes()
        assert x1.shape == x0.shape and x1.dtype == torch.uint8
        assert x1.numpy().tobytes() != face.tobytes()
    # seeded: the same seed and epoch give the same bytes, another epoch others
    again = training_dataset("dsp_fwa", train, {"fakes": fakes}, seed=5)
    assert item_bytes(again, 1) == item_bytes(ds, 1)
    again.set_epoch(2)
    assert item_bytes(again, 1) != item_bytes(ds, 1)
    assert item_bytes(again, 0) == item_bytes(ds, 0)


def test_mixed_holds_the_dataset_then_synthesised_fakes_of_both_kinds(shards):
    train, _ = shards
    plain = FrameDataset(train)
    ds = training_dataset("xception", train, {"fakes": "mixed"}, seed=5)
    assert isinstance(ds, ConcatFrames)
    dataset_part, synthesis = ds.parts
    assert type(dataset_part) is FrameDataset
    assert isinstance(synthesis, SynthesisDataset) and synthesis.kinds == KINDS
    n, n_real = len(plain), int((plain.meta["label"] == 0).sum())
    assert len(ds) == n + 2 * n_real == len(ds.meta)
    # the dataset's items first, unchanged, then the real faces and their fakes
    for i in range(n):
        assert item_bytes(ds, i) == item_bytes(plain, i)
    for k in range(2 * n_real):
        x, label, index = ds[n + k]
        assert index == n + k and label == k % 2
        assert x.numpy().tobytes() == synthesis[k][0].numpy().tobytes()
    assert ds[-1][2] == len(ds) - 1
    with pytest.raises(IndexError):
        ds[len(ds)]
    cols = ["video_id", "frame_index", "label", "shard", "row"]
    assert ds.meta[cols].iloc[:n].reset_index(drop=True).equals(plain.meta[cols])
    assert ds.meta["part"].tolist() == [0] * n + [1] * (2 * n_real)
    assert ds.meta["label"].iloc[n:].tolist() == [0, 1] * n_real
    # the epoch reaches the synthesis, and the sampler reads the labels
    ds.set_epoch(3)
    assert synthesis.epoch == 3
    drawn = list(epoch_sampler(ds, 1, balance=True))
    assert len(drawn) == len(ds) and max(drawn) < len(ds)


def test_a_shard_without_real_faces_is_refused_for_synthesis(tmp_path):
    path = write_shard(tmp_path / "shard-00000.h5", n_videos=4)
    only_fakes = tmp_path / "fakes" / "shard-00000.h5"
    rng = np.random.default_rng(0)
    with ShardWriter(only_fakes, encoding="raw", face_size=SIZE, eye_size=EYE) as w:
        rows = {
            "landmarks": np.stack([ellipse_landmarks(SIZE, rng)]),
            "boxes": np.zeros((1, 4), np.float32),
            "crop_boxes": np.zeros((1, 4), np.float32),
            "frame_index": np.zeros(1, np.int32),
            "timestamp": np.zeros(1, np.float32),
            "face_index": np.zeros(1, np.int16),
            "faces": np.zeros((1, SIZE, SIZE, 3), np.uint8),
            "eyes": np.zeros((1, 2, EYE, EYE, 3), np.uint8),
        }
        w.add_video("demo/f", 1, "demo", "train", rows, frames_sampled=1)
    assert len(training_dataset("capsule", path, {"fakes": "face_warp"})) > 0
    with pytest.raises(InputError, match=r"models\.capsule\.fakes: .* has none"):
        training_dataset("capsule", only_fakes, {"fakes": "face_warp"})


# -- training ---------------------------------------------------------------------


def test_training_on_self_blended_fakes_runs_and_records_them(shards, tmp_path):
    train, val = shards
    cfg = {**CAPSULE_CFG, "fakes": "self_blended"}
    train_ds = training_dataset("capsule", train, cfg, seed=1)
    val_ds = shard_dataset("capsule", val, cfg)
    hist = train_model(
        "capsule",
        cfg,
        train_ds,
        val_ds,
        tmp_path / "o",
        tmp_path / "r",
        seed=1,
        progress=False,
    )
    assert list(hist["epoch"]) == [1] and np.isfinite(hist["train_loss"]).all()
    assert train_ds.epoch == 1  # the loop set the epoch before its loader
    ckpt = torch.load(tmp_path / "o" / "last.pt", weights_only=True)
    assert ckpt["config"]["fakes"] == "self_blended"
    # validation stays the dataset's own videos
    assert (tmp_path / "o" / "val_predictions.csv").read_text().count("\n") - 1 == (
        val_ds.meta.drop_duplicates(["video_id", "frame_index"]).shape[0]
    )
    # the same resume folder with the dataset's fakes is another run
    plain_cfg = {**CAPSULE_CFG, "fakes": "dataset"}
    train_model(
        "capsule",
        plain_cfg,
        training_dataset("capsule", train, plain_cfg, seed=1),
        val_ds,
        tmp_path / "p",
        tmp_path / "r",
        seed=1,
        progress=False,
    )
    plain = torch.load(tmp_path / "p" / "last.pt", weights_only=True)
    assert plain["config"]["fakes"] == "dataset"
    assert plain["config_hash"] != ckpt["config_hash"]


def test_the_train_job_builds_its_training_set_from_fakes(shards, tmp_path, caplog):
    """Rule train's function: the training items follow the model's config."""
    from deepfake_ensemble.train.jobs import train as train_job

    train, val = shards
    out = tmp_path / "models" / "capsule"
    with caplog.at_level("INFO", logger="deepfake_ensemble.train.jobs"):
        train_job(
            "capsule",
            train,
            [val],
            out,
            tmp_path / "resume",
            {**CAPSULE_CFG, "fakes": "face_warp"},
            {"device": "cpu"},
            seed=3,
            threads=1,
        )
    n_real = int((FrameDataset(train).meta["label"] == 0).sum())
    assert f"capsule: {2 * n_real} training items (fakes: face_warp)" in caplog.text
    ckpt = torch.load(out / "best.pt", weights_only=True)
    assert ckpt["config"]["fakes"] == "face_warp" and ckpt["seed"] == 3


def test_the_config_hash_follows_fakes_and_keeps_old_runs(shards):
    resolved = resolve_config("capsule", CAPSULE_CFG)
    assert resolved["fakes"] == DEFAULTS["models.<model>.fakes"] == "dataset"
    assert resolve_config("capsule", {**CAPSULE_CFG, "fakes": "dataset"}) == resolved
    hashes = {
        f: config_hash("capsule", resolve_config("capsule", {"fakes": f}), 1, 8, 8)
        for f in FAKES
    }
    assert len(set(hashes.values())) == len(FAKES)
    # at the default the key is not part of the identity: a resume state
    # written before the key existed still matches
    before = {k: v for k, v in resolve_config("capsule", {}).items() if k != "fakes"}
    assert config_hash("capsule", before, 1, 8, 8) == hashes["dataset"]


# -- the config ---------------------------------------------------------------------


def test_the_schema_takes_fakes_per_model_with_the_dataset_as_default():
    schema = yaml.safe_load(SCHEMA.read_text())
    fakes = schema["definitions"]["model"]["properties"]["fakes"]
    assert fakes["enum"] == list(FAKES) and fakes["default"] == "dataset"
    assert {k for kinds, _ in FAKES.values() for k in kinds} == set(KINDS)
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["models"]["xception"] = {"fakes": "mixed"}
    validate(config, str(SCHEMA))
    assert config["models"]["capsule"]["fakes"] == "dataset"
    assert config["models"]["xception"]["fakes"] == "mixed"
    check_config(config)


def test_the_eye_sequence_models_are_the_registry_s():
    eye_models = {m for m in MODEL_NAMES if get_spec(m).input_kind == EYE_SEQUENCE}
    assert eye_models == set(EYE_SEQUENCE_MODELS) == {"ictu_oculi"}


@pytest.mark.parametrize("fakes", ["self_blended", "face_warp", "mixed"])
def test_ictu_oculi_refuses_synthesised_fakes_naming_the_key(shards, fakes):
    config = {"models": {"capsule": {"fakes": fakes}, "ictu_oculi": {"fakes": fakes}}}
    with pytest.raises(InputError) as err:
        check_config(config)
    line = str(err.value)
    assert "\n" not in line
    assert line.startswith("config key models.ictu_oculi.fakes: ")
    assert repr(fakes) in line
    for ok in ({"ictu_oculi": {"fakes": "dataset"}}, {"ictu_oculi": {}}, {}):
        check_config({"models": {"capsule": {"fakes": fakes}, **ok}})
    assert fakes_problem("capsule", fakes) is None
    # and the training refuses it as well, before reading any shard
    for call in (
        lambda: resolve_fakes("ictu_oculi", {"fakes": fakes}),
        lambda: resolve_config("ictu_oculi", {"fakes": fakes}),
        lambda: training_dataset("ictu_oculi", shards[0], {"fakes": fakes}),
    ):
        with pytest.raises(InputError, match=r"^models\.ictu_oculi\.fakes: "):
            call()
    with pytest.raises(InputError, match=r"models\.capsule\.fakes must be one of"):
        resolve_fakes("capsule", {"fakes": "deepfakes"})


def test_dry_run_stops_on_ictu_oculi_with_synthesised_fakes(tmp_path):
    configfile = tmp_path / "fakes.yaml"
    configfile.write_text("models:\n  ictu_oculi:\n    fakes: self_blended\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--configfile",
            str(configfile),
            "--directory",
            str(tmp_path),
            "--snakefile",
            str(ROOT / "Snakefile"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode != 0
    out = result.stdout + result.stderr
    lines = [ln for ln in out.splitlines() if "models.ictu_oculi.fakes" in ln]
    assert len(lines) == 1, out
    assert lines[0].startswith("config key models.ictu_oculi.fakes: 'self_blended'")
