"""The SLURM test cluster and what the SLURM tests read from it.

The tests of the workflow on SLURM (test_slurm*.py) need the one-node cluster
of tools/slurm/cluster.sh (`cluster.sh install start`, as root; CI does this
first). As root they start it themselves when it is installed but not
running; without it they are skipped. They run in three modules, so that
pytest-xdist's processes run them side by side: their time is mostly spent
waiting for the cluster's jobs.

They use profiles/slurm as shipped, with tests/slurm_overlay as the workflow
profile on top of it (partition `debug`, sizes that fit a 2-CPU node, status
checks every 1-2 s instead of every 30 s), and run Snakemake through
tests/slurm_snakemake.py, which keeps the plugin's checks at that pace.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
from conftest import ROOT, snakemake, snakemake_command

# the profile by name, as cluster users type it (installed by `make profile`)
PROFILE_ARGS = (
    "--profile",
    "slurm",
    "--workflow-profile",
    str(ROOT / "tests" / "slurm_overlay"),
)
GPU_RULES = {"train", "predict"}
# Snakemake with the plugin polling the test cluster at a steady pace
POLLING_MAIN = (str(ROOT / "tests" / "slurm_snakemake.py"),)


def slurm_snakemake_command(workdir: Path, *args: str) -> list[str]:
    """The command line of the workflow run through the SLURM profile."""
    return snakemake_command(workdir, *PROFILE_ARGS, *args, main=POLLING_MAIN)


def slurm_snakemake(workdir: Path, *args: str, **kwargs):
    """Run the workflow through the SLURM profile (``snakemake``'s keywords)."""
    return snakemake(workdir, *PROFILE_ARGS, *args, main=POLLING_MAIN, **kwargs)


RULE_LINE = re.compile(r"^(\s*)(?:local)?(?:rule|checkpoint) (\w+):$")
SUBMITTED = re.compile(
    r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\."
)


def sacct(run_id: str) -> pd.DataFrame:
    """Accounting records of every job of one Snakemake run (its job name)."""
    out = subprocess.run(
        [
            "sacct",
            "-X",
            "-n",
            "-P",
            "--starttime",
            "now-1days",
            "--name",
            run_id,
            "-o",
            "JobIDRaw,State,AllocTRES,ReqTRES,Timelimit,Comment",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    rows = [line.split("|") for line in out.splitlines() if line.strip()]
    columns = ["jobid", "state", "alloc_tres", "req_tres", "timelimit", "comment"]
    return pd.DataFrame(rows, columns=columns).set_index("jobid")


def parse_run(log: str) -> dict:
    """What a Snakemake run printed: its SLURM run id, the jobs it scheduled
    (Snakemake job id -> rule; group members separately) and its submissions
    (SLURM job id -> Snakemake job or group id, log file)."""
    run_id = re.search(r"SLURM run ID: (\S+)", log).group(1)
    jobs, members, current, indent = {}, {}, None, ""
    for line in log.splitlines():
        match = RULE_LINE.match(line)
        if match:
            indent, current = match.group(1), match.group(2)
            continue
        stripped = line.strip()
        if current and stripped.startswith("jobid: "):
            jobid = stripped.removeprefix("jobid: ")
            (members if indent else jobs)[jobid] = current
            current = None
    submissions = {
        slurm_id: {"job": job, "log": logfile}
        for job, slurm_id, logfile in SUBMITTED.findall(log)
    }
    return {"run_id": run_id, "jobs": jobs, "members": members, "subs": submissions}


def rule_of(logfile: str) -> str:
    """The rule (`train`) or group (`group_preprocess_...`) a submission ran,
    from its log path `.snakemake/slurm_logs/rule_<rule>/.../<jobid>.log`."""
    parts = Path(logfile).parts
    return parts[parts.index("slurm_logs") + 1].removeprefix("rule_")


def wait_for(predicate, timeout: float, what: str, proc=None):
    """Poll ``predicate`` every 0.5 s until it returns something true; fail
    after ``timeout`` s, or at once when ``proc`` (a Snakemake run) ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"snakemake ended while waiting for {what}")
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def copy_run(source: Path, dest: Path) -> Path:
    """A copy of a finished workflow run to go on with (modification times
    kept, so that Snakemake finds its outputs up to date)."""
    shutil.copytree(
        source, dest, symlinks=True, ignore=shutil.ignore_patterns("slurm_logs")
    )
    return dest
