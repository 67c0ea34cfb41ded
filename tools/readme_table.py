"""Copy the demos' results into README.md and docs/, or check them.

    python tools/readme_table.py --write   # make readme
    python tools/readme_table.py --check --block demo-summary   # CI

Each block of :data:`BLOCKS` sits in its page between the lines
``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` and is a copy of one
results file (headings demoted to fit the page): ``demo-summary`` of
``make demo``'s results/summary.md in README.md, ``demo-cross`` of
``make demo-cross``'s cross_dataset.md in docs/cross-dataset.md.
``--write`` updates every block whose results file exists; ``--check``
fails when a block differs from its file (or the file is missing).

The numbers depend on what torch computed with, not on the machine: every
training and prediction job pins its CPU kernels (``train.cpu_numerics:
portable``, src/deepfake_ensemble/numerics.py) and each model's
``start.json`` records the numerics it ran with. ``--write`` records that
line with the block (``<!-- NAME:begin numerics="torch ..., pinned: ..."
machine="..." -->``; the machine is for the reader). ``--check`` compares
bytes wherever the recorded numerics hold, and fails on any difference;
where they do not hold it fails too (the software or its pins changed:
``make readme``), except on a machine that cannot run the pins at all
(no AVX2, not x86-64), which it names in one line without comparing.
Standard library only.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from deepfake_ensemble import numerics  # noqa: E402  (standard library only)

#: block name -> (results file, its run's models folder, the make target,
#: the page that holds the block)
BLOCKS = {
    "demo-summary": (
        Path("results/summary.md"),
        Path("results/models"),
        "make demo",
        Path("README.md"),
    ),
    "demo-cross": (
        Path("results/demo-cross/results/cross_dataset.md"),
        Path("results/demo-cross/results/models"),
        "make demo-cross",
        Path("docs/cross-dataset.md"),
    ),
}


def block(summary_md: Path) -> str:
    lines = []
    for line in summary_md.read_text().splitlines():
        if line.startswith("#"):
            line = "####" + line.lstrip("#")
        lines.append(line.rstrip())
    return "\n".join(lines).strip() + "\n"


def run_numerics(models: Path) -> dict | None:
    """The numerics record the run's models were trained with (None: no
    record); models trained with different numerics are an error."""
    records = {}
    for path in sorted(models.glob("*/*/start.json")):
        rec = json.loads(path.read_text()).get("numerics")
        if rec is not None:
            records[numerics.decisive_line(rec)] = rec
    if len(records) > 1:
        raise SystemExit(
            f"error: the models under {models} were trained with different "
            "numerics: " + " | ".join(records)
        )
    return next(iter(records.values()), None)


_ATTRS = r'((?: [a-z]+="[^"]*")*)'


def _markers(readme: str, name: str, page="README.md") -> tuple[re.Match, str]:
    begins = list(re.finditer(rf"<!-- {name}:begin{_ATTRS} -->", readme))
    end = f"<!-- {name}:end -->"
    if len(begins) != 1 or readme.count(end) != 1:
        raise SystemExit(
            f"error: {page} needs exactly one <!-- {name}:begin --> and one {end}"
        )
    return begins[0], end


def recorded(readme: str, name: str, page="README.md") -> dict[str, str]:
    """The attributes recorded with block ``name`` (numerics, machine)."""
    attrs = _markers(readme, name, page)[0].group(1)
    return dict(re.findall(r'([a-z]+)="([^"]*)"', attrs))


def replace(
    readme: str, name: str, text: str, attrs: dict[str, str], page="README.md"
) -> str:
    """``readme`` with block ``name`` set to ``text``, its marker carrying
    ``attrs``."""
    begin, end = _markers(readme, name, page)
    head, rest = readme[: begin.start()], readme[begin.end() :]
    _, tail = rest.split(end)
    marks = "".join(f' {k}="{v}"' for k, v in attrs.items())
    return f"{head}<!-- {name}:begin{marks} -->\n{text}{end}{tail}"


def attributes(rec: dict | None) -> dict[str, str]:
    if rec is None:
        return {}
    return {
        "numerics": numerics.decisive_line(rec),
        "machine": numerics.machine_line(rec),
    }


def check(
    old: str, name: str, text: str, rec: dict | None, source, target, page="README.md"
) -> int:
    """Compare block ``name`` of ``old`` (the text of ``page``) with ``text``;
    0 if it holds."""
    made = recorded(old, name, page)
    here = attributes(rec)
    expected = replace(old, name, text, made, page)
    same_bytes = expected == old
    if same_bytes and made.get("numerics") == here.get("numerics"):
        print(
            f"{page}: {name} matches {source} byte for byte "
            f"({here.get('numerics', 'no numerics record')})"
        )
        return 0
    if rec is not None and rec.get("mode") == "portable" and not rec.get("pinned"):
        reason = numerics.cannot_pin() or "the pins did not take effect"
        print(
            f"not compared: {name}: this machine cannot hold the portable pins "
            f"({reason}); its numbers are its own, {page}'s were made with "
            f"{made.get('numerics', 'no record')}",
            file=sys.stderr,
        )
        return 0
    if not same_bytes:
        diff = difflib.unified_diff(
            old.splitlines(), expected.splitlines(), str(page), str(source), n=0
        )
        print("\n".join(list(diff)[:60]))
    if made.get("numerics") != here.get("numerics"):
        print(
            f"error: {page}'s {name} was made with numerics "
            f"[{made.get('numerics', 'not recorded')}], this run with "
            f"[{here.get('numerics', 'not recorded')}]; run `make readme` and "
            "commit",
            file=sys.stderr,
        )
    else:
        print(
            f"error: {page}'s {name} differs from what this commit's "
            f"`{target}` produces ({source}) with the same numerics "
            f"[{here.get('numerics', 'not recorded')}]; run `make readme` and commit",
            file=sys.stderr,
        )
    return 1


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
    pages: dict[Path, list[str]] = {}  # page -> [its text, its new text]
    status = 0
    for name in args.block or list(BLOCKS):
        source, models, target, page = BLOCKS[name]
        path = args.root / source
        if not path.is_file():
            print(
                f"{'error' if args.check else 'skipped'}: {name}: {source} not "
                f"found: run `{target}` first",
                file=sys.stderr,
            )
            status = status or int(args.check)
            continue
        if page not in pages:
            text = (args.root / page).read_text()
            pages[page] = [text, text]
        old, new = pages[page]
        rec = run_numerics(args.root / models)
        if args.write:
            pages[page][1] = replace(new, name, block(path), attributes(rec), page)
        else:
            status = check(old, name, block(path), rec, source, target, page) or status
    if args.write:
        for page, (old, new) in pages.items():
            if new != old:
                (args.root / page).write_text(new)
            print(f"{page}: demo results {'updated' if new != old else 'unchanged'}")
        if not pages:
            print("demo results: none found, nothing written")
    return status


if __name__ == "__main__":
    sys.exit(main())
