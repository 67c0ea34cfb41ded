"""Copy the demo's results (results/summary.md) into README.md, or check them.

    python tools/readme_table.py --write   # make readme
    python tools/readme_table.py --check   # CI: fails when the README's copy differs

The README holds the summary between the lines ``<!-- demo-summary:begin -->``
and ``<!-- demo-summary:end -->``; headings are demoted to fit the README.
Standard library only.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- demo-summary:begin -->", "<!-- demo-summary:end -->"


def block(summary_md: Path) -> str:
    lines = []
    for line in summary_md.read_text().splitlines():
        if line.startswith("#"):
            line = "####" + line.lstrip("#")
        lines.append(line.rstrip())
    return "\n".join(lines).strip() + "\n"


def replace(readme: str, text: str) -> str:
    if readme.count(BEGIN) != 1 or readme.count(END) != 1:
        raise SystemExit(f"error: README.md needs exactly one {BEGIN} and one {END}")
    head, rest = readme.split(BEGIN)
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n{text}{END}{tail}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    ap.add_argument("--summary", type=Path, default=ROOT / "results" / "summary.md")
    ap.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = ap.parse_args()
    if not args.summary.is_file():
        print(
            f"error: {args.summary} not found: run `make demo` first", file=sys.stderr
        )
        return 1
    old = args.readme.read_text()
    new = replace(old, block(args.summary))
    if args.write:
        if new != old:
            args.readme.write_text(new)
        print(f"README.md: demo results {'updated' if new != old else 'unchanged'}")
        return 0
    if new != old:
        diff = difflib.unified_diff(
            old.splitlines(), new.splitlines(), "README.md", "results/summary.md", n=0
        )
        print("\n".join(list(diff)[:60]))
        print(
            "error: README.md's demo results differ from what this commit's demo "
            "produces (results/summary.md); run `make readme` and commit",
            file=sys.stderr,
        )
        return 1
    print("README.md: demo results match results/summary.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
