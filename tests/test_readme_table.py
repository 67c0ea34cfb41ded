"""tools/readme_table.py: the demo blocks (README.md, docs/cross-dataset.md)
are copies of results files."""

import json
import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "tools" / "readme_table.py"

README = """# project

<!-- demo-summary:begin -->
<!-- demo-summary:end -->

text after
"""

CROSS = """# cross-dataset

text between

<!-- demo-cross:begin -->
stale
<!-- demo-cross:end -->
"""


def run(root, *args):
    return subprocess.run(
        [sys.executable, str(TOOL), "--root", str(root), *args],
        capture_output=True,
        text=True,
    )


def numerics_record(vendor="GenuineIntel", torch="2.14.1", pinned=True, mode=None):
    """A model's numerics record (``start.json``) as numerics.record writes."""
    return {
        "mode": mode or ("portable" if pinned else "native"),
        "cpu": {"vendor": vendor, "model": "X", "isa": "avx512", "machine": "x86_64"},
        "torch": torch,
        "mkl": "2024.2",
        "onednn": "3.12.0",
        "threads": 1,
        "capability": "AVX2" if pinned else "AVX512",
        "pins": {"ATEN_CPU_CAPABILITY": "avx2"} if pinned else {},
        "pinned": pinned,
    }


def record_models(models: Path, *records) -> None:
    for i, rec in enumerate(records):
        path = models / "pooled" / f"m{i}" / "start.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"model": f"m{i}", "numerics": rec}))


def test_write_copies_each_block_and_check_catches_a_change(tmp_path):
    (tmp_path / "README.md").write_text(README)
    page = tmp_path / "docs" / "cross-dataset.md"
    page.parent.mkdir()
    page.write_text(CROSS)
    summary = tmp_path / "results" / "summary.md"
    summary.parent.mkdir()
    summary.write_text("# Demo\n\n| a | b |\n|---|---|\n| 1 | 0.9 |\n")
    record_models(tmp_path / "results" / "models", numerics_record(), numerics_record())

    # only the pooled demo ran: its block is written, the cross block is kept
    assert run(tmp_path, "--write").returncode == 0
    text = (tmp_path / "README.md").read_text()
    assert (
        "#### Demo\n\n| a | b |\n|---|---|\n| 1 | 0.9 |\n<!-- demo-summary:end" in text
    )
    assert 'numerics="torch 2.14.1, MKL 2024.2, oneDNN 3.12.0, 1 thread(s), ' in text
    assert 'pinned: ATEN_CPU_CAPABILITY=avx2" machine="GenuineIntel X' in text
    assert page.read_text() == CROSS
    ok = run(tmp_path, "--check", "--block", "demo-summary")
    assert ok.returncode == 0 and "byte for byte" in ok.stdout
    missing = run(tmp_path, "--check")
    assert missing.returncode == 1 and "make demo-cross" in missing.stderr

    cross = tmp_path / "results" / "demo-cross" / "results" / "cross_dataset.md"
    cross.parent.mkdir(parents=True)
    cross.write_text("## Matrix\nx\n")
    assert run(tmp_path, "--check").returncode == 1
    assert run(tmp_path, "--write").returncode == 0
    assert (
        "<!-- demo-cross:begin -->\n#### Matrix\nx\n<!-- demo-cross:end"
        in page.read_text()
    )
    assert "demo-cross" not in (tmp_path / "README.md").read_text()
    assert run(tmp_path, "--check").returncode == 0

    summary.write_text("# Demo\n\n| a | b |\n|---|---|\n| 1 | 0.8 |\n")
    changed = run(tmp_path, "--check", "--block", "demo-summary")
    assert changed.returncode == 1
    assert "-| 1 | 0.9 |" in changed.stdout and "+| 1 | 0.8 |" in changed.stdout
    assert "with the same numerics" in changed.stderr


def test_check_compares_bytes_across_cpus_and_fails_when_the_numerics_change(
    tmp_path,
):
    (tmp_path / "README.md").write_text(README)
    summary = tmp_path / "results" / "summary.md"
    summary.parent.mkdir()
    summary.write_text("# Demo\n| 1 | 0.9 |\n")
    models = tmp_path / "results" / "models"
    record_models(models, numerics_record(vendor="GenuineIntel"))
    assert run(tmp_path, "--write", "--block", "demo-summary").returncode == 0

    # pinned on another CPU vendor: the same numerics, so bytes are compared
    record_models(models, numerics_record(vendor="AuthenticAMD"))
    assert run(tmp_path, "--check", "--block", "demo-summary").returncode == 0
    summary.write_text("# Demo\n| 1 | 0.8 |\n")
    moved = run(tmp_path, "--check", "--block", "demo-summary")
    assert moved.returncode == 1 and "+| 1 | 0.8 |" in moved.stdout

    # another torch: the README is stale even where the bytes happen to agree
    summary.write_text("# Demo\n| 1 | 0.9 |\n")
    record_models(models, numerics_record(torch="2.15.0"))
    newer = run(tmp_path, "--check", "--block", "demo-summary")
    assert newer.returncode == 1
    assert "this run with [torch 2.15.0" in newer.stderr

    # unpinned by choice (native): its numbers are the machine's, a failure
    record_models(models, numerics_record(pinned=False))
    native = run(tmp_path, "--check", "--block", "demo-summary")
    assert native.returncode == 1 and "unpinned (native)" in native.stderr

    # a machine that cannot hold the pins: one line, not compared, not a match
    record_models(models, numerics_record(pinned=False, mode="portable"))
    summary.write_text("# Demo\n| 1 | 0.7 |\n")
    unable = run(tmp_path, "--check", "--block", "demo-summary")
    assert unable.returncode == 0
    assert unable.stderr.startswith("not compared: demo-summary: this machine")
    assert len(unable.stderr.strip().splitlines()) == 1
    assert "matches" not in unable.stdout


def test_models_trained_with_different_numerics_are_an_error(tmp_path):
    (tmp_path / "README.md").write_text(README)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "summary.md").write_text("# Demo\n")
    record_models(
        tmp_path / "results" / "models",
        numerics_record(),
        numerics_record(torch="2.15.0"),
    )
    mixed = run(tmp_path, "--write")
    assert mixed.returncode == 1 and "different numerics" in mixed.stderr
