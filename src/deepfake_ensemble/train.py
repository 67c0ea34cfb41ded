"""Training of the four single detectors, resumable and deterministic.

``train_model(name, model_cfg, train_ds, val_ds, out_dir, resume_dir)`` trains
one detector and writes (atomically) into ``out_dir``:

* ``best.pt`` - weights of the epoch with the best validation video ROC-AUC
  (ties: lower validation loss);
* ``last.pt`` - the state after the last epoch (a copy of the resume state);
* ``history.csv`` - epoch, train_loss, val_loss, val_frame_auc,
  val_video_auc, lr, seconds;
* ``training_curve.png`` - losses and validation AUCs per epoch.

After every epoch the full training state (model, optimiser, scheduler, RNG
states, epoch, best metric, early-stopping counter, history) is written to
``resume_dir/last.pt`` (and the best weights to ``resume_dir/best.pt``). A
later call with the same model name and config resumes from it; every epoch
reseeds the shuffling, the flips and the global RNGs from ``seed`` and the
epoch number, so a resumed run gives the same weights as an uninterrupted one.

Config keys read from ``model_cfg`` (each falls back to the study's default in
the model's :class:`~deepfake_ensemble.models.ModelSpec`): ``input_size``,
``epochs``, ``batch_size``, ``optimizer`` {name adam|adamw|sgd, lr, momentum,
weight_decay, betas}, ``scheduler`` (null or {name plateau|none, factor,
min_lr, patience}; the plateau scheduler steps on validation loss),
``early_stopping`` (null or patience in epochs, on validation video AUC),
``weights`` (path or list of paths), ``pretrained`` (none|optional|required),
``kwargs`` (model constructor arguments), ``normalisation`` (imagenet|half|
raw255|unit), ``max_steps_per_epoch`` (null or int, for quick CPU runs),
``seq_len`` (stored only; the eye-sequence dataset uses it).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from torch.utils.data import DataLoader, RandomSampler
from tqdm import tqdm

from .errors import InputError
from .io import atomic_path, write_csv
from .models import NORMALISATIONS, create_model, get_spec
from .models.weights import load_weights
from .predict import forward_batch, frame_table, infer, resolve_device

log = logging.getLogger(__name__)

HISTORY_COLUMNS = [
    "epoch",
    "train_loss",
    "val_loss",
    "val_frame_auc",
    "val_video_auc",
    "lr",
    "seconds",
]
STATE_FORMAT = 1


# -- configuration ---------------------------------------------------------------
def resolve_config(name: str, model_cfg: dict | None) -> dict[str, Any]:
    """The model's config block with the study's defaults filled in."""
    spec = get_spec(name)
    cfg = dict(model_cfg or {})
    opt_cfg = cfg.get("optimizer") or {}
    opt_name = str(opt_cfg.get("name", spec.optimizer["name"])).lower()
    optimizer = dict(spec.optimizer) if opt_name == spec.optimizer["name"] else {}
    optimizer.update(opt_cfg)
    optimizer["name"] = opt_name
    if "scheduler" in cfg:
        sched = cfg["scheduler"]
        if sched and str(sched.get("name", "plateau")).lower() in ("plateau",):
            base = dict(
                spec.scheduler or {"factor": 0.1, "min_lr": 0.0, "patience": 10}
            )
            base.update(sched)
            base["name"] = "plateau"
            sched = base
        elif sched and str(sched.get("name")).lower() not in ("none", "null"):
            raise InputError(
                f"models.{name}.scheduler.name must be 'plateau' or 'none', "
                f"not {sched.get('name')!r}"
            )
        else:
            sched = None
    else:
        sched = copy.deepcopy(spec.scheduler)
    kwargs = {**spec.default_kwargs, **(cfg.get("kwargs") or {})}
    resolved = {
        "input_size": int(cfg.get("input_size") or spec.input_size),
        "epochs": int(cfg.get("epochs") or spec.epochs),
        "batch_size": int(cfg.get("batch_size") or spec.batch_size),
        "optimizer": optimizer,
        "scheduler": sched,
        "early_stopping": cfg.get("early_stopping", spec.early_stopping),
        "weights": cfg.get("weights"),
        "pretrained": cfg.get("pretrained") or "optional",
        "kwargs": kwargs,
        "normalisation": cfg.get("normalisation") or spec.normalisation,
        "max_steps_per_epoch": cfg.get("max_steps_per_epoch"),
        "seq_len": cfg.get("seq_len", spec.seq_len),
    }
    if resolved["normalisation"] not in NORMALISATIONS:
        raise InputError(
            f"models.{name}.normalisation must be one of {sorted(NORMALISATIONS)}, "
            f"not {resolved['normalisation']!r}"
        )
    if resolved["early_stopping"] is not None:
        resolved["early_stopping"] = int(resolved["early_stopping"])
    return json.loads(json.dumps(resolved))  # plain types only


def config_hash(name: str, resolved: dict, seed: int, n_train: int, n_val: int) -> str:
    """Identity of a training run; ``epochs`` is left out so a run can be
    extended."""
    ident = {k: v for k, v in resolved.items() if k != "epochs"}
    blob = json.dumps(
        {"model": name, "cfg": ident, "seed": seed, "n": [n_train, n_val]},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def build_optimizer(params, opt: dict) -> torch.optim.Optimizer:
    name = opt["name"]
    lr = float(opt.get("lr", 1e-3))
    wd = float(opt.get("weight_decay") or 0.0)
    if name in ("adam", "adamw"):
        betas = tuple(float(b) for b in (opt.get("betas") or (0.9, 0.999)))
        cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        return cls(params, lr=lr, betas=betas, weight_decay=wd)
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=float(opt.get("momentum") or 0.0), weight_decay=wd
        )
    raise InputError(f"optimizer.name must be adam, adamw or sgd, not {name!r}")


def build_scheduler(optimizer, sched: dict | None):
    if not sched:
        return None
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer,
        mode="min",
        factor=float(sched.get("factor", 0.1)),
        patience=int(sched.get("patience", 10)),
        min_lr=float(sched.get("min_lr") or 0.0),
    )


# -- RNG -------------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state() -> dict:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
        "numpy_has_gauss": int(np_state[3]),
        "numpy_gauss": float(np_state[4]),
        "python": list(random.getstate()[1]),
        "python_version": int(random.getstate()[0]),
    }


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(
        (
            "MT19937",
            state["numpy_keys"].numpy().astype(np.uint32),
            state["numpy_pos"],
            state["numpy_has_gauss"],
            state["numpy_gauss"],
        )
    )
    random.setstate((state["python_version"], tuple(state["python"]), None))


def _epoch_seed(seed: int, epoch: int) -> int:
    return (int(seed) * 1_000_003 + int(epoch) * 7_919) % (2**63 - 1)


# -- metrics ---------------------------------------------------------------------
def _auc(y: np.ndarray, s: np.ndarray) -> float:
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, s))


def validation_metrics(frames: pd.DataFrame) -> tuple[float, float]:
    """Frame AUC and video AUC (video score = mean of its frame scores)."""
    videos = frames.groupby("video_id").agg(
        label=("label", "first"), score=("score", "mean")
    )
    return (
        _auc(frames["label"].to_numpy(), frames["score"].to_numpy()),
        _auc(videos["label"].to_numpy(), videos["score"].to_numpy()),
    )


def _better(auc: float, loss: float, best: dict | None) -> bool:
    if best is None:
        return True
    a = -math.inf if math.isnan(auc) else auc
    b = -math.inf if math.isnan(best["val_video_auc"]) else best["val_video_auc"]
    if a != b:
        return a > b
    return loss < best["val_loss"]


# -- files -----------------------------------------------------------------------
def _save(obj: dict, path: Path) -> None:
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(obj, tmp)


def _copy(src: Path, dst: Path) -> None:
    with atomic_path(dst, suffix=".pt") as tmp:
        shutil.copyfile(src, tmp)


def plot_history(history: pd.DataFrame, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax1.plot(history["epoch"], history["train_loss"], "o-", label="train")
    ax1.plot(history["epoch"], history["val_loss"], "o-", label="validation")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss")
    ax1.legend()
    ax2.plot(history["epoch"], history["val_frame_auc"], "o-", label="frame")
    ax2.plot(history["epoch"], history["val_video_auc"], "o-", label="video")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("validation ROC-AUC")
    ax2.set_ylim(0, 1.02)
    ax2.legend()
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


# -- training --------------------------------------------------------------------
def train_model(
    name: str,
    model_cfg: dict | None,
    train_ds,
    val_ds,
    out_dir: str | os.PathLike,
    resume_dir: str | os.PathLike | None,
    seed: int = 1,
    device: str = "auto",
    num_workers: int | None = 0,
    threads: int | None = None,
    max_epochs: int | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Train detector ``name``; returns the per-epoch history.

    ``device``: auto|cpu|cuda[:n]. On CPU the run is deterministic; on CUDA
    it uses bf16 autocast, channels_last and pinned memory. ``threads`` sets
    torch's CPU threads; ``num_workers=None`` picks DataLoader workers from
    ``threads`` on CUDA (0 on CPU, where workers would compete with compute).

    ``max_epochs`` stops after that epoch number (the schedule still follows
    ``epochs``), e.g. to split a run over several calls.
    """
    spec = get_spec(name)
    cfg = resolve_config(name, model_cfg)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if resume_dir is None:
        import tempfile

        resume_dir = Path(tempfile.mkdtemp(prefix=f".resume-{name}-", dir=out_dir))
    resume_dir = Path(resume_dir)
    resume_dir.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device)
    cuda = dev.type == "cuda"
    if threads:
        torch.set_num_threads(int(threads))
    if num_workers is None:  # automatic: loader workers only beside a GPU
        num_workers = max(min(int(threads or 4) - 1, 8), 0) if cuda else 0
    if len(train_ds) == 0 or len(val_ds) == 0:
        raise InputError(
            f"{name}: empty dataset (train {len(train_ds)} items, val {len(val_ds)})"
        )
    chash = config_hash(name, cfg, seed, len(train_ds), len(val_ds))
    total_epochs = cfg["epochs"]
    last_epoch = min(total_epochs, max_epochs) if max_epochs else total_epochs

    det_prev = torch.are_deterministic_algorithms_enabled()
    warn_prev = torch.is_deterministic_algorithms_warn_only_enabled()
    if cuda:
        torch.backends.cudnn.benchmark = True
    else:
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        seed_everything(seed)
        model = create_model(name, **cfg["kwargs"])
        load_weights(model, name, cfg["weights"], cfg["pretrained"])
        model.to(dev)
        if cuda:
            model.to(memory_format=torch.channels_last)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = build_optimizer(params, cfg["optimizer"])
        scheduler = build_scheduler(optimizer, cfg["scheduler"])

        state_path = resume_dir / "last.pt"
        best_path = resume_dir / "best.pt"
        history: list[dict] = []
        best: dict | None = None
        counter, stopped, start_epoch = 0, False, 0
        if state_path.is_file():
            state = torch.load(state_path, map_location="cpu", weights_only=True)
            if (
                state.get("format") == STATE_FORMAT
                and state.get("model_name") == name
                and state.get("config_hash") == chash
                and best_path.is_file()
            ):
                model.load_state_dict(state["model"])
                optimizer.load_state_dict(state["optimizer"])
                if scheduler is not None and state.get("scheduler"):
                    scheduler.load_state_dict(state["scheduler"])
                _set_rng_state(state["rng"])
                history = list(state["history"])
                best = state["best"]
                counter = int(state["early_stop_counter"])
                stopped = bool(state["stopped"])
                start_epoch = int(state["epoch"])
                log.info(
                    "%s: resuming after epoch %d from %s", name, start_epoch, state_path
                )
            else:
                log.warning(
                    "%s: %s belongs to another model or config; starting afresh",
                    name,
                    state_path,
                )

        base = {
            "model_name": name,
            "model_kwargs": cfg["kwargs"],
            "input_kind": spec.input_kind,
            "input_size": cfg["input_size"],
            "normalisation": cfg["normalisation"],
            "seq_len": cfg["seq_len"],
            "config": cfg,
            "config_hash": chash,
            "seed": int(seed),
        }
        bs = cfg["batch_size"]
        max_steps = cfg["max_steps_per_epoch"]
        for epoch in range(start_epoch + 1, last_epoch + 1):
            if stopped:
                break
            t0 = time.perf_counter()
            eseed = _epoch_seed(seed, epoch)
            seed_everything(eseed)
            sampler = RandomSampler(
                train_ds, generator=torch.Generator().manual_seed(eseed)
            )
            flips = torch.Generator().manual_seed(eseed + 1)
            loader = DataLoader(
                train_ds,
                batch_size=bs,
                sampler=sampler,
                num_workers=num_workers,
                pin_memory=cuda,
                drop_last=len(train_ds) > bs,
                persistent_workers=False,
            )
            model.train()
            loss_sum, n_seen = 0.0, 0
            n_steps = len(loader) if not max_steps else min(len(loader), int(max_steps))
            bar = tqdm(
                total=n_steps,
                desc=f"{name} epoch {epoch}/{total_epochs}",
                disable=None if progress else True,
                file=sys.stderr,
                leave=False,
            )
            for step, batch in enumerate(loader, start=1):
                if step > n_steps:
                    break
                _, loss, y, _, _ = forward_batch(
                    model,
                    spec,
                    batch,
                    dev,
                    cfg["input_size"],
                    cfg["normalisation"],
                    amp=cuda,
                    train=True,
                    generator=flips,
                )
                if not torch.isfinite(loss):
                    raise RuntimeError(
                        f"{name}: non-finite training loss ({loss.item()}) at epoch "
                        f"{epoch}, step {step}; lower models.{name}.optimizer.lr or "
                        f"check the input data"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += float(loss.detach()) * len(y)
                n_seen += len(y)
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / n_seen:.4f}")
            bar.close()
            lr = float(optimizer.param_groups[0]["lr"])

            idx, scores, val_loss = infer(
                model,
                spec,
                val_ds,
                input_size=cfg["input_size"],
                normalisation=cfg["normalisation"],
                device=dev,
                batch_size=bs,
                num_workers=num_workers,
                progress=progress,
                amp=cuda,
                desc=f"{name} validation {epoch}",
            )
            frames = frame_table(val_ds, spec.input_kind, idx, scores)
            frame_auc, video_auc = validation_metrics(frames)
            if scheduler is not None:
                scheduler.step(val_loss)
            row = {
                "epoch": epoch,
                "train_loss": loss_sum / max(n_seen, 1),
                "val_loss": float(val_loss),
                "val_frame_auc": frame_auc,
                "val_video_auc": video_auc,
                "lr": lr,
                "seconds": time.perf_counter() - t0,
            }
            history.append(row)
            log.info("%s epoch %d: %s", name, epoch, row)
            model_sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
            if _better(video_auc, val_loss, best):
                best = {
                    "epoch": epoch,
                    "val_video_auc": video_auc,
                    "val_loss": val_loss,
                }
                counter = 0
                _save(
                    {**base, "model": model_sd, "epoch": epoch, **_best_fields(best)},
                    best_path,
                )
            else:
                counter += 1
            es = cfg["early_stopping"]
            stopped = bool(es) and counter >= es
            _save(
                {
                    **base,
                    "format": STATE_FORMAT,
                    "model": model_sd,
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler else {},
                    "rng": _rng_state(),
                    "epoch": epoch,
                    "best": best,
                    "early_stop_counter": counter,
                    "stopped": stopped,
                    "history": history,
                    **_best_fields(best),
                },
                state_path,
            )
            if stopped:
                log.info("%s: early stopping after epoch %d", name, epoch)

        if not history:
            raise RuntimeError(f"{name}: no epoch was trained (epochs={total_epochs})")
        hist = pd.DataFrame(history, columns=HISTORY_COLUMNS)
        _copy(best_path, out_dir / "best.pt")
        _copy(state_path, out_dir / "last.pt")
        write_csv(hist, out_dir / "history.csv")
        plot_history(hist, out_dir / "training_curve.png", f"{name}")
        return hist
    finally:
        torch.use_deterministic_algorithms(det_prev, warn_only=warn_prev)


def _best_fields(best: dict | None) -> dict:
    if best is None:
        return {}
    return {
        "best_epoch": int(best["epoch"]),
        "val_video_auc": float(best["val_video_auc"]),
        "val_loss": float(best["val_loss"]),
    }
