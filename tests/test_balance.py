"""Class-balanced sampling for training (``train.balance``), off by default."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from torch.utils.data import RandomSampler, WeightedRandomSampler

from deepfake_ensemble.errors import InputError
from deepfake_ensemble.train.loop import epoch_sampler


class Labelled:
    """A dataset stub: 90 fakes and 10 reals, like a real dataset's 9:1."""

    def __init__(self, n_real: int = 10, n_fake: int = 90):
        self.meta = pd.DataFrame({"label": [0] * n_real + [1] * n_fake})

    def __len__(self) -> int:
        return len(self.meta)


def test_default_is_a_seeded_permutation():
    ds = Labelled()
    sampler = epoch_sampler(ds, seed=3)
    assert isinstance(sampler, RandomSampler)
    order = list(sampler)
    assert sorted(order) == list(range(100))
    assert order == list(epoch_sampler(ds, seed=3))


def test_balanced_sampler_draws_both_classes_equally():
    ds = Labelled()
    labels = ds.meta["label"].to_numpy()
    drawn = []
    for epoch in range(200):
        sampler = epoch_sampler(ds, seed=epoch, balance=True)
        assert isinstance(sampler, WeightedRandomSampler)
        order = list(sampler)
        assert len(order) == len(ds)  # an epoch has as many draws as items
        drawn.extend(order)
    share_real = float(np.mean(labels[drawn] == 0))
    assert share_real == pytest.approx(0.5, abs=0.02)  # 0.1 without balancing
    assert list(epoch_sampler(ds, 7, True)) == list(epoch_sampler(ds, 7, True))


def test_balanced_sampler_needs_labels():
    class Bare:
        def __len__(self):
            return 4

    with pytest.raises(InputError, match="labels"):
        epoch_sampler(Bare(), seed=1, balance=True)
