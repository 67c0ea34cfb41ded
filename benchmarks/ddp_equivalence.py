"""Several processes against one (``models.<name>.gpus``): the parameters
after ``k`` optimiser steps of ``N`` gloo processes on the CPU, each with
``batch / N`` items of every batch, against one process with the whole
batch, through the training loop's own steps
(:func:`deepfake_ensemble.train.loop.train_epoch`, the study's optimiser of
each member, the same seeded order and flips).

A member without BatchNorm and dropout gives the single process's
parameters up to floating point (the order in which the ranks' gradients are
summed); a member with BatchNorm normalises each process's share by its own
statistics (torch's SyncBatchNorm, which would normalise over the global
batch, has no CPU kernel), so its parameters differ by more: the table
gives both::

    .venv/bin/python benchmarks/ddp_equivalence.py --write docs/cluster.md

``--write FILE`` puts the table into that file's ``ddp-equivalence`` block,
with the command, the commit and the machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _markdown import write_table  # noqa: E402
from train_throughput import SyntheticEyes, SyntheticFrames  # noqa: E402

from deepfake_ensemble.train import distributed  # noqa: E402
from deepfake_ensemble.train.loop import (  # noqa: E402
    build_state,
    deterministic_mode,
    prepare_run,
    train_epoch,
)
from deepfake_ensemble.train.models import member_spec  # noqa: E402

#: the members compared (label: member name and a small configuration):
#: In Ictu Oculi's VGG16 has no BatchNorm in the study (dropout off here, as
#: each process would draw its own masks), with BatchNorm as in the CI
#: config, and DSP-FWA's ResNet-50
MEMBERS = {
    "ictu_oculi": (
        "ictu_oculi",
        {
            "input_size": 32,
            "seq_len": 3,
            "kwargs": {"fc6_dim": 32, "fc6_pool": 1, "dropout": 0.0},
        },
    ),
    "ictu_oculi_bn": (
        "ictu_oculi",
        {
            "input_size": 32,
            "seq_len": 3,
            "kwargs": {
                "fc6_dim": 32,
                "fc6_pool": 1,
                "dropout": 0.0,
                "batch_norm": True,
            },
        },
    ),
    "dsp_fwa": ("dsp_fwa", {"input_size": 32}),
}


def has_batchnorm(name: str, cfg: dict) -> bool:
    from deepfake_ensemble.train.loop import resolve_config
    from deepfake_ensemble.train.models import create_member

    resolved = resolve_config(name, cfg)
    model = create_member(member_spec(name, resolved), resolved["kwargs"])
    return any(
        isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()
    )


def dataset(name: str, cfg: dict, items: int):
    """Seeded synthetic items of the member's input kind."""
    if member_spec(name, cfg).input_kind == "frames":
        return SyntheticFrames(items, 40)
    return SyntheticEyes(items, 32, cfg["seq_len"])


def train_steps(members: list[tuple[str, dict]], items: int, outs: list[str]) -> None:
    """``cfg["max_steps_per_epoch"]`` steps of one epoch of each member
    (name, config); rank 0 saves the parameters to the member's ``outs``."""
    for (name, cfg), out in zip(members, outs, strict=True):
        data = dataset(name, cfg, items)
        with tempfile.TemporaryDirectory() as tmp:
            run = prepare_run(
                name,
                cfg,
                data,
                data,
                tmp,
                tmp,
                seed=1,
                device="cpu",
                num_workers=0,
                threads=1,
                progress=False,
            )
            with deterministic_mode(False):
                build_state(run)
                train_epoch(run, data, 1)
        if run.ranks.main:
            params = dict(run.model.named_parameters())
            torch.save(
                {
                    "ddp": run.ddp is not None,
                    "parameters": {k: v.detach().clone() for k, v in params.items()},
                    "buffers": {
                        k: v.detach().clone()
                        for k, v in run.model.state_dict().items()
                        if k not in params and v.is_floating_point()
                    },
                },
                out,
            )


def parameters_after(
    members: list[tuple[str, dict]],
    world: int,
    steps: int,
    batch: int,
    items: int,
    group: bool = False,
) -> list[dict[str, dict[str, torch.Tensor]]]:
    """Each member's parameters and floating-point buffers (BatchNorm's
    running statistics) after ``steps`` steps of global batch ``batch`` on
    ``world`` processes (one group of processes trains them all; one process
    joins a group of its own with ``group``, as under torchrun), and whether
    the model was in DistributedDataParallel (``ddp``)."""
    members = [
        (name, {**cfg, "batch_size": batch, "max_steps_per_epoch": steps, "epochs": 1})
        for name, cfg in members
    ]
    with tempfile.TemporaryDirectory() as tmp:
        outs = [str(Path(tmp) / f"params{i}.pt") for i in range(len(members))]
        if world == 1 and not group:
            train_steps(members, items, outs)
        else:
            distributed.spawn(train_steps, world, members, items, outs)
        return [torch.load(out, weights_only=True) for out in outs]


def largest_difference(a: dict, b: dict) -> float | None:
    """Largest absolute difference between two sets of tensors (None when
    there are none)."""
    return max((float((a[k] - b[k]).abs().max()) for k in a), default=None)


def compare(
    members: list[tuple[str, dict]], world: int, steps: int, batch: int, items: int
) -> list[dict[str, float | None]]:
    """1 against ``world`` processes, per member: the largest absolute
    difference of the parameters, of the buffers, and the largest parameter
    (for scale)."""
    ones = parameters_after(members, 1, steps, batch, items)
    manys = parameters_after(members, world, steps, batch, items)
    return [
        {
            "parameters": largest_difference(one["parameters"], many["parameters"]),
            "buffers": largest_difference(one["buffers"], many["buffers"]),
            "scale": max(float(v.abs().max()) for v in one["parameters"].values()),
        }
        for one, many in zip(ones, manys, strict=True)
    ]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--members", nargs="+", default=list(MEMBERS))
    p.add_argument("--world", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--items", type=int, default=48)
    p.add_argument("--write", type=Path)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    lines = [
        f"Parameters after {args.steps} optimiser steps of a global batch of "
        f"{args.batch} ({args.items} synthetic items): 1 process against "
        f"{args.world} gloo processes of {args.batch // args.world} items each "
        f"(CPU, float32, one thread each):",
        "",
        "| member | BatchNorm | parameters: max abs difference "
        "| relative to the largest | running statistics: max abs difference |",
        "|---|---|---:|---:|---:|",
    ]
    members = [MEMBERS[label] for label in args.members]
    diffs = compare(members, args.world, args.steps, args.batch, args.items)
    for label, (name, cfg), diff in zip(args.members, members, diffs, strict=True):
        print(label, diff)
        buffers = "-" if diff["buffers"] is None else f"{diff['buffers']:.2g}"
        lines.append(
            f"| `{label}` | {'yes' if has_batchnorm(name, cfg) else 'no'} "
            f"| {diff['parameters']:.2g} "
            f"| {diff['parameters'] / diff['scale']:.2g} | {buffers} |"
        )
    if args.write:
        write_table(args.write, "ddp-equivalence", __file__, lines, argv)


if __name__ == "__main__":
    main()
