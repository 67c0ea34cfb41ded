"""Several processes per member (models.<name>.gpus): each rank's share of
every batch, and 2 gloo processes x half batch against 1 process x the whole
batch after a few optimiser steps (benchmarks/ddp_equivalence.py measures the
study's members; docs/cluster.md, "Several GPUs per member")."""

from __future__ import annotations

import sys

import pytest
import torch
from conftest import ROOT
from torch.utils.data import BatchSampler, RandomSampler

from deepfake_ensemble.errors import InputError
from deepfake_ensemble.train.distributed import RankBatches, check_split

sys.path.insert(0, str(ROOT / "benchmarks"))
from ddp_equivalence import compare, largest_difference, parameters_after  # noqa: E402

#: a member of the user's own (tests/members_fixture.py), small enough for
#: the processes' start-up to dominate
TINY = {
    "kind": "module",
    "class": "members_fixture:TinyCNN",
    "input_size": 32,
}
#: the largest difference of the parameters 2 processes may leave after 3
#: steps of a member without BatchNorm: float32 sums in another order.
#: Measured on the 2-core reference machine (ddp_equivalence.compare, as
#: below): 3.7e-9 without BatchNorm, 2.7e-4 with it (running statistics
#: 1.7e-3); the study's members: docs/cluster.md, "Several GPUs per member"
TOLERANCE = 1e-5


@pytest.mark.parametrize("n_items, batch, drop_last", [(23, 8, True), (6, 8, False)])
@pytest.mark.parametrize("world", [2, 3])
def test_ranks_share_each_batch_of_the_single_process(n_items, batch, drop_last, world):
    """The ranks' k-th batches are disjoint and together the single
    process's k-th batch, in its order."""

    def order():  # the epoch's order, drawn afresh as each rank draws it
        generator = torch.Generator().manual_seed(3)
        return RandomSampler(range(n_items), generator=generator)

    single = list(BatchSampler(order(), batch, drop_last))
    shares = [
        list(RankBatches(order(), batch, drop_last, r, world)) for r in range(world)
    ]
    assert all(len(s) == len(single) for s in shares)
    for k, whole in enumerate(single):
        assert sum((s[k] for s in shares), []) == whole
        sizes = [len(s[k]) for s in shares]
        assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1


def test_a_batch_that_the_ranks_cannot_share_is_refused():
    with pytest.raises(InputError, match=r"models\.m\.batch_size \(10\) must divide"):
        check_split("m", 10, 100, 4)
    with pytest.raises(InputError, match="3 training items cannot be shared"):
        check_split("m", 8, 3, 4)
    check_split("m", 8, 4, 4)


def test_two_processes_with_half_batches_train_as_one_with_the_whole_batch():
    """After 3 Adam steps (flips drawn per item, as the single process draws
    them), without BatchNorm the parameters agree within float32 rounding;
    with BatchNorm each process normalises its half by its own statistics,
    and the difference is an order of magnitude larger than the tolerance
    (torch's SyncBatchNorm, which would remove it, has no CPU kernel)."""
    plain = {**TINY, "kwargs": {"width": 4, "batch_norm": False}}
    with_bn = {**TINY, "kwargs": {"width": 4, "batch_norm": True}}
    same, apart = compare(
        [("tiny", plain), ("tiny", with_bn)], world=2, steps=3, batch=8, items=24
    )
    assert same["parameters"] <= TOLERANCE, same
    assert same["buffers"] is None
    assert apart["parameters"] > 10 * TOLERANCE, apart
    assert apart["buffers"] > 10 * TOLERANCE, apart


def test_one_process_in_a_group_trains_in_ddp_as_the_plain_process():
    """Under torchrun with one process (the launcher's path on one GPU, whose
    overhead benchmarks/launcher_overhead.py measures), the model is in
    DistributedDataParallel and trains as the plain process does, BatchNorm
    included (its one share is the whole batch)."""
    with_bn = {**TINY, "kwargs": {"width": 4, "batch_norm": True}}
    args = ([("tiny", with_bn)], 1, 3, 8, 24)
    (plain,) = parameters_after(*args)
    (grouped,) = parameters_after(*args, group=True)
    assert (plain["ddp"], grouped["ddp"]) == (False, True)
    assert largest_difference(plain["parameters"], grouped["parameters"]) <= TOLERANCE
    assert largest_difference(plain["buffers"], grouped["buffers"]) <= TOLERANCE
