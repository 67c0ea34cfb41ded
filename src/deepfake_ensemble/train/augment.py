"""Degradation augmentation of training items (``train.augment``).

The DFDC winners trained with compression, blur and noise augmentation so
that their detectors hold up on re-encoded videos. :class:`AugmentedItems`
wraps a training dataset: each item's image(s) are degraded, with its own
probability per kind, by the frame-level perturbations of the robustness
stage (:mod:`deepfake_ensemble.preprocess.perturb`: JPEG compression,
Gaussian blur, Gaussian noise, downscale-then-upscale) at a parameter drawn
uniformly from the configured range. The draws are seeded by the run's seed,
the epoch (the training loop's ``set_epoch``) and the item: the same run
sees the same augmented items. Every image of an item (the eye crops of a
sequence) gets the same draw. Off by default (the study trained without
it); ``benchmarks/augment.py`` measures its cost in images per second.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ..defaults import default
from ..preprocess import perturb

#: augmentation kind -> the perturbation it applies (its parameter: the
#: range ``train.augment.<kind>.range``)
KINDS = {
    "compression": "jpeg",
    "blur": "blur",
    "noise": "noise",
    "resize": "resize",
}


def default_config() -> dict[str, Any]:
    """``train.augment`` at the schema's defaults (``enabled`` false)."""
    cfg: dict[str, Any] = {"enabled": default("train.augment.enabled")}
    for kind in KINDS:
        cfg[kind] = {
            "p": default(f"train.augment.{kind}.p"),
            "range": default(f"train.augment.{kind}.range"),
        }
    return cfg


def draw(cfg: Mapping[str, Any], rng: np.random.Generator) -> list[tuple[str, float]]:
    """The perturbations of one item: ``(perturbation, parameter)`` for each
    kind whose probability came up, in :data:`KINDS` order."""
    out = []
    for kind, pert in KINDS.items():
        block = cfg[kind]
        if rng.random() < float(block["p"]):
            lo, hi = (float(v) for v in block["range"])
            out.append((pert, float(rng.uniform(lo, hi))))
    return out


def degrade_images(
    x: torch.Tensor, steps: list[tuple[str, float]], rng: np.random.Generator
) -> torch.Tensor:
    """Every 3 x H x W uint8 image of ``x`` (any leading shape) degraded by
    ``steps`` in order."""
    if not steps:
        return x
    shape = x.shape
    imgs = x.reshape(-1, *shape[-3:]).permute(0, 2, 3, 1).numpy()
    out = np.empty_like(imgs)
    for j, img in enumerate(imgs):
        img = np.ascontiguousarray(img)
        for pert, value in steps:
            img = perturb.apply(img, pert, value, rng)
        out[j] = img
    return torch.from_numpy(out).permute(0, 3, 1, 2).reshape(shape).contiguous()


class AugmentedItems:
    """A training dataset whose items' images are degraded (module
    docstring); ``meta``, length and the rest of each item are the
    dataset's."""

    def __init__(self, dataset, cfg: Mapping[str, Any], seed: int):
        self.dataset = dataset
        self.cfg = cfg
        self.seed = int(seed) % 2**63
        self.epoch = 0
        self.meta = getattr(dataset, "meta", None)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        set_epoch = getattr(self.dataset, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str):
        # shards, seq_len, ...: the wrapped dataset's
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, i: int):
        item = self.dataset[i]
        rng = np.random.default_rng([self.seed, self.epoch, int(i) % len(self)])
        x = degrade_images(item[0], draw(self.cfg, rng), rng)
        return (x, *item[1:])
