"""Write the plan of the study at full size into docs/cluster.md.

Runs ``deepfake-ensemble plan`` on ``config/study.yaml`` with the stated
dataset sizes of resources/rates/datasets.json (Celeb-DF v2 6,529 videos,
DFD 3,431, DFDC 119,154; mean durations as stated there) and puts its table
into the ``plan-study`` block of docs/cluster.md, under a line with the
command and the commit of the rates it read.

    .venv/bin/python tools/plan_doc.py [--check]

``--check`` exits 1 when the block differs from what the plan gives now.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _markdown import commit, write_block  # noqa: E402

from deepfake_ensemble.bundle import plan as planning  # noqa: E402

PAGE = ROOT / "docs" / "cluster.md"
BLOCK = "plan-study"
#: the cluster the block is planned for: 4 nodes of 4 H200 (80+ GiB) and 32 cores
ARGS = [
    "--configfile",
    "config/study.yaml",
    "--gpu",
    "h200",
    "--nodes",
    "4",
    "--gpus-per-node",
    "4",
    "--cores-per-node",
    "32",
    "--gpu-memory",
    "80",
]


def text() -> str:
    parser = argparse.ArgumentParser()
    planning.add_arguments(parser)
    with tempfile.TemporaryDirectory() as empty:
        # no run folder: the stated sizes, not a manifest of this checkout
        args = parser.parse_args([*ARGS, "--directory", empty])
        args.configfile = [str(ROOT / c) for c in args.configfile]
        plan = planning.run(args)
    head = (
        f"`.venv/bin/python tools/plan_doc.py` at commit {commit()}: "
        f"`deepfake-ensemble plan {shlex.join(ARGS)}`, the videos and "
        "durations of resources/rates/datasets.json:"
    )
    return "\n".join([head, "", *planning.markdown(plan)]) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    new = text()
    if args.check:
        old = PAGE.read_text()
        body = old.split(f"<!-- {BLOCK}:begin -->\n", 1)[-1].split(
            f"<!-- {BLOCK}:end", 1
        )[0]
        same = body.split("\n", 1)[-1] == new.split("\n", 1)[-1]
        print("up to date" if same else f"differs: {PAGE.name} block {BLOCK}")
        return 0 if same else 1
    write_block(PAGE, BLOCK, new)
    print(f"written: {PAGE.relative_to(ROOT)} (block {BLOCK})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
