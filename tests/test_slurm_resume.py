"""A SLURM job cancelled in the middle of training: resubmitted with more
time, it resumes from its last epoch (tests/slurm_cluster.py says what the
cluster is). The job trains with two processes (``models.<name>.gpus: 2``,
two of the cluster's fake GPUs, gloo on its CPUs)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess

import pandas as pd
import pytest
import torch
from conftest import (
    CI_CONFIG,
    SNAKEMAKE_ENV,
    install_named_profiles,
)
from slurm_cluster import (
    SUBMITTED,
    copy_run,
    parse_run,
    rule_of,
    sacct,
    slurm_snakemake,
    slurm_snakemake_command,
    wait_for,
)

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

# the model whose training is cancelled and resumed, and its epochs there
RESUME_MODEL = "dsp_fwa"
RESUME_EPOCHS = 6
#: its processes (one per GPU)
RESUME_GPUS = 2
RESUMED = re.compile(r"resuming after epoch (\d+)", re.IGNORECASE)


def test_cancelled_training_is_resubmitted_and_resumes(cluster, local_ci_run, tmp_path):
    """scancel a running training job: Snakemake resubmits it (retries: 2,
    with a longer time limit) and the new job resumes from the last epoch.
    The training runs in a copy of the local CI run (its shards), retrained
    for more epochs through the SLURM profile."""
    install_named_profiles()
    workdir = copy_run(local_ci_run, tmp_path / "resume")
    model_dir = workdir / "results" / "models" / "pooled" / RESUME_MODEL
    shutil.rmtree(model_dir)
    (workdir / "results" / "logs" / "train" / "pooled" / f"{RESUME_MODEL}.log").unlink()
    longer = workdir / "longer.yaml"
    longer.write_text(
        f"models:\n  {RESUME_MODEL}:\n    epochs: {RESUME_EPOCHS}\n"
        f"    gpus: {RESUME_GPUS}\n"
    )
    target = f"results/models/pooled/{RESUME_MODEL}/history.csv"
    log_path = tmp_path / "snakemake.log"
    cmd = slurm_snakemake_command(
        workdir,
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
        first = wait_for(
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

        wait_for(running_with_state, 300, "an epoch's resume state", proc)
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
    # each submission asked for the model's two GPUs, for one task
    for sub in train_subs:
        assert f"gres/gpu={RESUME_GPUS}" in acct.loc[sub, "alloc_tres"], acct

    train_log = (
        workdir / "results" / "logs" / "train" / "pooled" / f"{RESUME_MODEL}.log"
    ).read_text()
    resumed = RESUMED.findall(train_log)
    assert resumed, train_log[-3000:]
    assert 1 <= int(resumed[-1]) < RESUME_EPOCHS
    history = pd.read_csv(model_dir / "history.csv")
    assert history["epoch"].tolist() == list(range(1, RESUME_EPOCHS + 1))
    # two ranks, each started as often as the other (the script once per
    # attempt), and rank 0 alone logged epochs and wrote the checkpoints
    joined = re.findall(r"rank (\d) of (\d) on", train_log)
    assert set(joined) == {("0", "2"), ("1", "2")}, joined
    assert joined.count(("0", "2")) == joined.count(("1", "2")), joined
    epochs = re.findall(r"rank (\d) \S+: \S+ epoch \d+:", train_log)
    assert epochs and set(epochs) == {"0"}, train_log[-3000:]
    for name in ("best.pt", "last.pt"):
        state = torch.load(model_dir / name, weights_only=True)
        assert (state["rank"], state["world"]) == (0, RESUME_GPUS)

    # a further run finds nothing to do
    again = slurm_snakemake(
        workdir,
        "--configfile",
        str(CI_CONFIG),
        str(longer),
        "-n",
        "--",
        target,
    )
    assert "Nothing to be done" in again.stdout + again.stderr
