"""benchmarks/suite_time.py: the timeline plugin its test workers load, the
module spans read from it, and the machine's CPU counter."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import suite_time  # noqa: E402


def test_the_plugin_records_each_test_and_spans_follow_the_modules(tmp_path):
    (tmp_path / "suite_timeline.py").write_text(suite_time.PLUGIN)
    tests = tmp_path / "tests"
    tests.mkdir()
    # test_a waits 0.2 s and has a program it starts burn 0.3 s of CPU
    burn = (
        "import time; t = time.process_time()\\n"
        "while time.process_time() - t < 0.3: pass"
    )
    (tests / "test_one.py").write_text(
        "import subprocess, sys, time\n\n"
        "def test_a():\n    time.sleep(0.2)\n"
        f"    subprocess.run([sys.executable, '-c', '{burn}'], check=True)\n\n"
        "def test_b():\n    pass\n"
    )
    (tests / "test_two.py").write_text("def test_c():\n    pass\n")
    events = tmp_path / "events"
    events.mkdir()
    env = {
        **os.environ,
        "SUITE_TIMELINE_DIR": str(events),
        "PYTHONPATH": str(tmp_path),
    }
    env.pop("PYTEST_XDIST_WORKER", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "suite_timeline", "-p",
         "no:cacheprovider", "-p", "no:xdist", str(tests)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert [p.name for p in events.iterdir()] == ["main.jsonl"]
    spans = suite_time.module_spans(suite_time.read_events(events))["main"]
    assert [m for m, *_ in spans] == ["test_one.py", "test_two.py"]
    (_, a0, a1, a_cpu), (_, b0, b1, b_cpu) = spans
    assert a0 == 0 and a1 - a0 >= 0.5 and b0 >= a1 and b1 >= b0
    # the child's CPU is the module's; the sleep is not CPU
    assert 0.3 <= a_cpu < a1 - a0 + 0.3
    assert 0 <= b_cpu < 0.3
    # per test: test_a first (the heaviest), with its child's CPU
    tests = suite_time.test_cpu(suite_time.read_events(events))
    assert [t for t, _, _ in tests][0] == "tests/test_one.py::test_a"
    assert sorted(t for t, _, _ in tests) == [
        "tests/test_one.py::test_a",
        "tests/test_one.py::test_b",
        "tests/test_two.py::test_c",
    ]
    assert tests[0][1] >= 0.5 and tests[0][2] >= 0.3


def test_the_machines_busy_seconds_grow_with_work():
    before = suite_time.busy_seconds()
    start = time.process_time()
    while time.process_time() - start < 0.3:
        pass
    assert suite_time.busy_seconds() - before >= 0.25
