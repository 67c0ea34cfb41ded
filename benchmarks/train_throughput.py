"""Training throughput of the four detectors on the current device.

For each model: training images per second (forward, backward, optimiser
step, model-side preprocessing included) in fp32 and, on CUDA, with bf16
autocast + channels_last side by side, and the fraction of step time spent
waiting for the DataLoader (synthetic uint8 images held in memory, so the
wait is the loader's own overhead: collation, worker hand-off, pinning).
Eye-sequence items count ``seq_len`` frames each (2 eye crops per frame).

CPU (small inputs)::

    .venv/bin/python benchmarks/train_throughput.py --size 64 --batch 16 --steps 5

GPU (original input sizes, one command)::

    python benchmarks/train_throughput.py --device cuda --size 0 --batch 32 \
        --steps 20 --workers 4

``--size 0`` uses each model's original input size (300/224/224/299).
``--shards DIR`` reads real shards (e.g. ``results/shards/train`` of a demo
run) through the training datasets instead of synthetic images, so ``wait``
is the data wait of real training; on CUDA the peak GPU memory of each run
is printed too. ``--batch dsp_fwa=56 capsule=64`` sets each model's batch;
``--shards DIR --synthetic`` runs both, side by side.

``--write docs/benchmarks.md`` puts the table into that file's
``train-throughput`` block, with the command, the commit and the machine (the
GPU's name on CUDA).

Members declared in a config (``kind: timm`` / ``module``) are measured by
name with ``--configfile``, built as training builds them (their input size
with ``--size 0``, their normalisation; with ``--shards``, the items their
``fakes`` setting trains on, synthesis included); ``--write docs/models.md``
then fills that file's ``member-throughput`` block and, on CUDA,
``resources/rates/member-throughput-<gpu>.json``, which the bill reads for
declared members::

    .venv/bin/python benchmarks/train_throughput.py --configfile config/modern.yaml \
        --models sbi_b4 --size 128 --batch 4 --steps 3 --write docs/models.md
    python benchmarks/train_throughput.py --configfile config/modern.yaml \
        --models sbi_b4 --device cuda --size 0 --batch 32 --steps 20 --workers 4
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from deepfake_ensemble.bundle.plan import kind_slug  # noqa: E402
from deepfake_ensemble.layout import MODEL_NAMES  # noqa: E402
from deepfake_ensemble.members import is_study  # noqa: E402
from deepfake_ensemble.train.models import create_model, get_spec  # noqa: E402
from deepfake_ensemble.train.models.members import (  # noqa: E402
    create_member,
    member_spec,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _markdown import write_rates, write_table  # noqa: E402


class SyntheticFrames(Dataset):
    def __init__(self, n: int, size: int):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randint(
            0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8
        )

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], i % 2, i


class SyntheticEyes(Dataset):
    def __init__(self, n: int, size: int, seq_len: int):
        g = torch.Generator().manual_seed(0)
        shape = (n, seq_len, 2, 3, size, size)
        self.x = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
        self.mask = torch.ones(seq_len, dtype=torch.bool)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.mask, i % 2, i


def declared(configfiles: list[Path]) -> dict[str, dict]:
    """Member -> its block, of the members the configs declare beyond the
    study's four (later files win, key by key)."""
    import yaml

    blocks: dict[str, dict] = {}
    for path in configfiles:
        for name, block in (
            (yaml.safe_load(path.read_text()) or {}).get("models", {}).items()
        ):
            blocks.setdefault(name, {}).update(block or {})
    return {m: b for m, b in blocks.items() if not is_study(m, b)}


def build(name, args):
    """(spec, model) of a study detector or a declared member."""
    cfg = args.members.get(name)
    if cfg is not None:
        spec = member_spec(name, cfg)
        return spec, create_member(spec, cfg.get("kwargs"))
    spec = get_spec(name)
    kwargs = {}
    if spec.input_kind == "eye_sequence":
        kwargs = {"fc6_dim": args.fc6_dim, "fc6_pool": 1 if args.size else 7}
    return spec, create_model(name, **kwargs)


def bench(name, args, device, amp):
    torch.manual_seed(0)
    spec, model = build(name, args)
    size = args.size or spec.input_size
    eye = spec.input_kind == "eye_sequence"
    model = model.to(device).train()
    if amp:
        model.to(memory_format=torch.channels_last)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-4, momentum=0.9)
    n_items = args.batch * (args.steps + args.warmup)
    if args.shards:
        # the items training reads: fakes synthesised from the real faces
        # where the member's ``fakes`` asks for them (models.<name>.fakes)
        from deepfake_ensemble.train.datasets import training_dataset

        ds = training_dataset(
            name, args.shards, args.members.get(name) or {"seq_len": args.seq_len}
        )
        if len(ds) < n_items:  # repeat the split to fill the steps
            ds = torch.utils.data.ConcatDataset([ds] * (n_items // len(ds) + 1))
    else:
        ds = (
            SyntheticEyes(n_items, size, args.seq_len)
            if eye
            else SyntheticFrames(n_items, size)
        )
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    loader = DataLoader(
        ds,
        batch_size=args.batch,
        shuffle=True,
        num_workers=args.workers,
        pin_memory=device.type == "cuda",
        drop_last=True,
    )
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    wait = compute = 0.0
    it = iter(loader)
    for step in range(args.steps + args.warmup):
        t0 = time.perf_counter()
        batch = next(it)
        t1 = time.perf_counter()
        if eye:
            x, mask, y, _ = batch
            mask = mask.to(device, non_blocking=True)
        else:
            x, y, _ = batch
            mask = None
        x = spec.prepare(
            x.to(device, non_blocking=True),
            input_size=size,
            train=True,
            channels_last=amp,
        )
        y = y.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out = model(x, mask) if eye else model(x)
        loss = model.loss(out, y, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync()
        t2 = time.perf_counter()
        if step >= args.warmup:
            wait += t1 - t0
            compute += t2 - t1
    frames = args.batch * args.steps * (args.seq_len if eye else 1)
    total = wait + compute
    peak = (
        torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0
    )
    return size, frames / total, wait / total, peak


def batches(values: list[str], models: list[str]) -> dict[str, int]:
    """``--batch``: one size for every model, or ``model=N`` entries (the
    models not named take the last plain size, default 16)."""
    plain, named = 16, {}
    for v in values:
        if "=" in v:
            m, n = v.split("=", 1)
            named[m] = int(n)
        else:
            plain = int(v)
    return {m: named.get(m, plain) for m in models}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODEL_NAMES))
    p.add_argument("--size", type=int, default=64, help="input size; 0 = original")
    p.add_argument(
        "--batch", nargs="+", default=["16"], help="N, or MODEL=N for each model"
    )
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seq-len", type=int, default=4, help="eye-sequence length")
    p.add_argument("--fc6-dim", type=int, default=256, help="ictu_oculi fc6 width")
    p.add_argument("--shards", default=None, help="read real shards from this folder")
    p.add_argument(
        "--synthetic",
        action="store_true",
        help="with --shards: synthetic images too, side by side",
    )
    p.add_argument(
        "--precision",
        choices=("both", "bf16"),
        default="both",
        help="on CUDA: fp32 and bf16+channels_last side by side, or bf16 alone",
    )
    p.add_argument(
        "--configfile",
        type=Path,
        nargs="+",
        default=[],
        help="configs declaring members (kind timm/module) to measure by name",
    )
    p.add_argument("--write", type=Path, default=None, help="markdown file to update")
    args = p.parse_args(argv)
    args.members = declared(args.configfile)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    modes = [False, True] if device.type == "cuda" else [False]
    if device.type == "cuda" and args.precision == "bf16":
        modes = [True]
    sources = [args.shards] + ([None] if args.shards and args.synthetic else [])
    batch = batches(args.batch, args.models)
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    print(
        f"device {name} ({torch.get_num_threads()} threads), batch {batch}, "
        f"steps {args.steps}, workers {args.workers}, torch {torch.__version__}"
    )
    md_head, md_rule = "| model (batch) | size |", "|---|---:|"
    for src in sources:
        for amp in modes:
            what = ("real shards" if src else "synthetic") + (
                ", bf16 + channels-last" if amp else ", fp32"
            )
            md_head += f" {what} img/s | data wait |"
            md_rule += "---:|---:|"
    if device.type == "cuda":
        md_head += " peak GPU memory |"
        md_rule += "---:|"
    md = [
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{args.workers} loader workers, {args.steps} timed steps after "
        f"{args.warmup} warm-up; eye sequences of {args.seq_len} frames count "
        "each frame:",
        "",
        md_head,
        md_rule,
    ]
    first = "bf16+CL img/s" if modes == [True] else "fp32 img/s"
    head = f"{'model':<11} {'size':>4}  {first:>10} {'wait':>6}"
    if len(modes) == 2:
        head += f"  {'bf16+CL img/s':>13} {'wait':>6} {'speed-up':>8}"
    print(head)
    rates = {}
    for m in args.models:
        run = argparse.Namespace(**{**vars(args), "batch": batch[m]})
        cells, peak = [], 0.0
        for src in sources:
            run.shards = src
            res = [bench(m, run, device, amp) for amp in modes]
            line = f"{m:<11} {res[0][0]:>4}  {res[0][1]:>10.1f} {res[0][2]:>6.1%}"
            if len(res) == 1 and device.type == "cuda":
                line += f"  peak {res[0][3]:.1f} GiB"
            if len(res) == 2:
                line += (
                    f"  {res[1][1]:>13.1f} {res[1][2]:>6.1%} "
                    f"{res[1][1] / res[0][1]:>7.2f}x"
                    f"  peak {res[0][3]:.1f} / {res[1][3]:.1f} GiB"
                )
            print(("shards    " if src else "") + line, flush=True)
            cells += [f"{r[1]:,.{0 if r[1] >= 100 else 1}f} | {r[2]:.1%}" for r in res]
            peak = max([peak, *(r[3] for r in res)])
            if src == sources[0]:
                eye = m not in args.members and (
                    get_spec(m).input_kind == "eye_sequence"
                )
                rates[m] = {
                    "per_s": round(res[-1][1], 1),
                    "unit": "frames/s" if eye else "images/s",
                    "batch": batch[m],
                    "input_size": res[-1][0],
                    "seq_len": args.seq_len if eye else None,
                    "peak_gpu_gib": round(peak, 1) if device.type == "cuda" else None,
                    "data": ("real shards" if src else "synthetic images")
                    + f", {args.workers} loader workers"
                    + (", bf16 + channels-last" if modes[-1] else ", fp32"),
                }
        row = f"| {m} ({batch[m]}) | {res[0][0]} | " + " | ".join(cells) + " |"
        if device.type == "cuda":
            row += f" {peak:.1f} GiB |"
        md.append(row)
    if args.write and any(m in args.members for m in args.models):
        write_table(args.write, "member-throughput", __file__, md)
        if device.type == "cuda":  # the bill's GPU-hours of declared members
            write_rates(
                "member-throughput", __file__, {"models": rates}, kind=kind_slug(name)
            )
    elif args.write:
        write_table(args.write, "train-throughput", __file__, md)
        write_rates(
            "train-throughput", __file__, {"models": rates}, kind=kind_slug(name)
        )


if __name__ == "__main__":
    main()
