"""Degradation augmentation of training items (train.augment)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers_media import face_frame

from deepfake_ensemble.preprocess.perturb import psnr
from deepfake_ensemble.train.augment import (
    KINDS,
    AugmentedItems,
    default_config,
    draw,
)


class Faces:
    """Three face crops as a frame dataset's items: (image, label, index)."""

    meta = None

    def __init__(self):
        img = face_frame(64, 64, at=(0, 0), size=64)
        self.x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))

    def __len__(self):
        return 3

    def __getitem__(self, i):
        return self.x, i % 2, i


def config(**p):
    cfg = default_config()
    for kind in KINDS:
        cfg[kind]["p"] = p.get(kind, 0.0)
    return cfg


def test_off_by_default_and_every_kind_has_a_probability_and_range():
    cfg = default_config()
    assert cfg["enabled"] is False
    assert set(KINDS) <= set(cfg)
    rng = np.random.default_rng(0)
    assert draw(config(), rng) == []
    steps = draw(config(blur=1.0, noise=1.0), rng)
    assert [p for p, _ in steps] == ["blur", "noise"]
    lo, hi = cfg["noise"]["range"]
    assert lo <= steps[1][1] <= hi


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_degrades_the_item_and_keeps_the_rest(kind):
    ds = Faces()
    aug = AugmentedItems(ds, config(**{kind: 1.0}), seed=3)
    x, label, i = aug[1]
    assert x.dtype == torch.uint8 and x.shape == ds.x.shape
    assert (label, i) == (1, 1) and len(aug) == 3
    clean = ds.x.permute(1, 2, 0).numpy()
    assert psnr(clean, x.permute(1, 2, 0).numpy()) < 45


def test_draws_are_seeded_by_the_run_the_epoch_and_the_item():
    cfg = config(compression=0.5, blur=0.5, noise=0.5, resize=0.5)
    a, b = AugmentedItems(Faces(), cfg, 1), AugmentedItems(Faces(), cfg, 1)
    assert torch.equal(a[2][0], b[2][0])
    first = [a[i][0] for i in range(3)]
    a.set_epoch(1)
    assert any(not torch.equal(x, a[i][0]) for i, x in enumerate(first))


def test_a_sequence_item_gets_one_draw_for_every_image():
    seq = torch.stack([Faces().x] * 4).reshape(2, 2, 3, 64, 64)

    class Seq(Faces):
        def __getitem__(self, i):
            return seq, torch.ones(2, dtype=torch.bool), 0, i

    x, mask, label, i = AugmentedItems(Seq(), config(noise=1.0), 0)[0]
    assert x.shape == seq.shape and mask.all() and (label, i) == (0, 0)
    assert not torch.equal(x[0, 0], seq[0, 0])
