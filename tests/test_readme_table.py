"""tools/readme_table.py: the README's demo blocks are copies of results files."""

import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "tools" / "readme_table.py"

README = """# project

<!-- demo-summary:begin -->
<!-- demo-summary:end -->

text between

<!-- demo-cross:begin -->
stale
<!-- demo-cross:end -->
"""


def run(root, *args, machine="x86_64 avx512 2 cpus"):
    return subprocess.run(
        [sys.executable, str(TOOL), "--root", str(root), "--machine", machine, *args],
        capture_output=True,
        text=True,
    )


def test_write_copies_each_block_and_check_catches_a_change(tmp_path):
    (tmp_path / "README.md").write_text(README)
    summary = tmp_path / "results" / "summary.md"
    summary.parent.mkdir()
    summary.write_text("# Demo\n\n| a | b |\n|---|---|\n| 1 | 0.9 |\n")

    # only the pooled demo ran: its block is written, the cross block is kept
    assert run(tmp_path, "--write").returncode == 0
    text = (tmp_path / "README.md").read_text()
    assert (
        "#### Demo\n\n| a | b |\n|---|---|\n| 1 | 0.9 |\n<!-- demo-summary:end" in text
    )
    assert "stale" in text and text.endswith("<!-- demo-cross:end -->\n")
    assert run(tmp_path, "--check", "--block", "demo-summary").returncode == 0
    missing = run(tmp_path, "--check")
    assert missing.returncode == 1 and "make demo-cross" in missing.stderr

    cross = tmp_path / "results" / "demo-cross" / "results" / "cross_dataset.md"
    cross.parent.mkdir(parents=True)
    cross.write_text("## Matrix\nx\n")
    assert run(tmp_path, "--check").returncode == 1
    assert run(tmp_path, "--write").returncode == 0
    assert (
        '2 cpus" -->\n#### Matrix\nx\n<!-- demo-cross:end'
        in (tmp_path / "README.md").read_text()
    )
    assert run(tmp_path, "--check").returncode == 0

    summary.write_text("# Demo\n\n| a | b |\n|---|---|\n| 1 | 0.8 |\n")
    changed = run(tmp_path, "--check", "--block", "demo-summary")
    assert changed.returncode == 1
    assert "-| 1 | 0.9 |" in changed.stdout and "+| 1 | 0.8 |" in changed.stdout

    # made on another kind of machine: the difference is shown, not failed
    other = run(tmp_path, "--check", "--block", "demo-summary", machine="arm 4 cpus")
    assert other.returncode == 0
    assert "+| 1 | 0.8 |" in other.stdout and "made on x86_64 avx512" in other.stderr
