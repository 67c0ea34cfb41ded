"""Gradient accumulation (models.<name>.micro_batch): an accumulated step
gives the whole batch's gradients, for each detector.

The comparison runs the models in eval mode, where no layer couples the items
of a batch. In training mode BatchNorm normalises each micro-batch by its own
statistics (and Capsule's routing noise and dropout draw per pass), so there
the two differ: the last test measures by how much for the BatchNorm models.
"""

from __future__ import annotations

import pytest
import torch
from test_train import TinyEyes, TinyFrames
from torch.utils.data import default_collate

from deepfake_ensemble.train.loop import (
    TrainingRun,
    accumulate_step,
    fitted_step,
    resolve_config,
    split_batch,
)
from deepfake_ensemble.train.models import create_model, get_spec

SMALL = {
    "capsule": {"input_size": 32, "kwargs": {"freeze_stem": False}},
    "dsp_fwa": {"input_size": 32},
    "ictu_oculi": {
        "input_size": 32,
        "seq_len": 3,
        "kwargs": {"fc6_dim": 32, "fc6_pool": 1, "batch_norm": True},
    },
    "xception": {"input_size": 32},
}


def make_run(name: str, micro_batch: int | None) -> TrainingRun:
    cfg = resolve_config(name, {**SMALL[name], "batch_size": 8})
    torch.manual_seed(0)
    model = create_model(name, **cfg["kwargs"])
    return TrainingRun(
        name=name,
        spec=get_spec(name),
        cfg=cfg,
        config_hash="test",
        seed=0,
        device=torch.device("cpu"),
        num_workers=0,
        progress=False,
        out_dir=None,
        resume_dir=None,
        model=model,
        micro_batch=micro_batch,
    )


def batch_of(name: str):
    data = (
        TinyEyes(n_videos=8, frames=3, seq_len=3)
        if name == "ictu_oculi"
        else TinyFrames(n_videos=8, frames=1, size=32)
    )
    return default_collate([data[i] for i in range(8)])


def gradients(run: TrainingRun, batch, train: bool) -> tuple[float, dict]:
    run.model.train(train)
    run.model.zero_grad(set_to_none=True)
    loss, n = accumulate_step(run, batch, torch.Generator().manual_seed(1), 1, 1)
    assert n == 8
    grads = {
        k: p.grad.detach().clone()
        for k, p in run.model.named_parameters()
        if p.grad is not None
    }
    return loss, grads


def test_split_batch_keeps_the_structure():
    batch = (torch.arange(8), (torch.ones(8, 2), [torch.zeros(8)]))
    parts = split_batch(batch, 3)
    assert [len(p[0]) for p in parts] == [3, 3, 2]
    assert isinstance(parts[0][1], tuple) and isinstance(parts[0][1][1], list)
    assert torch.equal(torch.cat([p[0] for p in parts]), batch[0])


@pytest.mark.parametrize("name", sorted(SMALL))
def test_accumulated_step_equals_the_whole_batch(name):
    batch = batch_of(name)
    loss_full, full = gradients(make_run(name, None), batch, train=False)
    for micro in (1, 3, 4):
        loss_acc, acc = gradients(make_run(name, micro), batch, train=False)
        assert loss_acc == pytest.approx(loss_full, rel=1e-5, abs=1e-6)
        assert full.keys() == acc.keys() and full
        for key in full:
            # float32 sums split differently differ by rounding of the size
            # of the summands, not of the result: an element that sums to
            # near zero is compared against its tensor's scale
            scale = float(full[key].abs().max())
            torch.testing.assert_close(
                acc[key], full[key], rtol=1e-4, atol=max(1e-6, 1e-4 * scale)
            )


@pytest.mark.parametrize("name", ["dsp_fwa", "xception"])
def test_batchnorm_in_training_mode_differs_and_says_by_how_much(name):
    batch = batch_of(name)
    _, full = gradients(make_run(name, None), batch, train=True)
    _, acc = gradients(make_run(name, 2), batch, train=True)
    flat_full = torch.cat([full[k].flatten() for k in full])
    flat_acc = torch.cat([acc[k].flatten() for k in full])
    rel = float((flat_acc - flat_full).norm() / flat_full.norm())
    print(
        f"{name}, training mode, micro-batch 2 of 8: gradient norm "
        f"{float(flat_full.norm()):.3g} (whole batch) vs "
        f"{float(flat_acc.norm()):.3g} (accumulated); relative difference {rel:.3g}"
    )
    assert rel > 1e-4  # BatchNorm statistics per micro-batch: not the same step


def test_auto_halves_the_micro_batch_until_the_step_fits(monkeypatch):
    """``micro_batch: auto``: a step that runs out of GPU memory is retried with
    half the micro-batch. The out-of-memory condition is raised for passes of
    more than 2 items (this machine has no GPU to exhaust)."""
    import deepfake_ensemble.train.loop as train

    run = make_run("dsp_fwa", None)
    run.cfg["micro_batch"] = "auto"
    real = train.forward_batch

    def limited(model, spec, chunk, *args, **kwargs):
        if len(chunk[0]) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (test limit)")
        return real(model, spec, chunk, *args, **kwargs)

    monkeypatch.setattr(train, "forward_batch", limited)
    run.model.eval()
    loss, n = fitted_step(run, batch_of("dsp_fwa"), None, 1, 1)
    assert run.micro_batch == 2 and n == 8 and loss > 0
