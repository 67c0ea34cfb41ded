"""Training of the four single detectors, resumable and deterministic.

``train_model(name, model_cfg, train_ds, val_ds, out_dir, resume_dir)`` trains
one detector and writes (atomically) into ``out_dir``:

* ``best.pt`` - weights of the epoch with the best validation video ROC-AUC
  (ties: lower validation loss);
* ``last.pt`` - the state after the last epoch (a copy of the resume state);
* ``history.csv`` - epoch, train_loss, val_loss, val_frame_auc,
  val_video_auc, lr, seconds (an empty cell where a validation AUC is
  undefined, i.e. the validation labels hold one class);
* ``training_curve.png`` - losses and validation AUCs per epoch;
* ``size.json`` - ``{"params", "bytes", "megabytes"}`` of ``best.pt``, so
  evaluation knows the model's size without PyTorch;
* ``val_predictions.csv`` (or the ``val_predictions`` path) - the best
  epoch's fake probability per validation frame, from the validation pass
  that chose it: columns video_id, frame_index, label, score, as
  :func:`deepfake_ensemble.train.predict.predict` writes them;
* ``start.json`` - how the model started: the weights files read (path,
  SHA-256, tensors loaded / missing / unused) and the input normalisation
  that follows from them (:func:`deepfake_ensemble.train.models.weights.start_model`).

After every epoch the full training state (model, optimiser, scheduler, RNG
states, epoch, best metric, early-stopping counter, history) is written to
``resume_dir/last.pt`` (and the best weights to ``resume_dir/best.pt``, their
validation scores to ``resume_dir/best_val.csv``). A
later call with the same model name and config resumes from it; every epoch
reseeds the shuffling, the flips and the global RNGs from ``seed`` and the
epoch number, so a resumed run gives the same weights as an uninterrupted one.

Config keys read from ``model_cfg`` (each falls back to the study's default in
the model's :class:`~deepfake_ensemble.train.models.ModelSpec`): ``input_size``,
``epochs``, ``batch_size``, ``optimizer`` {name adam|adamw|sgd, lr, momentum,
weight_decay, betas}, ``scheduler`` (null or {name plateau|none, factor,
min_lr, patience}; the plateau scheduler steps on validation loss),
``early_stopping`` (null or patience in epochs, on validation video AUC),
``weights`` (path or list of paths, only read: never downloaded),
``pretrained`` (none|optional|required; ``required`` when ``weights`` is set,
else ``none``), ``kwargs`` (model constructor arguments), ``normalisation``
(imagenet|half|raw255|unit; default: what the weights expect, see
:func:`deepfake_ensemble.pretrained.start_normalisation`),
``max_steps_per_epoch`` (null or int, for quick CPU runs),
``seq_len`` (stored only; the eye-sequence dataset uses it, resolved by
:func:`deepfake_ensemble.train.datasets.resolve_seq_len`), ``fakes``
(stored only, and part of the run's identity: the training dataset follows
it, :func:`deepfake_ensemble.train.datasets.training_dataset`).

A training dataset with a ``set_epoch`` method (fakes synthesised on the
fly) is told each epoch's number before the epoch's loader is built.

``train_model`` runs named steps: :func:`prepare_run` (config, device,
directories), :func:`build_state` (seeded model, weights, optimiser,
scheduler), :func:`resume_state`, then per epoch :func:`train_epoch`,
:func:`validate`, :func:`record_epoch` (history row, schedule),
:func:`keep_best` (best checkpoint, early stopping) and
:func:`save_resume_state`, and finally :func:`finish`.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import math
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, RandomSampler, WeightedRandomSampler
from tqdm import tqdm

from .. import numerics
from ..defaults import DEFAULTS
from ..errors import InputError
from ..evaluate.metrics import auc
from ..io import atomic_path, write_csv, write_json
from ..members import identity
from ..predictions import HISTORY_COLUMNS
from ..pretrained import START_NAME, check_model_start, start_normalisation
from . import distributed
from .checkpoint import load_tensors
from .datasets import resolve_fakes, resolve_seq_len
from .models import NORMALISATIONS, create_member, member_spec
from .models.base import Detector, ModelSpec
from .models.weights import start_model
from .predict import (
    forward_batch,
    frame_table,
    infer,
    loader_workers,
    predict_dataset,
    resolve_device,
)

log = logging.getLogger(__name__)

__all__ = [
    "HISTORY_COLUMNS",
    "TrainingRun",
    "build_state",
    "deterministic_mode",
    "finish",
    "history_frame",
    "keep_best",
    "model_size",
    "prepare_run",
    "record_epoch",
    "resolve_config",
    "resume_state",
    "save_resume_state",
    "train_epoch",
    "train_model",
    "validate",
    "validation_metrics",
]

STATE_FORMAT = 1
SIZE_NAME = "size.json"


# -- configuration ---------------------------------------------------------------
def resolve_config(name: str, model_cfg: dict | None) -> dict[str, Any]:
    """The model's config block with the study's defaults filled in."""
    cfg = dict(model_cfg or {})
    spec = member_spec(name, cfg)
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
    # weights -> pretrained (required when weights are set) -> normalisation;
    # a frozen module left random is refused when the model is built
    pretrained = check_model_start(name, cfg, check_frozen=False)
    resolved = {
        # what a declared member is (kind, backbone, class); nothing for the
        # study's detectors, whose resolved config stays as it was
        **identity(name, cfg),
        "input_size": int(cfg.get("input_size") or spec.input_size),
        "epochs": int(cfg.get("epochs") or spec.epochs),
        "batch_size": int(cfg.get("batch_size") or spec.batch_size),
        "optimizer": optimizer,
        "scheduler": sched,
        "early_stopping": cfg.get("early_stopping", spec.early_stopping),
        "weights": cfg.get("weights"),
        "pretrained": pretrained,
        "kwargs": kwargs,
        "normalisation": cfg.get("normalisation")
        or start_normalisation(
            name, cfg.get("weights"), pretrained, spec.normalisation
        )[0],
        "max_steps_per_epoch": cfg.get("max_steps_per_epoch"),
        "seq_len": resolve_seq_len(name, cfg),
        "micro_batch": _micro_batch(name, cfg.get("micro_batch")),
        "fakes": resolve_fakes(name, cfg),
        "gpus": int(cfg.get("gpus") or DEFAULTS["models.<model>.gpus"]),
        "sync_batchnorm": bool(
            cfg.get("sync_batchnorm", DEFAULTS["models.<model>.sync_batchnorm"])
        ),
    }
    if resolved["normalisation"] not in NORMALISATIONS:
        raise InputError(
            f"models.{name}.normalisation must be one of {sorted(NORMALISATIONS)}, "
            f"not {resolved['normalisation']!r}"
        )
    if resolved["early_stopping"] is not None:
        resolved["early_stopping"] = int(resolved["early_stopping"])
    return json.loads(json.dumps(resolved))  # plain types only


def _micro_batch(name: str, value: Any) -> int | str | None:
    """``micro_batch``: None (whole batches), an item count, or ``auto``."""
    if value is None or value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(
            f"models.{name}.micro_batch must be a positive integer, 'auto' or "
            f"null, not {value!r}"
        )
    return int(value)


#: keys of the resolved config added after runs were made, with the value
#: that leaves such a run as it was: at that value they stay out of its
#: identity, so its resume state remains valid
_LATER_KEYS = {
    "fakes": DEFAULTS["models.<model>.fakes"],
    "gpus": DEFAULTS["models.<model>.gpus"],
    "sync_batchnorm": DEFAULTS["models.<model>.sync_batchnorm"],
}


def config_hash(name: str, resolved: dict, seed: int, n_train: int, n_val: int) -> str:
    """Identity of a training run; ``epochs`` is left out so a run can be
    extended, and the keys of ``_LATER_KEYS`` at their old value."""
    ident = {
        k: v
        for k, v in resolved.items()
        if k != "epochs" and not (k in _LATER_KEYS and v == _LATER_KEYS[k])
    }
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
def validation_metrics(frames: pd.DataFrame) -> tuple[float | None, float | None]:
    """Frame AUC and video AUC (video score = mean of its frame scores);
    ``None`` where undefined (one class), as :func:`metrics.auc` gives."""
    videos = frames.groupby("video_id").agg(
        label=("label", "first"), score=("score", "mean")
    )
    return (
        auc(frames["label"].to_numpy(), frames["score"].to_numpy()),
        auc(videos["label"].to_numpy(), videos["score"].to_numpy()),
    )


def _auc_rank(value: float | None) -> float:
    """An AUC as a sort key: undefined (``None``, or NaN as read back from a
    table) ranks below any number."""
    if value is None or math.isnan(value):
        return -math.inf
    return float(value)


def _better(auc_value: float | None, loss: float, best: dict | None) -> bool:
    """Whether an epoch beats ``best``: higher validation video AUC, ties
    broken by lower validation loss."""
    if best is None:
        return True
    a, b = _auc_rank(auc_value), _auc_rank(best["val_video_auc"])
    if a != b:
        return a > b
    return loss < best["val_loss"]


# -- files -----------------------------------------------------------------------
def _save(obj: dict, path: Path) -> None:
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(obj, tmp)


def _copy(src: Path, dst: Path) -> None:
    """Put ``src``'s bytes at ``dst`` atomically: a hard link where the file
    system allows one (the resume files are only ever replaced, never
    written in place, so the link keeps these bytes), else a copy. Linking
    halves the disk a finished training run takes."""
    with atomic_path(dst, suffix=Path(dst).suffix) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
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


def history_frame(history: list[dict]) -> pd.DataFrame:
    """Epoch rows -> the history table (an undefined AUC becomes NaN, an empty
    cell in ``history.csv``)."""
    hist = pd.DataFrame(history, columns=list(HISTORY_COLUMNS))
    return hist.astype({"val_frame_auc": float, "val_video_auc": float})


def model_size(state: dict[str, torch.Tensor], checkpoint: Path) -> dict[str, Any]:
    """Floating-point parameter count of a model state and the size on disk of
    the checkpoint holding it (the content of ``size.json``)."""
    params = sum(int(t.numel()) for t in state.values() if t.is_floating_point())
    n_bytes = Path(checkpoint).stat().st_size
    return {"params": params, "bytes": n_bytes, "megabytes": n_bytes / 2**20}


def _cpu_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


# -- training: the run and its steps ----------------------------------------------
@dataclass
class TrainingRun:
    """What one call of :func:`train_model` works on; the steps update it."""

    name: str
    spec: ModelSpec
    cfg: dict[str, Any]
    config_hash: str
    seed: int
    device: torch.device
    num_workers: int
    progress: bool
    out_dir: Path
    resume_dir: Path
    model: Detector | None = None
    start: dict[str, Any] | None = None  # the start record (start.json)
    optimizer: torch.optim.Optimizer | None = None
    scheduler: Any = None
    history: list[dict] = field(default_factory=list)
    best: dict | None = None
    early_stop_counter: int = 0
    stopped: bool = False
    epoch: int = 0  # the last finished epoch
    balance: bool = DEFAULTS["train.balance"]  # class-balanced sampling (train.balance)
    micro_batch: int | None = None  # items per forward pass; None: whole batch
    val_frames: pd.DataFrame | None = None  # the last validation's frame scores
    #: this process among the job's processes (models.<name>.gpus)
    ranks: distributed.Ranks = field(default_factory=distributed.Ranks)
    #: the model in DistributedDataParallel, in a process group (torchrun's)
    ddp: Any = None

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def state_path(self) -> Path:
        return self.resume_dir / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.resume_dir / "best.pt"

    @property
    def best_val_path(self) -> Path:
        return self.resume_dir / "best_val.csv"

    @property
    def checkpoint_fields(self) -> dict[str, Any]:
        """What every checkpoint of the run records besides its weights."""
        cfg = self.cfg
        return {
            "model_name": self.name,
            "model_kwargs": cfg["kwargs"],
            "input_kind": self.spec.input_kind,
            "input_size": cfg["input_size"],
            "normalisation": cfg["normalisation"],
            "seq_len": cfg["seq_len"],
            "config": cfg,
            "config_hash": self.config_hash,
            "seed": int(self.seed),
            "start": self.start,
            # which of the job's processes wrote it (several processes only)
            **(
                {"rank": self.ranks.rank, "world": self.ranks.world}
                if self.ranks.world > 1
                else {}
            ),
        }


@contextlib.contextmanager
def deterministic_mode(cuda: bool) -> Iterator[None]:
    """Deterministic algorithms on CPU, cuDNN autotuning on CUDA; the previous
    setting is restored on exit."""
    det_prev = torch.are_deterministic_algorithms_enabled()
    warn_prev = torch.is_deterministic_algorithms_warn_only_enabled()
    if cuda:
        torch.backends.cudnn.benchmark = True
    else:
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(det_prev, warn_only=warn_prev)


def prepare_run(
    name: str,
    model_cfg: dict | None,
    train_ds,
    val_ds,
    out_dir: str | os.PathLike,
    resume_dir: str | os.PathLike | None,
    *,
    seed: int,
    device: str,
    num_workers: int | None,
    threads: int | None,
    progress: bool,
    balance: bool = DEFAULTS["train.balance"],
) -> TrainingRun:
    """Resolve the config, the device, the threads and the directories."""
    cfg = resolve_config(name, model_cfg)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if resume_dir is None:
        resume_dir = tempfile.mkdtemp(prefix=f".resume-{name}-", dir=out_dir)
    resume_dir = Path(resume_dir)
    resume_dir.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device)
    if threads:
        torch.set_num_threads(int(threads))
    num_workers = loader_workers(num_workers, threads, dev)
    if len(train_ds) == 0 or len(val_ds) == 0:
        raise InputError(
            f"{name}: empty dataset (train {len(train_ds)} items, val {len(val_ds)})"
        )
    ranks = distributed.ranks()
    if ranks.world > 1:
        distributed.check_split(name, cfg["batch_size"], len(train_ds), ranks.world)
        if cfg["micro_batch"] == "auto":
            raise InputError(
                f"models.{name}.micro_batch: auto needs gpus: 1 (each process "
                f"would halve it on its own); give a number of items"
            )
        if cfg["sync_batchnorm"] and dev.type != "cuda":
            raise InputError(
                f"models.{name}.sync_batchnorm needs CUDA devices (torch's "
                f"SyncBatchNorm has no CPU kernel); set it false on {dev.type}"
            )
    return TrainingRun(
        name=name,
        spec=member_spec(name, cfg),
        cfg=cfg,
        # balanced sampling changes the run: a resume must not mix the two
        config_hash=config_hash(
            name,
            {**cfg, "balance": True} if balance else cfg,
            seed,
            len(train_ds),
            len(val_ds),
        ),
        seed=int(seed),
        device=dev,
        num_workers=int(num_workers),
        progress=progress and ranks.main,
        out_dir=out_dir,
        resume_dir=resume_dir,
        balance=bool(balance),
        # "auto" starts from whole batches and halves on running out of memory
        micro_batch=cfg["micro_batch"] if isinstance(cfg["micro_batch"], int) else None,
        ranks=ranks,
    )


def epoch_sampler(train_ds, seed: int, balance: bool = DEFAULTS["train.balance"]):
    """The order of one epoch's training items, seeded.

    Default (the study): a random permutation of all items. ``balance``: as
    many draws, with replacement, each class drawing half of them in
    expectation (item weight 1 / (classes x items of its class)); for
    datasets far from 50:50 (real ones are 81-89% fake).
    """
    generator = torch.Generator().manual_seed(int(seed))
    if not balance:
        return RandomSampler(train_ds, generator=generator)
    meta = getattr(train_ds, "meta", None)
    if meta is None or "label" not in meta:
        raise InputError("class-balanced sampling needs a dataset with labels (.meta)")
    labels = meta["label"].to_numpy().astype(int)
    classes, counts = np.unique(labels, return_counts=True)
    per_item = 1.0 / (len(classes) * counts[np.searchsorted(classes, labels)])
    return WeightedRandomSampler(
        torch.as_tensor(per_item, dtype=torch.double),
        num_samples=len(labels),
        replacement=True,
        generator=generator,
    )


def build_state(run: TrainingRun) -> None:
    """Seeded model with its initial weights, optimiser and scheduler."""
    seed_everything(run.seed)
    model = create_member(run.spec, run.cfg["kwargs"])
    run.start = start_model(
        model,
        run.name,
        run.cfg["weights"],
        run.cfg["pretrained"],
        run.cfg["normalisation"],
        run.spec.normalisation,
    )
    # and the numerics this process computes with (numerics.py)
    run.start["numerics"] = numerics.record()
    model.to(run.device)
    if run.cuda:
        model.to(memory_format=torch.channels_last)
    if run.ranks.grouped:
        if run.cfg["sync_batchnorm"]:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        # rank 0's buffers (BatchNorm's running statistics) go to every rank
        # before each forward pass; the checkpoints hold rank 0's
        run.ddp = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[run.device] if run.cuda else None
        )
    params = [p for p in model.parameters() if p.requires_grad]
    run.model = model
    run.optimizer = build_optimizer(params, run.cfg["optimizer"])
    run.scheduler = build_scheduler(run.optimizer, run.cfg["scheduler"])


def resume_state(run: TrainingRun) -> bool:
    """Load ``resume_dir/last.pt`` when it belongs to this model and config
    (and its best checkpoint exists); whether the run resumed."""
    if not run.state_path.is_file():
        return False
    state = load_tensors(run.state_path)
    if not (
        state.get("format") == STATE_FORMAT
        and state.get("model_name") == run.name
        and state.get("config_hash") == run.config_hash
        and run.best_path.is_file()
    ):
        log.warning(
            "%s: %s belongs to another model or config; starting afresh",
            run.name,
            run.state_path,
        )
        return False
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    if run.scheduler is not None and state.get("scheduler"):
        run.scheduler.load_state_dict(state["scheduler"])
    _set_rng_state(state["rng"])
    run.history = list(state["history"])
    run.best = state["best"]
    run.early_stop_counter = int(state["early_stop_counter"])
    run.stopped = bool(state["stopped"])
    run.epoch = int(state["epoch"])
    log.info("%s: resuming after epoch %d from %s", run.name, run.epoch, run.state_path)
    return True


def split_batch(batch, size: int) -> list:
    """A collated batch (tensors, or tuples/lists of them) in chunks of
    ``size`` items along the first dimension."""
    if isinstance(batch, torch.Tensor):
        return list(torch.split(batch, size))
    if isinstance(batch, tuple | list):
        columns = [split_batch(part, size) for part in batch]
        return [type(batch)(chunk) for chunk in zip(*columns, strict=True)]
    raise TypeError(f"cannot split a batch part of type {type(batch).__name__}")


def _items(batch) -> int:
    return len(batch) if isinstance(batch, torch.Tensor) else _items(batch[0])


def accumulate_step(
    run: TrainingRun,
    batch,
    generator,
    epoch: int,
    step: int,
    per_rank: float | None = None,
):
    """Gradients of one batch's mean loss, summed over micro-batches of
    ``run.micro_batch`` items (each chunk's mean loss weighted by its share
    of the batch), so that one optimiser step sees the whole batch.

    Equal to the whole-batch gradients up to floating point, except where a
    layer couples the items of a batch: BatchNorm in training mode normalises
    each micro-batch by its own statistics. Returns ``(loss, items)``.

    With several processes ``batch`` is this rank's share and ``per_rank``
    the global batch's items divided by the ranks: DistributedDataParallel
    averages the ranks' gradients, so each item weighs ``1 / per_rank`` here
    and ``1 / global items`` after the average; the ranks exchange gradients
    once, after the last micro-batch.
    """
    items = _items(batch)
    total = per_rank or items
    chunks = split_batch(batch, run.micro_batch) if run.micro_batch else [batch]
    loss_sum = 0.0
    for i, chunk in enumerate(chunks):
        sync = run.ddp is None or i == len(chunks) - 1
        with contextlib.nullcontext() if sync else run.ddp.no_sync():
            loss, y = _chunk_backward(run, chunk, generator, epoch, step, total)
        loss_sum += float(loss.detach()) * len(y)
    return loss_sum / items, items


def _chunk_backward(run: TrainingRun, chunk, generator, epoch, step, total):
    """Forward and backward of one micro-batch, its mean loss weighted by
    ``len(chunk) / total``."""
    _, loss, y, _, _ = forward_batch(
        run.model,
        run.spec,
        chunk,
        run.device,
        run.cfg["input_size"],
        run.cfg["normalisation"],
        amp=run.cuda,
        train=True,
        generator=generator,
        forward=run.ddp,
    )
    if not torch.isfinite(loss):
        raise RuntimeError(
            f"{run.name}: non-finite training loss ({loss.item()}) at epoch "
            f"{epoch}, step {step}; lower models.{run.name}.optimizer.lr or "
            f"check the input data"
        )
    (loss * (len(y) / total)).backward()
    return loss, y


def fitted_step(
    run: TrainingRun,
    batch,
    generator,
    epoch: int,
    step: int,
    per_rank: float | None = None,
):
    """:func:`accumulate_step`; with ``micro_batch: auto`` on CUDA, a step
    that runs out of GPU memory is retried with half the micro-batch until it
    fits (the size found is kept for the rest of the run and logged)."""
    while True:
        try:
            return accumulate_step(run, batch, generator, epoch, step, per_rank)
        except torch.cuda.OutOfMemoryError:
            if run.cfg.get("micro_batch") != "auto" or (run.micro_batch or 2) < 2:
                raise
            run.model.zero_grad(set_to_none=True)
            if run.cuda:
                torch.cuda.empty_cache()
            run.micro_batch = max(1, (run.micro_batch or _items(batch)) // 2)
            log.warning(
                "%s: out of GPU memory; micro_batch now %d (batch %d)",
                run.name,
                run.micro_batch,
                run.cfg["batch_size"],
            )


def train_epoch(run: TrainingRun, train_ds, epoch: int) -> float:
    """One pass over the training set (reseeded from ``seed`` and ``epoch``);
    the mean training loss per item."""
    cfg, model, optimizer = run.cfg, run.model, run.optimizer
    bs, max_steps = cfg["batch_size"], cfg["max_steps_per_epoch"]
    eseed = _epoch_seed(run.seed, epoch)
    seed_everything(eseed)
    # fakes synthesised on the fly: this epoch's (workers copy the dataset
    # when the loader below starts them)
    set_epoch = getattr(train_ds, "set_epoch", None)
    if callable(set_epoch):
        set_epoch(epoch)
    sampler = epoch_sampler(train_ds, eseed, run.balance)
    flips = torch.Generator().manual_seed(eseed + 1)
    ranks = run.ranks
    if not ranks.grouped:
        loader = DataLoader(
            train_ds,
            batch_size=bs,
            sampler=sampler,
            num_workers=run.num_workers,
            pin_memory=run.cuda,
            drop_last=len(train_ds) > bs,
            persistent_workers=False,
        )
    else:
        # this rank's share of each of the single process's batches
        loader = DataLoader(
            train_ds,
            batch_sampler=distributed.RankBatches(
                sampler, bs, len(train_ds) > bs, ranks.rank, ranks.world
            ),
            num_workers=run.num_workers,
            pin_memory=run.cuda,
            persistent_workers=False,
        )
    # every batch holds min(bs, items): the last one is dropped when smaller
    global_items = min(bs, len(train_ds))
    before, after = distributed.share_bounds(global_items, ranks.rank, ranks.world)
    after = global_items - after
    (run.ddp or model).train()
    loss_sum, n_seen = 0.0, 0
    n_steps = len(loader) if not max_steps else min(len(loader), int(max_steps))
    bar = tqdm(
        total=n_steps,
        desc=f"{run.name} epoch {epoch}/{cfg['epochs']}",
        disable=None if run.progress else True,
        file=sys.stderr,
        leave=False,
    )
    for step, batch in enumerate(loader, start=1):
        if step > n_steps:
            break
        optimizer.zero_grad(set_to_none=True)
        if not ranks.grouped:
            loss, n = fitted_step(run, batch, flips, epoch, step)
        else:
            # the flips the single process draws for the other ranks' items
            distributed.skip_draws(flips, before)
            loss, n = fitted_step(
                run, batch, flips, epoch, step, global_items / ranks.world
            )
            distributed.skip_draws(flips, after)
        optimizer.step()
        loss_sum += loss * n
        n_seen += n
        bar.update(1)
        bar.set_postfix(loss=f"{loss_sum / n_seen:.4f}")
    bar.close()
    loss_sum, n_seen = distributed.total([loss_sum, n_seen], ranks)
    return loss_sum / max(n_seen, 1)


def validate(
    run: TrainingRun, val_ds, epoch: int
) -> tuple[float, float | None, float | None]:
    """Validation loss, frame AUC and video AUC (``None`` where undefined);
    the frame scores are kept in ``run.val_frames`` for :func:`keep_best`.
    With several processes rank 0 validates alone and sends the three
    figures to the others."""
    if not run.ranks.main:
        return distributed.share(None, run.ranks)
    idx, scores, val_loss = infer(
        run.model,
        run.spec,
        val_ds,
        input_size=run.cfg["input_size"],
        normalisation=run.cfg["normalisation"],
        device=run.device,
        batch_size=run.cfg["batch_size"],
        num_workers=run.num_workers,
        progress=run.progress,
        amp=run.cuda,
        desc=f"{run.name} validation {epoch}",
    )
    frames = frame_table(val_ds, run.spec.input_kind, idx, scores)
    run.val_frames = frames
    frame_auc, video_auc = validation_metrics(frames)
    return distributed.share((float(val_loss), frame_auc, video_auc), run.ranks)


def record_epoch(
    run: TrainingRun,
    epoch: int,
    train_loss: float,
    validation: tuple[float, float | None, float | None],
    started: float,
) -> dict:
    """Step the scheduler on the validation loss and append the epoch's
    history row (``lr`` is the rate the epoch trained with)."""
    val_loss, frame_auc, video_auc = validation
    lr = float(run.optimizer.param_groups[0]["lr"])
    if run.scheduler is not None:
        run.scheduler.step(val_loss)
    row = {
        "epoch": epoch,
        "train_loss": train_loss,
        "val_loss": val_loss,
        "val_frame_auc": frame_auc,
        "val_video_auc": video_auc,
        "lr": lr,
        "seconds": time.perf_counter() - started,
        "peak_gpu_mb": (
            torch.cuda.max_memory_allocated(run.device) / 2**20 if run.cuda else None
        ),
        "micro_batch": run.micro_batch or run.cfg["batch_size"],
    }
    run.history.append(row)
    run.epoch = epoch
    log.info("%s epoch %d: %s", run.name, epoch, row)
    return row


def keep_best(run: TrainingRun, weights: dict[str, torch.Tensor] | None) -> bool:
    """Write ``best.pt`` (and its validation scores, ``best_val.csv``) when
    the last recorded epoch beats the best one, and update early stopping;
    whether it was the best. Only rank 0 writes (the others pass no
    ``weights``)."""
    row = run.history[-1]
    improved = _better(row["val_video_auc"], row["val_loss"], run.best)
    if improved:
        run.best = {
            "epoch": row["epoch"],
            "val_video_auc": row["val_video_auc"],
            "val_loss": row["val_loss"],
        }
        run.early_stop_counter = 0
    if improved and run.ranks.main:
        _save(
            {
                **run.checkpoint_fields,
                "model": weights,
                "epoch": row["epoch"],
                **_best_fields(run.best),
            },
            run.best_path,
        )
        if run.val_frames is not None:
            write_csv(run.val_frames, run.best_val_path)
    if not improved:
        run.early_stop_counter += 1
    patience = run.cfg["early_stopping"]
    run.stopped = bool(patience) and run.early_stop_counter >= patience
    if run.stopped:
        log.info("%s: early stopping after epoch %d", run.name, row["epoch"])
    return improved


def save_resume_state(run: TrainingRun, weights: dict[str, torch.Tensor]) -> None:
    """Write the full training state to ``resume_dir/last.pt``."""
    _save(
        {
            **run.checkpoint_fields,
            "format": STATE_FORMAT,
            "model": weights,
            "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict() if run.scheduler else {},
            "rng": _rng_state(),
            "epoch": run.epoch,
            "best": run.best,
            "early_stop_counter": run.early_stop_counter,
            "stopped": run.stopped,
            "history": run.history,
            **_best_fields(run.best),
        },
        run.state_path,
    )


def finish(
    run: TrainingRun, val_ds, val_predictions: str | os.PathLike | None = None
) -> pd.DataFrame:
    """Copy ``best.pt`` and ``last.pt`` into ``out_dir``; write
    ``history.csv``, ``training_curve.png``, ``size.json`` and the best
    epoch's validation scores (``val_predictions``, default
    ``out_dir/val_predictions.csv``). A resume state without those scores
    (written by a version that did not keep them) gets them by predicting
    ``val_ds`` with ``best.pt``."""
    if not run.history:
        raise RuntimeError(
            f"{run.name}: no epoch was trained (epochs={run.cfg['epochs']})"
        )
    hist = history_frame(run.history)
    best = run.out_dir / "best.pt"
    _copy(run.best_path, best)
    _copy(run.state_path, run.out_dir / "last.pt")
    write_csv(hist, run.out_dir / "history.csv")
    plot_history(hist, run.out_dir / "training_curve.png", run.name)
    write_json(model_size(run.model.state_dict(), best), run.out_dir / SIZE_NAME)
    write_json(run.start, run.out_dir / START_NAME)
    val_out = Path(val_predictions or run.out_dir / "val_predictions.csv")
    if run.best_val_path.exists():
        _copy(run.best_val_path, val_out)
    else:
        scores = predict_dataset(
            best, val_ds, device=run.device, num_workers=run.num_workers
        )
        write_csv(scores, val_out)
    return hist


def train_model(
    name: str,
    model_cfg: dict | None,
    train_ds,
    val_ds,
    out_dir: str | os.PathLike,
    resume_dir: str | os.PathLike | None,
    seed: int = DEFAULTS["seed"],
    device: str = DEFAULTS["train.device"],
    num_workers: int | None = 0,
    threads: int | None = None,
    max_epochs: int | None = None,
    progress: bool = True,
    balance: bool = DEFAULTS["train.balance"],
    val_predictions: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Train detector ``name``; returns the per-epoch history.

    ``val_predictions``: where the best epoch's validation frame scores go
    (default ``out_dir/val_predictions.csv``); the workflow uses them as the
    model's val predictions, so no separate prediction pass reads val.

    ``balance`` draws the training items class-balanced (:func:`epoch_sampler`);
    off by default, as in the study.

    ``device``: auto|cpu|cuda[:n]. On CPU the run is deterministic; on CUDA
    it uses bf16 autocast, channels_last and pinned memory. ``threads`` sets
    torch's CPU threads; ``num_workers=None`` picks DataLoader workers from
    ``threads`` on CUDA (0 on CPU, where workers would compete with compute).

    ``max_epochs`` stops after that epoch number (the schedule still follows
    ``epochs``), e.g. to split a run over several calls.
    """
    run = prepare_run(
        name,
        model_cfg,
        train_ds,
        val_ds,
        out_dir,
        resume_dir,
        seed=seed,
        device=device,
        num_workers=num_workers,
        threads=threads,
        progress=progress,
        balance=balance,
    )
    epochs = run.cfg["epochs"]
    last_epoch = min(epochs, max_epochs) if max_epochs else epochs
    with deterministic_mode(run.cuda):
        build_state(run)
        resume_state(run)
        while not run.stopped and run.epoch < last_epoch:
            started = time.perf_counter()
            epoch = run.epoch + 1
            train_loss = train_epoch(run, train_ds, epoch)
            validation = validate(run, val_ds, epoch)
            record_epoch(run, epoch, train_loss, validation, started)
            # rank 0 alone writes (the ranks' weights are the same)
            weights = _cpu_weights(run.model) if run.ranks.main else None
            keep_best(run, weights)
            if run.ranks.main:
                save_resume_state(run, weights)
        if not run.ranks.main:
            return history_frame(run.history)
        return finish(run, val_ds, val_predictions)


def _best_fields(best: dict | None) -> dict:
    if best is None:
        return {}
    auc_value = best["val_video_auc"]
    return {
        "best_epoch": int(best["epoch"]),
        "val_video_auc": None if auc_value is None else float(auc_value),
        "val_loss": float(best["val_loss"]),
    }
