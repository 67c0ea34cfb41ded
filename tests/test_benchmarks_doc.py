"""Every figure block of README.md and docs/*.md is written by a command.

A block is the text between ``<!-- NAME:begin ... -->`` and
``<!-- NAME:end -->``. Its NAME must appear as a block name in a file under
benchmarks/ or tools/ (the benchmark or tool that writes it); a block written
by a benchmark starts with a line naming the commit it was measured at.
tools/readme_table.py's blocks are copies of the workflow's results, checked
against them by ``make readme-check``, and carry their provenance in the
begin line instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BEGIN = re.compile(r"<!-- ([A-Za-z0-9_-]+):begin(?: [^>]*)? -->\n")
COMMIT = re.compile(r"\bcommit [0-9a-f]{7,40}\b")


def blocks() -> list[tuple[str, str, str]]:
    """(page, name, first line) of every block."""
    out = []
    for page in PAGES:
        text = page.read_text()
        for m in BEGIN.finditer(text):
            name = m.group(1)
            end = text.find(f"<!-- {name}:end -->", m.end())
            assert end >= 0, f"{page.name}: block {name} has no end line"
            first = text[m.end() : end].split("\n", 1)[0]
            out.append((page.relative_to(ROOT).as_posix(), name, first))
    return out


def writers(name: str) -> list[Path]:
    """Files under benchmarks/ and tools/ that name ``name`` as a block."""
    files = [*(ROOT / "benchmarks").rglob("*.py"), *(ROOT / "tools").rglob("*.py")]
    quoted = re.compile(rf"""["']{re.escape(name)}["']|{re.escape(name)}:begin""")
    return [f for f in files if quoted.search(f.read_text())]


def test_pages_have_blocks():
    assert len(blocks()) >= 10


@pytest.mark.parametrize(("page", "name", "first"), blocks())
def test_block_is_written_by_a_command(page, name, first):
    found = writers(name)
    assert found, f"{page}: block {name} is written by nothing in benchmarks/, tools/"
    if any(f.parent.name == "benchmarks" for f in found):
        assert COMMIT.search(first), (
            f"{page}: block {name}'s first line names no commit: {first[:120]!r}"
        )
