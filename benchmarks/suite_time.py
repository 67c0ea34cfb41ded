"""Where the test suite's time goes: ``make test`` timed, with the CPU it
burns, on the machine and in the suite's own processes.

Runs the README's test command (``make test``, every worker recording when
each of its tests starts and ends) while sampling the machine's CPU time from
``/proc/stat``, and reports:

* the wall time and the test count;
* the CPU seconds of the suite's process tree (pytest, its workers and every
  program they start and wait for) and of the whole machine meanwhile. The
  difference is what runs outside that tree: the SLURM jobs the cluster tests
  submit, which slurmd starts;
* the floor the machine's CPU time sets on the wall time (CPU seconds over
  the cores), and how busy the cores were;
* the ten slowest test steps, and the span of each test module on its worker.

::

    .venv/bin/python benchmarks/suite_time.py [--workers 3] \
        [--write docs/benchmarks.md]

Run it on an otherwise idle machine with the SLURM test cluster started
(``tools/slurm/cluster.sh start``), as ``.ci/run`` does.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _markdown import ROOT, write_table

#: the pytest plugin each worker loads: one line per test start and end
PLUGIN = """
import json, os, resource, time

_out = None
_record = True


def pytest_configure(config):
    # pytest-xdist's controller sees every worker's tests too: only the
    # workers (or a run without workers) record
    global _record
    _record = hasattr(config, "workerinput") or not config.getoption(
        "numprocesses", None
    )


def _write(kind, nodeid):
    global _out
    if not _record:
        return
    if _out is None:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        path = os.path.join(os.environ["SUITE_TIMELINE_DIR"], worker + ".jsonl")
        _out = open(path, "a", buffering=1)
    # the worker's CPU seconds and those of the programs it started and
    # waited for (workflow runs): SLURM jobs, which slurmd starts, are not in
    who = (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    cpu = sum(u.ru_utime + u.ru_stime for u in map(resource.getrusage, who))
    _out.write(json.dumps([kind, time.time(), nodeid, cpu]) + "\\n")


def pytest_runtest_logstart(nodeid, location):
    _write("start", nodeid)


def pytest_runtest_logfinish(nodeid, location):
    _write("end", nodeid)
"""


def busy_seconds() -> float:
    """CPU seconds the machine has spent on anything but idling and waiting,
    summed over its cores (the first line of /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(v) for v in fields]
    idle = ticks[3] + ticks[4]  # idle, iowait
    busy = sum(ticks[:8]) - idle  # user..steal; guest time is inside user
    return busy / os.sysconf("SC_CLK_TCK")


def read_events(folder: Path) -> dict[str, list[list]]:
    """worker -> its [kind, time, test, CPU seconds] records, in order."""
    return {
        path.stem: [json.loads(line) for line in path.read_text().splitlines()]
        for path in sorted(folder.glob("*.jsonl"))
    }


def test_cpu(events: dict[str, list[list]]) -> list[tuple[str, float, float]]:
    """(test, wall seconds, CPU seconds) of every test of ``events``
    (:func:`read_events`), from its start to its end (its fixtures' setup
    included), the heaviest first."""
    rows = []
    for evs in events.values():
        open_ = {}
        for kind, t, nodeid, cpu in evs:
            if kind == "start":
                open_[nodeid] = (t, cpu)
            elif nodeid in open_:
                t0, cpu0 = open_.pop(nodeid)
                rows.append((nodeid, t - t0, cpu - cpu0))
    return sorted(rows, key=lambda r: -r[2])


def module_spans(
    events: dict[str, list[list]],
) -> dict[str, list[tuple[str, float, float, float]]]:
    """worker -> [(module, first start, last end, CPU seconds)] in order, of
    ``events`` (:func:`read_events`), times in seconds from the first test of
    the run; the CPU seconds are the worker's and those of the programs it
    ran, from the module's first test to its last."""
    t0 = min(e[1] for evs in events.values() for e in evs)
    spans = {}
    for worker, evs in events.items():
        rows: list[list] = []
        for _, t, nodeid, cpu in evs:
            module = nodeid.split("::")[0].removeprefix("tests/")
            if not rows or rows[-1][0] != module:
                rows.append([module, t - t0, t - t0, cpu, cpu])
            rows[-1][2], rows[-1][4] = t - t0, cpu
        spans[worker] = [(m, a, b, end - start) for m, a, b, start, end in rows]
    return spans


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, help="TEST_WORKERS (the Makefile's)")
    ap.add_argument("--write", type=Path)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="suite-time-") as tmp:
        tmp = Path(tmp)
        (tmp / "suite_timeline.py").write_text(PLUGIN)
        (tmp / "events").mkdir()
        env = {
            **os.environ,
            "SUITE_TIMELINE_DIR": str(tmp / "events"),
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(tmp), os.environ.get("PYTHONPATH")) if p
            ),
        }
        pytest_args = "PYTEST_ARGS=-p suite_timeline --durations=10"
        cmd = ["make", "-C", str(ROOT), "test", pytest_args]
        if args.workers:
            cmd.append(f"TEST_WORKERS={args.workers}")
        samples: list[float] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(1.0):
                samples.append(busy_seconds())

        before = busy_seconds()
        thread = threading.Thread(target=sample, daemon=True)
        t0 = time.perf_counter()
        thread.start()
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        stop.set()
        machine_cpu = busy_seconds() - before
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        tree_cpu = usage.ru_utime + usage.ru_stime
        out = done.stdout + done.stderr
        if done.returncode:
            sys.exit(f"make test failed ({done.returncode}):\n{out[-4000:]}")
        events = read_events(tmp / "events")
    spans, tests = module_spans(events), test_cpu(events)

    result = re.findall(r"=+ (\d+) passed[^=]* in ([\d.]+)s", out)
    passed = int(result[-1][0]) if result else 0
    slow = re.findall(r"^([\d.]+)s (call|setup|teardown)\s+(\S+)$", out, re.MULTILINE)
    cores = os.cpu_count() or 1
    md = [
        f"`make test` ({args.workers or 'the Makefile’s'} workers, {cores} cores): "
        f"**{passed} passed in {wall:.0f} s** ({wall / 60:.1f} min).",
        "",
        "| CPU time | s | min |",
        "|---|---:|---:|",
        f"| the whole machine | {machine_cpu:.0f} | {machine_cpu / 60:.1f} |",
        f"| the suite's processes (pytest, its workers, what they start) "
        f"| {tree_cpu:.0f} | {tree_cpu / 60:.1f} |",
        f"| outside them (the SLURM jobs slurmd starts, daemons) "
        f"| {machine_cpu - tree_cpu:.0f} | {(machine_cpu - tree_cpu) / 60:.1f} |",
        "",
        f"The cores were busy {machine_cpu / (wall * cores):.0%} of the wall time; "
        f"the machine's CPU time over {cores} cores sets a floor of "
        f"**{machine_cpu / cores / 60:.1f} min** on the wall time at any packing "
        "of the tests, which only less work lowers.",
        "",
        "Ten slowest steps:",
        "",
        "| s | step | test |",
        "|---:|---|---|",
        *[f"| {float(s):.0f} | {w} | `{t}` |" for s, w, t in slow[:10]],
        "",
        "The twelve modules that used the most CPU (their worker's and the "
        "programs it ran and waited for; SLURM jobs are outside):",
        "",
        "| CPU s | wall s | module |",
        "|---:|---:|---|",
        *[
            f"| {cpu:.0f} | {b - a:.0f} | `{m}` |"
            for m, a, b, cpu in sorted(
                (r for rows in spans.values() for r in rows), key=lambda r: -r[3]
            )[:12]
        ],
        "",
        "The fifteen tests that used the most CPU (setup included):",
        "",
        "| CPU s | wall s | test |",
        "|---:|---:|---|",
        *[f"| {cpu:.0f} | {w:.0f} | `{t}` |" for t, w, cpu in tests[:15]],
        "",
        "Each worker's test modules (those over 30 s), seconds from the first test:",
        "",
        "| worker | modules |",
        "|---|---|",
        *[
            f"| {w} | "
            + ", ".join(f"{m} {a:.0f}–{b:.0f}" for m, a, b, _ in rows if b - a > 30)
            + " |"
            for w, rows in sorted(spans.items())
        ],
    ]
    print("\n".join(md))
    if args.write:
        write_table(args.write, "test-suite", __file__, md)


if __name__ == "__main__":
    main()
