"""The workflow on a real SLURM cluster, through profiles/slurm.

Needs the one-node cluster of tools/slurm/cluster.sh (`cluster.sh install
start`, as root; CI does this first). As root the tests start it themselves
when it is installed but not running; without it they are skipped.

The run uses profiles/slurm as shipped, with tests/slurm_overlay as the
workflow profile on top of it (partition `debug`, sizes that fit a 2-CPU
node, status checks every 1-2 s instead of every 30 s).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import (
    CI_CONFIG,
    ROOT,
    SNAKEMAKE_ENV,
    demo_threads,
    fixture_dir,
    install_named_profiles,
    snakemake,
    snakemake_command,
)

from deepfake_ensemble.numerics import FORCED_DISPATCHES, cannot_pin

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

CLUSTER_SH = ROOT / "tools" / "slurm" / "cluster.sh"
# the profile by name, as cluster users type it (installed by `make profile`)
PROFILE_ARGS = (
    "--profile",
    "slurm",
    "--workflow-profile",
    str(ROOT / "tests" / "slurm_overlay"),
)
GPU_RULES = {"train", "predict"}
MODELS = ["capsule", "dsp_fwa", "ictu_oculi", "xception"]
#: every forced dispatch at once: another machine's choices
FORCED_DISPATCH = {k: v for env in FORCED_DISPATCHES.values() for k, v in env.items()}
# the model whose training is cancelled and resumed, and its epochs there
RESUME_MODEL = "dsp_fwa"
RESUME_EPOCHS = 6

RULE_LINE = re.compile(r"^(\s*)(?:local)?(?:rule|checkpoint) (\w+):$")
SUBMITTED = re.compile(
    r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\."
)
RESUMED = re.compile(r"resuming after epoch (\d+)", re.IGNORECASE)


def _cluster_answers() -> bool:
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-p", "debug", "-o", "%a %G"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.startswith("up") and "gpu" in out.stdout


@pytest.fixture(scope="module")
def cluster():
    """The test cluster: used when it answers, started when it can be."""
    if shutil.which("sbatch") is None:
        pytest.skip(
            "SLURM is not installed: run `sudo tools/slurm/cluster.sh install start`"
        )
    if not _cluster_answers():
        if os.geteuid() != 0:
            pytest.skip(
                "the SLURM test cluster is not running and starting it needs root: "
                "run `sudo tools/slurm/cluster.sh start`"
            )
        subprocess.run([str(CLUSTER_SH), "start"], check=True, timeout=300)
        assert _cluster_answers(), "tools/slurm/cluster.sh start left no usable node"


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


@pytest.fixture(scope="module")
def slurm_ci_run(cluster, request, tmp_path_factory) -> tuple[Path, str, float]:
    """The whole workflow on the CI config, every job submitted to SLURM, with
    the demo's thread settings (as the local run, which it is compared with),
    in the environment of another machine's CPU (every forced dispatch at
    once), which the jobs' pinned numerics must override."""
    install_named_profiles()
    workdir = fixture_dir(request, tmp_path_factory, "slurm-run")
    start = time.monotonic()
    result = snakemake(
        workdir,
        *PROFILE_ARGS,
        "--configfile",
        str(CI_CONFIG),
        *demo_threads(),
        timeout=1500,
        env={} if cannot_pin() else FORCED_DISPATCH,
    )
    return workdir, result.stdout + result.stderr, time.monotonic() - start


def test_every_job_ran_as_a_slurm_job(slurm_ci_run):
    workdir, log, seconds = slurm_ci_run
    print(f"SLURM run of the CI config: {seconds:.0f} s")
    run = parse_run(log)
    subs = run["subs"]
    # Every job but the `all` target was submitted: single jobs by their
    # Snakemake id, preprocessing batches inside group jobs.
    single = {jobid for jobid, rule in run["jobs"].items() if rule != "all"}
    submitted_single = {s["job"] for s in subs.values() if s["job"].isdigit()}
    assert single == submitted_single, (single ^ submitted_single, log[-3000:])
    assert not re.search(r"^localrule (?!all:)", log, re.MULTILINE)
    groups = [s for s in subs.values() if not s["job"].isdigit()]
    batches = [j for j, rule in run["members"].items() if rule == "preprocess_batch"]
    assert batches, "no preprocessing batch was planned"
    assert 1 <= len(groups) <= math.ceil(len(batches) / 20)
    assert all(rule_of(s["log"]).startswith("group_preprocess") for s in groups)

    # SLURM accounted for exactly these jobs, all completed.
    acct = sacct(run["run_id"])
    assert set(acct.index) == set(subs), set(acct.index) ^ set(subs)
    assert (acct["state"] == "COMPLETED").all(), acct

    # GPU rules asked for and got the (fake) GPU, the others did not.
    rules = {slurm_id: rule_of(s["log"]) for slurm_id, s in subs.items()}
    assert set(rules.values()) >= GPU_RULES
    for slurm_id, rule in rules.items():
        tres = acct.loc[slurm_id, "alloc_tres"]
        has_gpu = "gres/gpu=1" in tres
        assert has_gpu == (rule in GPU_RULES), (rule, tres)
        if rule in GPU_RULES:
            assert "gres/gpu=1" in acct.loc[slurm_id, "req_tres"]


def test_slurm_run_gives_the_local_runs_bytes(slurm_ci_run, local_ci_run):
    """Another executor, one CPU per job, two jobs side by side and another
    CPU's dispatch: every prediction file, the summary and its table are
    byte-identical to the local run's (pinned numerics, one thread a job)."""
    workdir, _, _ = slurm_ci_run
    for model in MODELS:
        start = workdir / "results" / "models" / "pooled" / model / "start.json"
        rec = json.loads(start.read_text())["numerics"]
        assert rec["pinned"] == (not cannot_pin()) and rec["threads"] == 1, rec
    remote = sorted((workdir / "results" / "predictions").glob("**/*.csv"))
    local = sorted((local_ci_run / "results" / "predictions").glob("**/*.csv"))
    assert [p.relative_to(workdir) for p in remote] == [
        p.relative_to(local_ci_run) for p in local
    ]
    assert len(remote) == 2 * len(MODELS)  # val (from training) and test
    for a, b in zip(remote, local, strict=True):
        assert a.read_bytes() == b.read_bytes(), a
    for name in ("summary.csv", "summary.md"):
        one = (workdir / "results" / name).read_bytes()
        assert one == (local_ci_run / "results" / name).read_bytes(), name


def _wait_for(predicate, timeout: float, what: str, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"snakemake ended while waiting for {what}")
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_cancelled_training_is_resubmitted_and_resumes(slurm_ci_run, tmp_path):
    """scancel a running training job: Snakemake resubmits it (retries: 2,
    with a longer time limit) and the new job resumes from the last epoch."""
    source, _, _ = slurm_ci_run
    workdir = tmp_path / "resume"
    shutil.copytree(
        source, workdir, symlinks=True, ignore=shutil.ignore_patterns("slurm_logs")
    )
    model_dir = workdir / "results" / "models" / "pooled" / RESUME_MODEL
    shutil.rmtree(model_dir)
    (workdir / "results" / "logs" / "train" / "pooled" / f"{RESUME_MODEL}.log").unlink()
    longer = workdir / "longer.yaml"
    longer.write_text(f"models:\n  {RESUME_MODEL}:\n    epochs: {RESUME_EPOCHS}\n")
    target = f"results/models/pooled/{RESUME_MODEL}/history.csv"
    log_path = tmp_path / "snakemake.log"
    cmd = snakemake_command(
        workdir,
        *PROFILE_ARGS,
        "--configfile",
        str(CI_CONFIG),
        str(longer),
        "--",
        target,
    )
    with open(log_path, "w") as handle:
        proc = subprocess.Popen(
            cmd,
            cwd=workdir,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=SNAKEMAKE_ENV,
            start_new_session=True,
        )
    try:
        first = _wait_for(
            lambda: next(
                (
                    slurm_id
                    for _, slurm_id, logfile in SUBMITTED.findall(log_path.read_text())
                    if rule_of(logfile) == "train"
                ),
                None,
            ),
            300,
            "the training job's submission",
            proc,
        )
        state_file = model_dir / "resume" / "last.pt"

        def running_with_state():
            state = subprocess.run(
                ["squeue", "-h", "-j", first, "-o", "%T"],
                capture_output=True,
                text=True,
            ).stdout.strip()
            return state == "RUNNING" and state_file.is_file()

        _wait_for(running_with_state, 300, "an epoch's resume state", proc)
        subprocess.run(["scancel", first], check=True)
        proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            # Snakemake waiting on SLURM does not always stop on SIGTERM
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
            run_id = re.search(r"SLURM run ID: (\S+)", log_path.read_text())
            if run_id:
                subprocess.run(["scancel", "--name", run_id.group(1)], check=False)
    log = log_path.read_text()
    assert proc.returncode == 0, log[-5000:]

    run = parse_run(log)
    train_subs = [s for s, sub in run["subs"].items() if rule_of(sub["log"]) == "train"]
    assert len(train_subs) == 2 and train_subs[0] == first, (train_subs, log[-3000:])
    acct = sacct(run["run_id"])
    assert acct.loc[first, "state"].startswith("CANCELLED")
    assert acct.loc[train_subs[1], "state"] == "COMPLETED"
    # the second attempt asked for twice the time (runtime: 30 * attempt)
    assert acct.loc[first, "timelimit"] == "00:30:00"
    assert acct.loc[train_subs[1], "timelimit"] == "01:00:00"

    train_log = (
        workdir / "results" / "logs" / "train" / "pooled" / f"{RESUME_MODEL}.log"
    ).read_text()
    resumed = RESUMED.findall(train_log)
    assert resumed, train_log[-3000:]
    assert 1 <= int(resumed[-1]) < RESUME_EPOCHS
    history = pd.read_csv(model_dir / "history.csv")
    assert history["epoch"].tolist() == list(range(1, RESUME_EPOCHS + 1))

    # a further run finds nothing to do
    again = snakemake(
        workdir,
        *PROFILE_ARGS,
        "--configfile",
        str(CI_CONFIG),
        str(longer),
        "-n",
        "--",
        target,
    )
    assert "Nothing to be done" in again.stdout + again.stderr


def test_score_entry_runs_on_slurm_and_writes_the_clis_scores(slurm_ci_run, tmp_path):
    """`snakemake score` through the SLURM profile on the CI run's folder:
    the batches in preprocessing group jobs, each member's prediction as a GPU
    job, and results/score/scores.csv equal to `deepfake-ensemble score`."""
    from test_score import assert_same_scores, run_cli

    workdir, _, _ = slurm_ci_run
    test = pd.read_csv(workdir / "results" / "splits" / "test.csv", dtype=str)
    folder = tmp_path / "videos to score"
    folder.mkdir()
    for path in test["path"].iloc[:3]:
        shutil.copy(path, folder / Path(path).name)
    (folder / "empty.mp4").write_bytes(b"")
    result = snakemake(
        workdir,
        *PROFILE_ARGS,
        "--configfile",
        str(CI_CONFIG),
        "--config",
        f"score_input={folder}",
        "--",
        "score",
        timeout=900,
    )
    log = result.stdout + result.stderr
    run = parse_run(log)
    rules = {slurm_id: rule_of(s["log"]) for slurm_id, s in run["subs"].items()}
    assert (
        sorted(r for r in rules.values() if r == "score_predict")
        == ["score_predict"] * 4
    ), rules
    assert any(r.startswith("group_preprocess") for r in rules.values()), rules
    assert {"score_shards", "score"} <= set(rules.values()), rules
    # only the list of videos is made on the submitting machine
    local = re.findall(r"^local(?:rule|checkpoint) (\w+):", log, re.MULTILINE)
    assert local == ["score_videos"], local
    acct = sacct(run["run_id"])
    assert set(acct.index) == set(rules)
    assert (acct["state"] == "COMPLETED").all(), acct
    for slurm_id, rule in rules.items():
        has_gpu = "gres/gpu=1" in acct.loc[slurm_id, "alloc_tres"]
        assert has_gpu == (rule == "score_predict"), (rule, acct.loc[slurm_id])

    cli_out = tmp_path / "cli.csv"
    done = run_cli(
        "score",
        "--bundle",
        str(workdir / "results" / "bundle"),
        str(folder),
        "-o",
        str(cli_out),
        cwd=workdir,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same_scores(
        pd.read_csv(
            workdir / "results" / "score" / "scores.csv",
            keep_default_na=False,
            na_values=[""],
        ),
        pd.read_csv(cli_out, keep_default_na=False, na_values=[""]),
    )
