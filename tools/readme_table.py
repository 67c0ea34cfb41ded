"""Copy the demos' results into README.md, or check them.

    python tools/readme_table.py --write   # make readme
    python tools/readme_table.py --check --block demo-summary   # CI

Each block of :data:`BLOCKS` sits in the README between the lines
``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` and is a copy of one
results file (headings demoted to fit the README): ``demo-summary`` of
``make demo``'s results/summary.md, ``demo-cross`` of ``make demo-cross``'s
cross_dataset.md. ``--write`` updates every block whose results file exists;
``--check`` fails when a block differs from its file (or the file is
missing). Standard library only.
"""

from __future__ import annotations

import argparse
import difflib
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


def replace(readme: str, name: str, text: str) -> str:
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if readme.count(begin) != 1 or readme.count(end) != 1:
        raise SystemExit(f"error: README.md needs exactly one {begin} and one {end}")
    head, rest = readme.split(begin)
    _, tail = rest.split(end)
    return f"{head}{begin}\n{text}{end}{tail}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    ap.add_argument(
        "--block", action="append", choices=sorted(BLOCKS), help="default: all"
    )
    ap.add_argument("--root", type=Path, default=ROOT, help="the checkout")
    args = ap.parse_args()
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
        new = replace(new, name, block(path))
    if args.write:
        if new != old:
            readme_path.write_text(new)
        print(f"README.md: demo results {'updated' if new != old else 'unchanged'}")
        return status
    if new != old:
        diff = difflib.unified_diff(
            old.splitlines(), new.splitlines(), "README.md", "results", n=0
        )
        print("\n".join(list(diff)[:60]))
        print(
            "error: README.md's demo results differ from what this commit's demos "
            "produce; run `make readme` and commit",
            file=sys.stderr,
        )
        return 1
    if status == 0:
        print("README.md: demo results match the results files")
    return status


if __name__ == "__main__":
    sys.exit(main())
