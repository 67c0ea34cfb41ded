"""Copy the demos' results into README.md, or check them.

    python tools/readme_table.py --write   # make readme
    python tools/readme_table.py --check --block demo-summary   # CI

Each block of :data:`BLOCKS` sits in the README between the lines
``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` and is a copy of one
results file (headings demoted to fit the README): ``demo-summary`` of
``make demo``'s results/summary.md, ``demo-cross`` of ``make demo-cross``'s
cross_dataset.md. ``--write`` updates every block whose results file exists;
``--check`` fails when a block differs from its file (or the file is
missing).

The demo's numbers are the same on every run on one kind of machine, but
float kernels differ by CPU instruction set and thread count (torch picks
AVX2 or AVX-512 code at run time). So ``--write`` records the machine with
the block (``<!-- NAME:begin machine="x86_64 avx512 2 cpus" -->``), and
``--check`` on another kind of machine reports the difference and does not
fail for it. Standard library only.
"""

from __future__ import annotations

import argparse
import difflib
import os
import platform
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: block name -> (results file, the make target that writes it)
BLOCKS = {
    "demo-summary": (Path("results/summary.md"), "make demo"),
    "demo-cross": (
        Path("results/demo-cross/results/cross_dataset.md"),
        "make demo-cross",
    ),
}


def block(summary_md: Path) -> str:
    lines = []
    for line in summary_md.read_text().splitlines():
        if line.startswith("#"):
            line = "####" + line.lstrip("#")
        lines.append(line.rstrip())
    return "\n".join(lines).strip() + "\n"


def machine(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The kind of machine, as far as the demo's floats depend on it: the
    architecture, the widest vector instructions torch uses, the CPUs."""
    flags: set[str] = set()
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags = set(line.split(":", 1)[1].split())
                break
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
        isa = "avx512"
    elif "avx2" in flags:
        isa = "avx2"
    else:
        isa = "base"
    return f"{platform.machine()} {isa} {os.cpu_count()} cpus"


def _markers(readme: str, name: str) -> tuple[re.Match, str]:
    begins = list(re.finditer(rf'<!-- {name}:begin(?: machine="([^"]*)")? -->', readme))
    end = f"<!-- {name}:end -->"
    if len(begins) != 1 or readme.count(end) != 1:
        raise SystemExit(
            f"error: README.md needs exactly one <!-- {name}:begin --> and one {end}"
        )
    return begins[0], end


def recorded_machine(readme: str, name: str) -> str | None:
    """The machine recorded with block ``name`` (None: not recorded)."""
    return _markers(readme, name)[0].group(1)


def replace(readme: str, name: str, text: str, on: str | None = None) -> str:
    """``readme`` with block ``name`` set to ``text``, made on machine ``on``."""
    begin, end = _markers(readme, name)
    head, rest = readme[: begin.start()], readme[begin.end() :]
    _, tail = rest.split(end)
    mark = f'<!-- {name}:begin machine="{on}" -->' if on else f"<!-- {name}:begin -->"
    return f"{head}{mark}\n{text}{end}{tail}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    ap.add_argument(
        "--block", action="append", choices=sorted(BLOCKS), help="default: all"
    )
    ap.add_argument("--root", type=Path, default=ROOT, help="the checkout")
    ap.add_argument("--machine", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    here = args.machine or machine()
    readme_path = args.root / "README.md"
    old = new = readme_path.read_text()
    status = 0
    for name in args.block or list(BLOCKS):
        source, target = BLOCKS[name]
        path = args.root / source
        if not path.is_file():
            print(
                f"{'error' if args.check else 'skipped'}: {name}: {source} not "
                f"found: run `{target}` first",
                file=sys.stderr,
            )
            status = status or int(args.check)
            continue
        if args.write:
            new = replace(new, name, block(path), here)
            continue
        made_on = recorded_machine(old, name)
        expected = replace(old, name, block(path), made_on)
        if expected == old:
            print(f"README.md: {name} matches {source}")
            continue
        diff = difflib.unified_diff(
            old.splitlines(), expected.splitlines(), "README.md", str(source), n=0
        )
        print("\n".join(list(diff)[:60]))
        if made_on and made_on != here:
            print(
                f"note: {name}: README.md's copy was made on {made_on}, this is "
                f"{here}: float kernels differ between these, so the difference "
                "above is reported, not failed",
                file=sys.stderr,
            )
            continue
        print(
            f"error: README.md's {name} differs from what this commit's "
            f"`{target}` produces ({source}); run `make readme` and commit",
            file=sys.stderr,
        )
        status = 1
    if args.write:
        if new != old:
            readme_path.write_text(new)
        print(f"README.md: demo results {'updated' if new != old else 'unchanged'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
