"""Where the benchmarks write their figures: a marked block of a Markdown
file, with the commit it was measured at."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))


def commit() -> str:
    """The checkout's short commit hash ("unknown" outside git), or the one
    ``BENCHMARK_COMMIT`` names: a copy of the checkout carried to a GPU node
    may hold other git metadata than the commit its files are."""
    if os.environ.get("BENCHMARK_COMMIT"):
        return os.environ["BENCHMARK_COMMIT"]
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> str:
    """The machine a benchmark ran on: CPU vendor and model, the widest vector
    instruction set torch would use, the number of CPUs, and the
    GPU where the benchmark used CUDA (torch imported, a device present)."""
    from deepfake_ensemble import numerics

    info = numerics.cpu_info()
    cpu = " ".join(x for x in (info["vendor"], info["model"]) if x) or "unknown CPU"
    # the machine's CPUs, not the process's: one-core benchmarks pin themselves
    text = f"{cpu} ({numerics.widest_isa(info['flags'])}, {os.cpu_count()} CPUs)"
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        text += f", {torch.cuda.device_count()}x {torch.cuda.get_device_name(0)}"
    return text


def command(script: str, argv: list[str] | None = None) -> str:
    """The command line that ran ``script`` (a path under benchmarks/), paths
    under the checkout written relative to it."""
    args = sys.argv[1:] if argv is None else argv
    rel = []
    for a in args:
        p = Path(a)
        if p.is_absolute() and p.is_relative_to(ROOT):
            a = str(p.relative_to(ROOT))
        rel.append(a)
    name = Path(script).resolve().relative_to(ROOT)
    return shlex.join([".venv/bin/python", str(name), *rel])


def provenance(script: str, argv: list[str] | None = None) -> str:
    """The first line of a written block: the command, the commit, the
    machine."""
    return f"`{command(script, argv)}` at commit {commit()}, on {machine()}:"


def write_table(
    path: Path, name: str, script: str, lines: list[str], argv=None
) -> None:
    """Write ``lines`` (a benchmark's table) into block ``name`` of ``path``,
    below a line with the command, the commit and the machine."""
    write_block(path, name, "\n".join([provenance(script, argv), "", *lines]) + "\n")
    print(f"written: {path} (block {name})")


def write_block(path: Path, name: str, text: str) -> None:
    """Set the block between ``<!-- name:begin -->`` and ``<!-- name:end -->``
    of ``path`` to ``text`` (appended when the file has none), atomically."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    old = path.read_text() if path.is_file() else ""
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        tail = rest.split(end, 1)[1]
        new = f"{head}{begin}\n{text}{end}{tail}"
    else:
        new = f"{old.rstrip()}\n\n{begin}\n{text}{end}\n".lstrip()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(new)
    tmp.replace(path)


#: where the benchmarks write their rates, machine-readable (the plan reads them)
RATES_DIR = ROOT / "resources" / "rates"


def write_rates(
    name: str, script: str, rates: dict, argv=None, kind: str | None = None
) -> Path:
    """Write ``rates`` (a benchmark's measured figures) to
    ``resources/rates/<name>.json`` (``<name>-<kind>.json`` for a machine
    kind, e.g. a GPU model) with the command, the commit and the machine, so
    that ``deepfake-ensemble plan`` reads the figures the docs show without
    parsing Markdown."""
    from deepfake_ensemble.bundle.plan import rates_document

    doc = rates_document(
        name,
        rates,
        command=command(script, argv),
        commit=commit(),
        machine=machine(),
        source=f"written by {Path(script).resolve().relative_to(ROOT)} --write",
        kind=kind,
    )
    path = RATES_DIR / (f"{name}-{kind}.json" if kind else f"{name}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)
    print(f"written: {path.relative_to(ROOT)}")
    return path
