"""`snakemake score` on the SLURM test cluster (tests/slurm_cluster.py says
what the cluster is)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import CI_CONFIG, install_named_profiles
from slurm_cluster import copy_run, parse_run, rule_of, sacct, slurm_snakemake
from test_score import assert_same_scores, run_cli

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def test_score_entry_runs_on_slurm_and_writes_the_clis_scores(
    cluster, local_ci_run, tmp_path
):
    """`snakemake score` through the SLURM profile in a copy of the CI run:
    the batches in preprocessing group jobs, each member's prediction as a GPU
    job, and results/score/scores.csv equal to `deepfake-ensemble score`."""
    install_named_profiles()
    workdir = copy_run(local_ci_run, tmp_path / "run")
    test = pd.read_csv(workdir / "results" / "splits" / "test.csv", dtype=str)
    folder = tmp_path / "videos to score"
    folder.mkdir()
    for path in test["path"].iloc[:3]:
        shutil.copy(path, folder / Path(path).name)
    (folder / "empty.mp4").write_bytes(b"")
    result = slurm_snakemake(
        workdir,
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
