"""Portable CPU numerics: the same bytes from every x86-64 machine.

torch picks its CPU kernels at run time. The same training on two machines
gives different floats when they pick differently, and a barely trained
model's AUC then moves by several hundredths. Three libraries choose:

* ATen's own kernels (element-wise, reductions, pooling, normalisation,
  the optimiser's updates) use the widest instruction set the CPU offers
  (``DEFAULT`` / ``AVX2`` / ``AVX512``): a reduction over 8 or 16 lanes adds
  in another order;
* MKL's GEMM (linear layers, and convolutions without oneDNN) takes a code
  path by CPU vendor, instruction set and cache sizes; its *conditional
  numerical reproducibility* (``MKL_CBWR``) fixes one path, the same on Intel
  and AMD processors;
* oneDNN's convolutions are generated at run time for the widest
  instruction set the CPU offers; ``ONEDNN_MAX_CPU_ISA`` caps it at AVX2,
  which changes nothing on an AVX2 machine. Turning oneDNN off instead
  (im2col + MKL GEMM) makes training steps several times slower
  (``benchmarks/cpu_numerics.py --onednn-off``). oneDNN also sizes some
  blockings from the CPU's caches, which no switch pins: the README check
  compares the demo's bytes on every CI machine, so a CPU on which that
  changes a number fails loudly. NNPACK (its own Winograd kernels) is
  turned off.

:func:`pin` applies one set of pins, :data:`PORTABLE_PINS`, in every
training, prediction and scoring process (``workflow.rule_job``, the
``deepfake-ensemble`` command), before the first tensor is computed. A
machine whose CPU lacks AVX2 cannot run them: :func:`pin` says so in one
line and the run goes on with what the machine has. Thread counts change
the order of parallel reductions too: the demo runs every job on one thread.

``cpu_numerics: native`` (``train.cpu_numerics``) leaves every library to
choose, the fastest on a large CPU-only cluster. GPU kernels are not pinned.

:func:`record` describes what a process computed with (written to each
model's ``start.json``); :func:`decisive_line` is the part that decides the
numbers, in one line (``tools/readme_table.py`` records it with the README's
demo tables and compares bytes only where it holds). Imports only the
standard library; torch is consulted only when the caller has loaded it.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MODES = ("portable", "native")

#: the instruction set every pinned library is held to
PORTABLE_ISA = "avx2"

#: environment variables read by torch's libraries on their first use
PORTABLE_PINS: dict[str, str] = {
    # ATen: ``default`` | ``avx2`` | ``avx512`` (only lowers what the CPU has)
    "ATEN_CPU_CAPABILITY": "avx2",
    # MKL: the AVX2 branch, bit-identical regardless of memory alignment
    "MKL_CBWR": "AVX2,STRICT",
    # oneDNN's ceiling, for any primitive still reached with it off in torch
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "DNNL_MAX_CPU_ISA": "AVX2",
}


#: what other machines would choose, forced on this one through each
#: library's own switch (benchmarks/cpu_numerics.py and the tests show that
#: each changes unpinned bytes and none changes pinned ones)
FORCED_DISPATCHES: dict[str, dict[str, str]] = {
    "aten-default": {"ATEN_CPU_CAPABILITY": "default"},
    "onednn-sse41": {"ONEDNN_MAX_CPU_ISA": "SSE41", "DNNL_MAX_CPU_ISA": "SSE41"},
    "mkl-compatible": {"MKL_CBWR": "COMPATIBLE"},
}

#: CPU flags the pinned kernels execute
REQUIRED_FLAGS = ("avx2", "fma")


def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, Any]:
    """Vendor, model name and flags of the first CPU (empty where unknown)."""
    info: dict[str, Any] = {"vendor": "", "model": "", "flags": set()}
    if not cpuinfo.is_file():
        return info
    for line in cpuinfo.read_text(errors="replace").splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "vendor_id" and not info["vendor"]:
            info["vendor"] = value
        elif key == "model name" and not info["model"]:
            info["model"] = value
        elif key in ("flags", "Features") and not info["flags"]:
            info["flags"] = set(value.split())
        if info["vendor"] and info["model"] and info["flags"]:
            break
    return info


def widest_isa(flags: set[str]) -> str:
    """The widest vector instruction set torch would use on these flags."""
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
        return "avx512"
    if "avx2" in flags:
        return "avx2"
    return "base"


def cannot_pin(machine: str | None = None, flags: set[str] | None = None) -> str | None:
    """Why this machine cannot run the portable pins (None: it can)."""
    machine = machine or platform.machine()
    if machine not in ("x86_64", "AMD64"):
        return f"the pins are x86-64 kernels; this machine is {machine}"
    flags = cpu_info()["flags"] if flags is None else flags
    missing = [f for f in REQUIRED_FLAGS if f not in flags]
    if missing:
        return f"this CPU lacks {', '.join(missing)}, which the pinned kernels use"
    return None


def pin(mode: str = "portable") -> bool:
    """Hold torch's CPU kernels to :data:`PORTABLE_PINS` (``mode`` portable);
    returns whether the pins hold in this process.

    Must run before the process computes its first tensor: the libraries read
    their settings once, on first use. ``native`` changes nothing.
    """
    if mode not in MODES:
        raise ValueError(f"cpu_numerics: {mode!r} is not one of {MODES}")
    if mode == "native":
        return False
    reason = cannot_pin()
    if reason:
        log.warning("cpu_numerics portable: %s; numbers may differ by machine", reason)
        return False
    os.environ.update(PORTABLE_PINS)
    torch = sys.modules.get("torch")
    if torch is not None:
        return pin_torch(torch)
    return True


def pin_torch(torch) -> bool:
    """The switches of the portable mode on a loaded torch; returns whether
    ATen dispatches to the pinned instruction set."""
    torch.backends.nnpack.set_flags(False)
    capability = torch.backends.cpu.get_cpu_capability()
    if capability.lower() != PORTABLE_ISA:
        log.warning(
            "cpu_numerics portable: ATen dispatches %s, not %s (it was chosen "
            "before the pins were set)",
            capability,
            PORTABLE_ISA.upper(),
        )
        return False
    return True


def _library_versions(torch) -> dict[str, str]:
    shown = torch.__config__.show()
    mkl = re.search(r"Math Kernel Library Version ([\w.\-]+)", shown)
    onednn = re.search(r"MKL-DNN v([\w.]+)", shown)
    return {
        "torch": str(torch.__version__),
        "mkl": mkl.group(1) if mkl else "none",
        "onednn": onednn.group(1) if onednn else "none",
    }


def pins_set() -> bool:
    """Whether this process's environment carries :data:`PORTABLE_PINS`."""
    return all(os.environ.get(k) == v for k, v in PORTABLE_PINS.items())


def record(mode: str | None = None) -> dict[str, Any]:
    """What this process computes with: the software and its pins (which
    decide the numbers) and the CPU (which, pinned, does not). ``mode``
    defaults to what the environment says (:func:`pins_set`)."""
    if mode is None:
        mode = "portable" if pins_set() else "native"
    info = cpu_info()
    out: dict[str, Any] = {
        "mode": mode,
        "cpu": {
            "vendor": info["vendor"],
            "model": info["model"],
            "isa": widest_isa(info["flags"]),
            "machine": platform.machine(),
        },
    }
    torch = sys.modules.get("torch")
    if torch is None:
        return out
    pinned = mode == "portable" and cannot_pin() is None
    out.update(_library_versions(torch))
    out["threads"] = torch.get_num_threads()
    out["capability"] = torch.backends.cpu.get_cpu_capability()
    out["pins"] = (
        {
            **{k: os.environ.get(k, "") for k in PORTABLE_PINS},
            "nnpack": "off",
        }
        if pinned
        else {}
    )
    out["pinned"] = bool(
        pinned
        and out["capability"].lower() == PORTABLE_ISA
        and pins_set()
        and not torch._C._get_nnpack_enabled()
    )
    return out


def decisive_line(rec: dict[str, Any]) -> str:
    """:func:`decisive` as one line: equal lines, equal numbers."""
    pins = " ".join(f"{k}={v}" for k, v in sorted((rec.get("pins") or {}).items()))
    head = (
        f"torch {rec.get('torch', '?')}, MKL {rec.get('mkl', '?')}, "
        f"oneDNN {rec.get('onednn', '?')}, {rec.get('threads', '?')} thread(s)"
    )
    if rec.get("pinned"):
        return f"{head}, pinned: {pins}"
    return f"{head}, unpinned ({rec.get('mode')}) on {machine_line(rec)}"


def machine_line(rec: dict[str, Any]) -> str:
    """The CPU of a record, in words."""
    cpu = rec.get("cpu", {})
    return (
        f"{cpu.get('vendor', '?')} {cpu.get('model', '?')} "
        f"({cpu.get('machine', '?')}, {cpu.get('isa', '?')})"
    )


def fingerprint_line(rec: dict[str, Any]) -> str:
    """What decides the numbers, and the machine that made them."""
    return f"{decisive_line(rec)}; made on {machine_line(rec)}"
