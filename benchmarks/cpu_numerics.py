"""Do the portable CPU pins hold, and what do they cost?

Each of the four detectors, at the demo's input sizes and batches, trains a
few Adam steps from a fixed seed and then scores a fixed batch, once per
*dispatch* and *mode*, each run in its own process:

* dispatch: what a different machine would choose, forced on this one
  through the libraries' own switches: ``native`` (as this CPU chooses),
  ATen at ``default`` (no AVX2, as on an older CPU), oneDNN held to SSE4.1,
  MKL on its ``COMPATIBLE`` branch;
* mode: ``native`` (nothing pinned) or ``portable`` (``numerics.pin``, as
  every training, prediction and scoring job of the workflow runs); with
  ``--onednn-off`` also the pins with oneDNN turned off instead of capped.

It prints the SHA-256 (first 12 hex digits) of the trained weights and of
the scores: unpinned, the dispatches give different bytes; pinned, one. And
the seconds per training step, pinned against unpinned, on this machine's
own dispatch (the pins' cost)::

    .venv/bin/python benchmarks/cpu_numerics.py            # about 2 minutes
    .venv/bin/python benchmarks/cpu_numerics.py --write docs/benchmarks.md

``--write`` puts the table into that file between
``<!-- cpu-numerics:begin -->`` and ``<!-- cpu-numerics:end -->``, with the
commit and the machine it ran on.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from _markdown import commit, machine, write_block  # noqa: E402

from deepfake_ensemble import numerics  # noqa: E402

#: dispatch name -> the environment that forces it
DISPATCHES: dict[str, dict[str, str]] = {"native": {}, **numerics.FORCED_DISPATCHES}

#: the demo's settings (config/config.yaml): input size, batch, model kwargs
DEMO_MODELS: dict[str, tuple[int, int, dict]] = {
    "capsule": (48, 32, {"freeze_stem": False}),
    "dsp_fwa": (48, 32, {}),
    "ictu_oculi": (32, 8, {"fc6_dim": 128, "fc6_pool": 1, "batch_norm": True}),
    "xception": (48, 32, {}),
}
SEQ_LEN = 10


def child(model: str, mode: str, steps: int) -> dict:
    """Train ``steps`` steps of ``model`` and score a batch; the hashes and
    the seconds per step. Runs in a fresh process: torch is loaded first,
    then pinned, as in a workflow job."""
    import torch

    from deepfake_ensemble.train.models import create_model, get_spec

    numerics.pin("portable" if mode == "onednn-off" else mode)
    if mode == "onednn-off":  # the alternative to capping oneDNN: not using it
        torch.backends.mkldnn.enabled = False
    torch.set_num_threads(1)
    size, batch, kwargs = DEMO_MODELS[model]
    spec = get_spec(model)
    eye = spec.input_kind == "eye_sequence"
    g = torch.Generator().manual_seed(0)
    shape = (batch, SEQ_LEN, 2, 3, size, size) if eye else (batch, 3, size, size)
    x = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    y = torch.arange(batch) % 2
    mask = torch.ones(batch, SEQ_LEN, dtype=torch.bool) if eye else None
    torch.manual_seed(0)
    net = create_model(model, **kwargs).train()
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-3)
    seconds = []
    for _ in range(steps):
        t0 = time.perf_counter()
        inp = spec.prepare(x, input_size=size, train=True, generator=g)
        out = net(inp, mask) if eye else net(inp)
        loss = net.loss(out, y, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seconds.append(time.perf_counter() - t0)
    net.eval()
    with torch.no_grad():
        inp = spec.prepare(x, input_size=size)
        scores = net.scores(net(inp, mask) if eye else net(inp), mask)
    weights = hashlib.sha256()
    for t in net.state_dict().values():
        weights.update(t.detach().contiguous().numpy().tobytes())
    return {
        "weights": weights.hexdigest()[:12],
        "scores": hashlib.sha256(scores.numpy().tobytes()).hexdigest()[:12],
        # the first step builds caches: the cost is read from the others
        "step_s": sum(seconds[1:]) / max(len(seconds) - 1, 1),
        "pinned": numerics.record(mode).get("pinned", False),
    }


def run_child(model: str, mode: str, dispatch: str, steps: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in numerics.PORTABLE_PINS}
    env.update(DISPATCHES[dispatch])
    cmd = [sys.executable, __file__, "--child", model, mode, str(steps)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.splitlines()[-1])


def table(steps: int, modes: tuple[str, ...]) -> list[str]:
    lines = [
        "| model | mode | " + " | ".join(DISPATCHES) + " | distinct | s/step |",
        "|---|---|" + "---|" * len(DISPATCHES) + "---|---:|",
    ]
    cost = {}
    for model in DEMO_MODELS:
        for mode in modes:
            runs = {d: run_child(model, mode, d, steps) for d in DISPATCHES}
            cells = [f"`{r['weights']}` / `{r['scores']}`" for r in runs.values()]
            distinct = len({(r["weights"], r["scores"]) for r in runs.values()})
            step_s = runs["native"]["step_s"]
            cost.setdefault(model, {})[mode] = step_s
            lines.append(
                f"| {model} | {mode} | " + " | ".join(cells) + f" | {distinct} | "
                f"{step_s:.3f} |"
            )
            print(lines[-1], flush=True)
    lines.append("")
    for mode in modes[1:]:
        lines.append(
            f"Seconds per training step on this machine's own dispatch, {mode} / "
            "native: "
            + ", ".join(
                f"{m} {c[mode]:.3f} / {c['native']:.3f} ({c[mode] / c['native']:.2f}x)"
                for m, c in cost.items()
            )
            + "."
        )
    return lines


def main(argv=None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        model, mode, steps = sys.argv[2], sys.argv[3], int(sys.argv[4])
        print(json.dumps(child(model, mode, steps)))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=4, help="training steps per run")
    ap.add_argument("--write", type=Path, default=None, help="markdown file to update")
    ap.add_argument(
        "--onednn-off",
        action="store_true",
        help="add the pins with oneDNN turned off (the alternative to capping it)",
    )
    args = ap.parse_args(argv)
    if numerics.cannot_pin():
        print(f"cannot run the portable pins here: {numerics.cannot_pin()}")
        return 1
    started = time.perf_counter()
    lines = [
        "Weights / scores SHA-256 after the same training under each forced "
        "dispatch (`benchmarks/cpu_numerics.py`, "
        f"{args.steps} Adam steps per model, 1 thread); "
        f"commit {commit()}, {machine()}:",
        "",
        *table(
            args.steps,
            ("native", "portable") + (("onednn-off",) if args.onednn_off else ()),
        ),
    ]
    print(f"({time.perf_counter() - started:.0f} s)")
    if args.write:
        write_block(args.write, "cpu-numerics", "\n".join(lines) + "\n")
        print(f"written: {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
