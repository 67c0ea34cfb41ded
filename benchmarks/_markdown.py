"""Where the benchmarks write their figures: a marked block of a Markdown
file, with the commit it was measured at."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def commit() -> str:
    """The checkout's short commit hash ("unknown" outside git)."""
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


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
