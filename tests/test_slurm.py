"""The whole workflow on the SLURM test cluster, through profiles/slurm: every
job a SLURM job, and the same bytes as the local run (tests/slurm_cluster.py
says what the cluster is)."""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import pytest
from conftest import (
    CI_CONFIG,
    demo_threads,
    fixture_dir,
    install_named_profiles,
)
from slurm_cluster import (
    GPU_RULES,
    parse_run,
    rule_of,
    sacct,
    slurm_snakemake,
)

from deepfake_ensemble.layout import ENSEMBLE_NAMES as ENSEMBLES
from deepfake_ensemble.numerics import FORCED_DISPATCHES, cannot_pin

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

MODELS = ["capsule", "dsp_fwa", "ictu_oculi", "xception"]
#: every forced dispatch at once: another machine's choices
FORCED_DISPATCH = {k: v for env in FORCED_DISPATCHES.values() for k, v in env.items()}


@pytest.fixture(scope="module")
def slurm_ci_run(cluster, request, tmp_path_factory) -> tuple[Path, str, float]:
    """The whole workflow on the CI config, every job submitted to SLURM, with
    the demo's thread settings (as the local run, which it is compared with),
    in the environment of another machine's CPU (every forced dispatch at
    once), which the jobs' pinned numerics must override."""
    install_named_profiles()
    workdir = fixture_dir(request, tmp_path_factory, "slurm-run")
    start = time.monotonic()
    result = slurm_snakemake(
        workdir,
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
    groups = [rule_of(s["log"]) for s in subs.values() if not s["job"].isdigit()]
    preprocess = [g for g in groups if g.startswith("group_preprocess")]
    ensembles = [g for g in groups if g.startswith("group_ensemble")]
    assert len(preprocess) + len(ensembles) == len(groups), groups
    batches = [j for j, rule in run["members"].items() if rule == "preprocess_batch"]
    assert batches, "no preprocessing batch was planned"
    assert 1 <= len(preprocess) <= math.ceil(len(batches) / 20)
    # the fits of every ensemble and their application ran as one SLURM job
    members = list(run["members"].values())
    assert len(ensembles) == members.count("ensemble") == 1
    assert members.count("ensemble_test") == 1
    fitted = {
        p.parent.name
        for p in (workdir / "results/ensembles/pooled").glob("*/weights.json")
    }
    assert fitted == set(ENSEMBLES)

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
