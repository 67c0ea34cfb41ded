"""Portable CPU numerics (numerics.py): the pins override what a machine
would choose, and what they record."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from deepfake_ensemble import numerics

# One training step of a small network that reaches every pinned library:
# convolutions (oneDNN), a linear layer (MKL), batch norm, a reduction and
# Adam's update (ATen). Run in a fresh process, torch loaded before the pins,
# as in a workflow job.
STEP = """
import hashlib, json, sys
import torch
from deepfake_ensemble import numerics
numerics.pin(sys.argv[1])
torch.set_num_threads(1)
torch.manual_seed(0)
net = torch.nn.Sequential(
    torch.nn.Conv2d(3, 16, 3), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
    torch.nn.Conv2d(16, 32, 3, groups=2), torch.nn.AdaptiveAvgPool2d(1),
    torch.nn.Flatten(), torch.nn.Linear(32, 300), torch.nn.Linear(300, 1))
opt = torch.optim.Adam(net.parameters(), lr=1e-2)
x = torch.randn(32, 3, 40, 40)
for _ in range(2):
    opt.zero_grad()
    net(x).square().mean().backward()
    opt.step()
h = hashlib.sha256()
for t in net.state_dict().values():
    h.update(t.numpy().tobytes())
print(json.dumps({"hash": h.hexdigest(), "record": numerics.record()}))
"""

needs_pins = pytest.mark.skipif(
    numerics.cannot_pin() is not None, reason=str(numerics.cannot_pin())
)


def step(mode: str, dispatch: dict[str, str]) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in numerics.PORTABLE_PINS}
    env.update(dispatch)
    out = subprocess.run(
        [sys.executable, "-c", STEP, mode],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.splitlines()[-1])


@needs_pins
def test_pins_give_the_same_bytes_under_every_forced_dispatch():
    dispatches = {"native": {}, **numerics.FORCED_DISPATCHES}
    native = {name: step("native", env) for name, env in dispatches.items()}
    portable = {name: step("portable", env) for name, env in dispatches.items()}
    # unpinned, each library's choice changes the bytes ...
    assert len({r["hash"] for r in native.values()}) == len(dispatches)
    assert native["aten-default"]["record"]["capability"] == "DEFAULT"
    # ... pinned, none does
    assert len({r["hash"] for r in portable.values()}) == 1
    for r in portable.values():
        rec = r["record"]
        assert rec["pinned"] and rec["mode"] == "portable", rec
        assert rec["capability"] == "AVX2" and rec["threads"] == 1
        assert rec["pins"]["MKL_CBWR"] == "AVX2,STRICT"
        assert rec["pins"]["nnpack"] == "off"
    assert not native["native"]["record"]["pinned"]
    # the lines that decide the numbers: one for every pinned run
    lines = {numerics.decisive_line(r["record"]) for r in portable.values()}
    assert len(lines) == 1 and "pinned: ATEN_CPU_CAPABILITY=avx2" in lines.pop()


def test_a_cpu_without_avx2_or_not_x86_cannot_hold_the_pins():
    assert numerics.cannot_pin("aarch64", {"neon"}).startswith("the pins are x86-64")
    reason = numerics.cannot_pin("x86_64", {"sse4_2", "avx"})
    assert reason == "this CPU lacks avx2, fma, which the pinned kernels use"
    assert numerics.cannot_pin("x86_64", {"avx2", "fma", "avx512f"}) is None


def test_cpu_info_and_isa(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nvendor_id\t: GenuineIntel\n"
        "model name\t: Intel(R) Xeon(R) Gold\n"
        "flags\t\t: fpu avx2 fma avx512f avx512bw avx512vl avx512dq\n"
        "processor\t: 1\nvendor_id\t: other\n"
    )
    info = numerics.cpu_info(cpuinfo)
    assert info["vendor"] == "GenuineIntel"
    assert info["model"] == "Intel(R) Xeon(R) Gold"
    assert numerics.widest_isa(info["flags"]) == "avx512"
    assert numerics.widest_isa({"avx2"}) == "avx2"
    assert numerics.widest_isa(set()) == "base"
    assert numerics.cpu_info(tmp_path / "missing")["vendor"] == ""


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="cpu_numerics: 'fast' is not one of"):
        numerics.pin("fast")
