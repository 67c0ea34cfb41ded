"""tools/config_doc.py: docs/configuration-reference.md is the schema's."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "config_doc.py"
SCHEMA = ROOT / "config" / "schema" / "config.schema.yaml"
PAGE = ROOT / "docs" / "configuration-reference.md"


def run(*args):
    return subprocess.run(
        [sys.executable, str(TOOL), *args], capture_output=True, text=True
    )


def test_the_reference_is_up_to_date():
    done = run("--check")
    assert done.returncode == 0, done.stderr
    text = PAGE.read_text()
    for key in ("`train.cpu_numerics`", "`datasets[].root`", "`models.<model>.epochs`"):
        assert key in text


def test_check_fails_in_one_line_when_the_schema_changed(tmp_path):
    schema = tmp_path / "config.schema.yaml"
    text = SCHEMA.read_text()
    schema.write_text(text)
    assert run("--check", "--schema", str(schema)).returncode == 0

    changed = text.replace("default: portable", "default: native", 1)
    assert changed != text
    schema.write_text(changed)
    stale = run("--check", "--schema", str(schema))
    assert stale.returncode == 1
    assert len(stale.stderr.strip().splitlines()) == 1 and "stale" in stale.stderr

    # --out writes a page that then checks
    out = tmp_path / "reference.md"
    assert run("--schema", str(schema), "--out", str(out)).returncode == 0
    assert "| `native` |" in out.read_text()
    assert run("--check", "--schema", str(schema), "--out", str(out)).returncode == 0
    missing = run("--check", "--out", str(tmp_path / "none.md"))
    assert missing.returncode == 1 and "missing" in missing.stderr
