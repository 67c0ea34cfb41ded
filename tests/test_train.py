"""Training, resuming and prediction of the detectors on tiny datasets."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from deepfake_ensemble.errors import InputError
from deepfake_ensemble.predictions import HISTORY_COLUMNS
from deepfake_ensemble.preprocess import shards
from deepfake_ensemble.train.datasets import shard_dataset
from deepfake_ensemble.train.loop import (
    _better,
    resolve_config,
    train_model,
    validation_metrics,
)
from deepfake_ensemble.train.predict import load_checkpoint, predict, predict_dataset


class TinyFrames:
    """Face crops in memory, same item format as ``datasets.FrameDataset``.

    Fake faces carry a bright square; frame 1 of every second video has two
    faces (face_index 0 and 1).
    """

    def __init__(self, n_videos=6, frames=2, size=40, seed=0, prefix="v"):
        rng = np.random.default_rng(seed)
        rows, images = [], []
        for v in range(n_videos):
            label = v % 2
            for f in range(frames):
                for face in range(2 if (v % 2 == 0 and f == 1) else 1):
                    img = rng.integers(0, 120, (3, size, size), dtype=np.uint8)
                    if label:
                        img[:, 8:24, 8:24] = 250
                    images.append(img)
                    rows.append((f"demo/{prefix}{v:02d}", f * 5, label, face))
        self.images = torch.from_numpy(np.stack(images))
        self.meta = pd.DataFrame(
            rows, columns=["video_id", "frame_index", "label", "face_index"]
        )
        self.meta["row"] = np.arange(len(self.meta))

    def __len__(self):
        return len(self.meta)

    def __getitem__(self, i):
        return self.images[i], int(self.meta.at[i, "label"]), i


class TinyEyes:
    """Eye-crop windows in memory, item format of ``datasets.EyeSequenceDataset``."""

    def __init__(self, n_videos=4, frames=5, seq_len=3, size=32, seed=0):
        rng = np.random.default_rng(seed)
        self.items, meta, self._frames = [], [], []
        for v in range(n_videos):
            label = v % 2
            eyes = rng.integers(0, 120, (frames, 2, 3, size, size), dtype=np.uint8)
            if label:
                eyes[:, :, :, 10:20, 10:20] = 250
            idx = list(range(0, 2 * frames, 2))
            for start in range(0, frames, seq_len):
                sl = eyes[start : start + seq_len]
                n = len(sl)
                pad = np.repeat(sl[-1:], seq_len - n, axis=0)
                mask = torch.zeros(seq_len, dtype=torch.bool)
                mask[:n] = True
                x = torch.from_numpy(np.concatenate([sl, pad]))
                self.items.append((x, mask, label))
                self._frames.append(idx[start : start + seq_len])
                meta.append((f"demo/e{v:02d}", label))
        self.meta = pd.DataFrame(meta, columns=["video_id", "label"])

    def __len__(self):
        return len(self.items)

    def frame_indices(self, i):
        return list(self._frames[i])

    def __getitem__(self, i):
        x, mask, label = self.items[i]
        return x, mask, label, i


CAPSULE_CFG = {
    "input_size": 32,
    "epochs": 3,
    "batch_size": 4,
    "optimizer": {"name": "adam", "lr": 5e-3},
    # no ImageNet stem here: a frozen random stem is refused
    "kwargs": {"freeze_stem": False},
}


@pytest.fixture(scope="module")
def frames():
    return TinyFrames(seed=0), TinyFrames(n_videos=4, seed=1, prefix="w")


def test_resolve_config_defaults_and_overrides():
    cfg = resolve_config("dsp_fwa", {"input_size": 64, "optimizer": {"lr": 0.01}})
    assert cfg["input_size"] == 64 and cfg["epochs"] == 20 and cfg["batch_size"] == 56
    assert cfg["optimizer"] == {
        "name": "sgd",
        "lr": 0.01,
        "momentum": 0.9,
        "weight_decay": 1e-3,
    }
    assert cfg["scheduler"]["factor"] == 0.95 and cfg["scheduler"]["min_lr"] == 1e-5
    assert resolve_config("dsp_fwa", {"scheduler": None})["scheduler"] is None
    x = resolve_config("xception", {"optimizer": {"name": "sgd", "lr": 0.1}})
    assert x["optimizer"] == {"name": "sgd", "lr": 0.1}
    assert x["early_stopping"] == 10 and x["normalisation"] == "half"
    assert resolve_config("ictu_oculi", None)["seq_len"] == 20
    assert resolve_config("ictu_oculi", {"seq_len": None})["seq_len"] == 20
    assert resolve_config("ictu_oculi", {"seq_len": 8})["seq_len"] == 8
    assert resolve_config("capsule", None)["seq_len"] is None
    with pytest.raises(InputError, match="normalisation"):
        resolve_config("capsule", {"normalisation": "zscore"})


def test_selection_rule_and_metrics():
    assert _better(0.7, 1.0, None)
    assert _better(0.8, 9.0, {"val_video_auc": 0.7, "val_loss": 0.1})
    assert not _better(0.7, 0.5, {"val_video_auc": 0.7, "val_loss": 0.4})
    assert _better(0.7, 0.3, {"val_video_auc": 0.7, "val_loss": 0.4})
    # an undefined AUC (None) ranks below any number
    assert _better(0.1, 0.3, {"val_video_auc": None, "val_loss": 0.1})
    assert not _better(None, 0.01, {"val_video_auc": 0.1, "val_loss": 0.3})
    assert _better(None, 0.3, {"val_video_auc": None, "val_loss": 0.4})
    assert _better(0.1, 0.3, {"val_video_auc": math.nan, "val_loss": 0.1})
    df = pd.DataFrame(
        {
            "video_id": ["a", "a", "b", "b"],
            "frame_index": [0, 1, 0, 1],
            "label": [0, 0, 1, 1],
            "score": [0.1, 0.6, 0.5, 0.4],
        }
    )
    frame_auc, video_auc = validation_metrics(df)
    assert frame_auc == pytest.approx(0.5) and video_auc == 1.0
    assert validation_metrics(df.assign(label=1)) == (None, None)


def test_train_writes_outputs_and_predicts(frames, tmp_path):
    train, val = frames
    out = tmp_path / "models" / "capsule"
    hist = train_model(
        "capsule", CAPSULE_CFG, train, val, out, tmp_path / "resume", progress=False
    )
    assert list(hist.columns) == list(HISTORY_COLUMNS)
    assert list(hist["epoch"]) == [1, 2, 3]
    assert np.isfinite(hist[["train_loss", "val_loss", "val_video_auc"]]).all().all()
    for f in ("best.pt", "last.pt", "history.csv", "training_curve.png", "size.json"):
        assert (out / f).stat().st_size > 0
    assert not list(out.glob(".*"))  # no temporary files left behind
    on_disk = pd.read_csv(out / "history.csv")
    assert np.allclose(on_disk["val_loss"], hist["val_loss"])
    model, spec, ckpt = load_checkpoint(out / "best.pt")
    assert ckpt["model_name"] == "capsule" and ckpt["input_size"] == 32
    best = hist.sort_values(["val_video_auc", "val_loss"], ascending=[False, True])
    assert ckpt["epoch"] == int(best["epoch"].iloc[0])

    pred = predict_dataset(out / "best.pt", val, progress=False)
    assert list(pred.columns) == ["video_id", "frame_index", "label", "score"]
    assert not pred.duplicated(["video_id", "frame_index"]).any()
    assert pred.equals(pred.sort_values(["video_id", "frame_index"]))
    assert len(pred) == len(val.meta.drop_duplicates(["video_id", "frame_index"]))
    assert pred["score"].between(0, 1).all()
    # two faces in one frame -> their mean score
    two = val.meta.groupby(["video_id", "frame_index"]).size()
    vid, fi = two[two == 2].index[0]
    rows = val.meta.index[(val.meta.video_id == vid) & (val.meta.frame_index == fi)]
    with torch.no_grad():
        x = spec.prepare(val.images[rows], input_size=32)
        expected = spec.scores(model(x)).mean().item()
    got = pred.set_index(["video_id", "frame_index"]).loc[(vid, fi), "score"]
    assert got == pytest.approx(expected, abs=1e-5)
    # the checkpoint's round trip gives the same outputs
    again, _, _ = load_checkpoint(out / "best.pt")
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
    # the best epoch's validation scores are the val predictions: the same
    # table as a prediction pass over val with best.pt (other batch size)
    kept = pd.read_csv(out / "val_predictions.csv")
    assert kept[["video_id", "frame_index", "label"]].equals(
        pred[["video_id", "frame_index", "label"]]
    )
    assert np.allclose(kept["score"], pred["score"], atol=1e-5)


def test_resume_after_kill_equals_uninterrupted_run(frames, tmp_path):
    train, val = frames
    cfg = {**CAPSULE_CFG, "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9}}
    cfg["scheduler"] = {"name": "plateau", "factor": 0.5, "patience": 0}
    full = train_model(
        "capsule", cfg, train, val, tmp_path / "a", tmp_path / "ra", progress=False
    )

    def run_b(**kw):  # the same run, in steps, into b
        return train_model(
            "capsule", cfg, train, val, tmp_path / "b", tmp_path / "rb", **kw
        )

    first = run_b(max_epochs=1, progress=False)
    assert list(first["epoch"]) == [1]
    resumed = run_b(progress=False)
    assert list(resumed["epoch"]) == [1, 2, 3]
    # epoch 1 came from the saved state, not from training it again
    assert resumed["seconds"].iloc[0] == first["seconds"].iloc[0]
    cols = ["train_loss", "val_loss", "val_frame_auc", "val_video_auc", "lr"]
    assert np.allclose(full[cols], resumed[cols], rtol=1e-5, atol=1e-6)
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    for k, v in a["model"].items():
        assert torch.allclose(v.float(), b["model"][k].float(), atol=1e-5), k
    assert a["scheduler"]["_last_lr"] == b["scheduler"]["_last_lr"]
    # the val predictions of the resumed run are the uninterrupted run's
    full_val = pd.read_csv(tmp_path / "a" / "val_predictions.csv")
    resumed_val = pd.read_csv(tmp_path / "b" / "val_predictions.csv")
    assert np.allclose(full_val["score"], resumed_val["score"], atol=1e-5)
    # a resume state without them (an older version's) predicts them from
    # best.pt instead, to a path of the caller's choice
    (tmp_path / "rb" / "best_val.csv").unlink()
    run_b(progress=False, val_predictions=tmp_path / "p" / "val.csv")
    legacy = pd.read_csv(tmp_path / "p" / "val.csv")
    assert legacy[["video_id", "frame_index"]].equals(
        full_val[["video_id", "frame_index"]]
    )
    assert np.allclose(legacy["score"], full_val["score"], atol=1e-5)


def test_changed_config_starts_afresh(frames, tmp_path):
    train, val = frames
    cfg = {**CAPSULE_CFG, "epochs": 1}
    train_model(
        "capsule", cfg, train, val, tmp_path / "o", tmp_path / "r", progress=False
    )
    cfg2 = {**cfg, "optimizer": {"name": "adam", "lr": 1e-3}}
    hist = train_model(
        "capsule", cfg2, train, val, tmp_path / "o", tmp_path / "r", progress=False
    )
    ckpt = torch.load(tmp_path / "o" / "last.pt", weights_only=True)
    assert ckpt["config"]["optimizer"]["lr"] == 1e-3 and list(hist["epoch"]) == [1]


def test_finished_files_share_the_resume_files_storage_and_keep_their_bytes(
    frames, tmp_path
):
    """best.pt and last.pt are hard links to the resume files (one copy on
    disk), and a later run that replaces the resume files leaves a finished
    run's files as they were."""
    train, val = frames
    cfg = {**CAPSULE_CFG, "epochs": 1}
    first, resume = tmp_path / "first", tmp_path / "resume"
    train_model("capsule", cfg, train, val, first, resume, progress=False)
    for name in ("best.pt", "last.pt"):
        assert (first / name).samefile(resume / name)
    kept = {n: (first / n).read_bytes() for n in ("best.pt", "last.pt")}

    cfg2 = {**cfg, "optimizer": {"name": "adam", "lr": 1e-3}}
    second = tmp_path / "second"
    train_model("capsule", cfg2, train, val, second, resume, progress=False)
    assert (second / "last.pt").samefile(resume / "last.pt")
    assert (second / "last.pt").read_bytes() != kept["last.pt"]
    for name, data in kept.items():
        assert (first / name).read_bytes() == data


def test_eye_sequence_training_and_window_predictions(tmp_path):
    train, val = TinyEyes(seed=0), TinyEyes(seed=1)
    cfg = {
        "input_size": 32,
        "epochs": 1,
        "batch_size": 2,
        "seq_len": 3,
        "normalisation": "imagenet",
        "optimizer": {"name": "sgd", "lr": 1e-2, "momentum": 0.9},
        "kwargs": {"fc6_dim": 16, "fc6_pool": 1, "batch_norm": True},
    }
    out = tmp_path / "ictu"
    hist = train_model(
        "ictu_oculi", cfg, train, val, out, tmp_path / "r", progress=False
    )
    assert len(hist) == 1 and np.isfinite(hist["val_loss"]).all()
    pred = predict_dataset(out / "best.pt", val, progress=False, batch_size=3)
    assert len(pred) == 4 * 5 and not pred.duplicated(["video_id", "frame_index"]).any()
    # every frame of a window carries the window's probability
    model, spec, ckpt = load_checkpoint(out / "best.pt")
    x, mask, _, _ = val[1]  # video e00, second window: frames 6 and 8
    with torch.no_grad():
        out1 = model(
            spec.prepare(x[None], input_size=32, normalisation="imagenet"), mask[None]
        )
    expected = spec.scores(out1, mask[None]).item()
    got = pred[(pred.video_id == "demo/e00") & pred.frame_index.isin([6, 8])]["score"]
    assert np.allclose(got, expected, atol=1e-5) and len(got) == 2


def test_nan_loss_stops_with_a_clear_message(frames, tmp_path):
    train, val = frames
    cfg = {**CAPSULE_CFG, "optimizer": {"name": "sgd", "lr": float("inf")}}
    with pytest.raises(
        RuntimeError, match=r"capsule: non-finite training loss .* epoch 1, step 2"
    ):
        train_model(
            "capsule", cfg, train, val, tmp_path / "o", tmp_path / "r", progress=False
        )


def test_real_shards(tmp_path):
    """Train one epoch and predict on a shard written by ``ShardWriter``."""
    rng = np.random.default_rng(0)
    path = tmp_path / "shard-00000.h5"
    with shards.ShardWriter(path, encoding="raw", face_size=40, eye_size=32) as w:
        for v in range(4):
            n = 3
            faces = rng.integers(0, 120, (n, 40, 40, 3), dtype=np.uint8)
            if v % 2:
                faces[:, 8:24, 8:24] = 250
            rows = {
                "landmarks": np.zeros((n, 68, 2), np.float32),
                "boxes": np.zeros((n, 4), np.float32),
                "crop_boxes": np.zeros((n, 4), np.float32),
                "frame_index": np.arange(n, dtype=np.int32) * 5,
                "timestamp": np.arange(n, dtype=np.float32) / 2,
                "face_index": np.zeros(n, np.int16),
                "faces": faces,
                "eyes": rng.integers(0, 255, (n, 2, 32, 32, 3), dtype=np.uint8),
            }
            w.add_video(f"demo/s{v}", v % 2, "demo", "train", rows, frames_sampled=n)
    ds = shard_dataset("capsule", [path], {})
    cfg = {**CAPSULE_CFG, "epochs": 1}
    train_model("capsule", cfg, ds, ds, tmp_path / "m", tmp_path / "r", progress=False)
    pred = predict(tmp_path / "m" / "best.pt", [path], progress=False)
    assert len(pred) == 12 and set(pred["label"]) == {0, 1}
    assert pred.equals(predict_dataset(tmp_path / "m" / "best.pt", ds, progress=False))
    ecfg = {
        "input_size": 32,
        "epochs": 1,
        "batch_size": 2,
        "seq_len": 2,
        "kwargs": {"fc6_dim": 8, "fc6_pool": 1, "batch_norm": True},
    }
    eyes = shard_dataset("ictu_oculi", path, ecfg)
    assert eyes.seq_len == 2
    train_model(
        "ictu_oculi", ecfg, eyes, eyes, tmp_path / "e", tmp_path / "re", progress=False
    )
    # predict reads the window length from the checkpoint's config
    epred = predict(tmp_path / "e" / "best.pt", path, progress=False)
    assert len(epred) == 12 and epred["score"].between(0, 1).all()
    assert epred.equals(
        predict_dataset(tmp_path / "e" / "best.pt", eyes, progress=False)
    )


def test_early_stopping_follows_validation_video_auc(frames, tmp_path):
    train, val = frames
    cfg = {**CAPSULE_CFG, "epochs": 5, "early_stopping": 1}
    cfg["optimizer"] = {"name": "adam", "lr": 5e-2}
    args = ("capsule", cfg, train, val, tmp_path / "o", tmp_path / "r")
    hist = train_model(*args, progress=False)
    # replay the rule: stop after the first epoch that does not beat the best
    best, best_epoch, expected = None, None, len(hist)
    for row in hist.itertuples():
        if _better(row.val_video_auc, row.val_loss, best):
            best = {"val_video_auc": row.val_video_auc, "val_loss": row.val_loss}
            best_epoch = row.epoch
        else:
            expected = row.epoch
            break
    assert len(hist) == expected
    ckpt = torch.load(tmp_path / "o" / "best.pt", weights_only=True)
    assert ckpt["epoch"] == best_epoch
    # calling again after a stop trains nothing more
    again = train_model(*args, progress=False)
    assert again.equals(hist)


def test_size_json_describes_best_checkpoint(frames, tmp_path):
    train, val = frames
    out = tmp_path / "o"
    cfg = {**CAPSULE_CFG, "epochs": 1}
    train_model("capsule", cfg, train, val, out, tmp_path / "r", progress=False)
    size = json.loads((out / "size.json").read_text())
    state = torch.load(out / "best.pt", weights_only=True)["model"]
    params = sum(t.numel() for t in state.values() if t.is_floating_point())
    assert size["params"] == params > 0
    assert size["bytes"] == (out / "best.pt").stat().st_size
    assert size["megabytes"] == pytest.approx(size["bytes"] / 2**20)


def test_undefined_validation_auc_is_an_empty_cell(frames, tmp_path):
    """One-class validation: AUCs undefined (None), training still completes."""
    train, _ = frames
    val = TinyFrames(n_videos=4, seed=1, prefix="w")
    keep = val.meta["label"] == 0
    val.images = val.images[torch.from_numpy(np.flatnonzero(keep.to_numpy()))]
    val.meta = val.meta[keep].reset_index(drop=True)
    out = tmp_path / "o"
    cfg = {**CAPSULE_CFG, "epochs": 2}
    hist = train_model("capsule", cfg, train, val, out, tmp_path / "r", progress=False)
    assert hist["val_video_auc"].isna().all() and hist["val_frame_auc"].isna().all()
    lines = (out / "history.csv").read_text().splitlines()
    assert lines[0].split(",") == list(HISTORY_COLUMNS)
    cells = lines[1].split(",")
    assert cells[HISTORY_COLUMNS.index("val_video_auc")] == ""
    assert cells[HISTORY_COLUMNS.index("val_frame_auc")] == ""
    # no AUC to rank by: the lower validation loss keeps best.pt
    ckpt = torch.load(out / "best.pt", weights_only=True)
    assert ckpt["val_video_auc"] is None
    assert ckpt["epoch"] == int(hist["epoch"][hist["val_loss"].idxmin()])
    assert (out / "training_curve.png").stat().st_size > 0
