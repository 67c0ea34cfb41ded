"""deepfake-ensemble plan: the bill before the run, and the bill against a run.

The plan of config/ci.yaml, at the rates ``make demo``'s run measured on the
reference machine (resources/rates/*-demo-cpu.json, tools/rates_from_run.py),
is checked against the real run of that config (the ``local_ci_run``
fixture): the jobs per rule and the preprocessing submissions equal to a
dry run of the SLURM profile in the run's folder, and preprocessing CPU
seconds and each member's training seconds within BOUNDS of the plan.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import CI_CONFIG, ROOT, snakemake

from deepfake_ensemble.bundle import plan as planning

sys.path.insert(0, str(ROOT / "benchmarks"))

STUDY = ROOT / "config" / "study.yaml"
#: measured / planned seconds lie within these bounds. The plan's rates have
#: no fixed costs (per batch job: loading dlib; per epoch: the loader's start,
#: the checkpoint written) and come from a run ten times larger (the demo's
#: 400 videos, 16 steps an epoch; CI: 40 videos, 4 steps), so on CI's run
#: the plan is a lower bound. Measured / planned on the 2-core reference
#: machine while other jobs ran there: preprocessing 8.8x and 6.0x, training
#: 4.2-5.6x and 2.2-3.6x per member (two runs), hence the wide upper bound.
BOUNDS = (0.67, 15.0)


def args(*extra: str, directory: Path = ROOT) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    planning.add_arguments(parser)
    return parser.parse_args(["--directory", str(directory), *extra])


def test_rates_files_are_the_docs_blocks():
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "rates_from_docs.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_study_plan_at_full_size(tmp_path):
    plan = planning.run(args("--configfile", str(STUDY), "--nodes", "4"))
    # the stated sizes of resources/rates/datasets.json
    assert planning.load_rates("datasets")["rates"]["datasets"]["dfdc"]["videos"] == (
        119154
    )
    jobs = plan.jobs
    assert jobs["train"] == jobs["predict"] == 4
    # one job fits the 13 ensembles of the training set, one applies them:
    # one submission (group ensemble)
    assert jobs["ensemble"] == jobs["ensemble_test"] == 1
    assert jobs["ensemble_submissions"] == 1
    rows = {r.item: r.value for r in plan.rows if r.section == "submissions"}
    assert rows["ensemble"] == 1 and rows["ensemble_test"] == 0
    notes = {r.item: r.note for r in plan.rows if r.section == "submissions"}
    assert "13 ensembles" in notes["ensemble"]
    assert (
        rows["total"]
        == jobs["submissions"]
        == sum(v for k, v in rows.items() if k != "total")
    )
    # ceil(videos per split / 100) per dataset and split, 20 to a submission
    assert jobs["preprocess_submissions"] == -(-jobs["preprocess_batch"] // 20)
    assert all(v is not None for v in plan.totals.values())
    planning.write_csv(plan, tmp_path / "plan.csv")
    table = pd.read_csv(tmp_path / "plan.csv")
    assert set(table["stage"]) == {
        "preprocessing",
        "storage",
        "training",
        "submissions",
        "wall time",
    }


def test_a_member_on_several_gpus_keeps_its_gpu_hours_and_shares_its_wall_time(
    tmp_path,
):
    """models.<name>.gpus: 4: the member's training seconds per job divided
    by 4, the GPU-hours unchanged, the wall time on the nodes no longer."""
    one = planning.run(args("--configfile", str(STUDY), "--nodes", "1"))
    four_gpus = tmp_path / "gpus.yaml"
    four_gpus.write_text("models:\n  ictu_oculi:\n    gpus: 4\n")
    four = planning.run(
        args("--configfile", str(STUDY), str(four_gpus), "--nodes", "1")
    )
    assert four.totals["gpu_hours"] == one.totals["gpu_hours"]
    for key, member in four.members.items():
        single = one.members[key]
        n = 4 if key[1] == "ictu_oculi" else 1
        assert member["gpus"] == n
        assert member["train_s"] * n == pytest.approx(single["train_s"])
        assert member["predict_s"] == single["predict_s"]
    assert four.totals["wall_hours"] <= one.totals["wall_hours"]
    note = [r.note for r in four.rows if r.item.startswith("ictu_oculi on ")]
    assert note and "training on 4 GPUs" in note[0]


def test_a_declared_member_is_priced_at_its_own_measured_rate(tmp_path):
    """config/modern.yaml's sbi_b4 takes its GPU rate from
    resources/rates/member-throughput-<gpu>.json (benchmarks/
    train_throughput.py --configfile on that GPU): halve the rate there and
    its training seconds double; without the file it has none."""
    import json
    import shutil

    modern = ROOT / "config" / "modern.yaml"
    rates = tmp_path / "rates"
    shutil.copytree(planning.RATES_DIR, rates)
    measured = planning.load_rates("member-throughput", "h200")
    assert measured is not None, "no member-throughput-h200.json"

    def sbi(rates_dir):
        plan = planning.run(
            args("--configfile", str(STUDY), str(modern), "--rates-dir", str(rates_dir))
        )
        return {k: m for k, m in plan.members.items() if k[1] == "sbi_b4"}

    before = sbi(rates)
    assert before and all(m["train_s"] for m in before.values())
    doc = json.loads((rates / "member-throughput-h200.json").read_text())
    doc["rates"]["models"]["sbi_b4"]["per_s"] /= 2
    (rates / "member-throughput-h200.json").write_text(json.dumps(doc))
    for key, member in sbi(rates).items():
        assert member["train_s"] == pytest.approx(2 * before[key]["train_s"])
    (rates / "member-throughput-h200.json").unlink()
    assert all(m["train_s"] is None for m in sbi(rates).values())


def test_a_declared_member_adds_one_fit_and_one_application_job():
    """Beside declared members the ensembles over every member are fitted by
    a job of their own and applied by another, one submission together; the
    study's ensemble jobs stay as they were (tests/test_members.py: the dry
    run plans the same)."""
    study = planning.run(args("--configfile", str(STUDY)))
    modern = planning.run(
        args("--configfile", str(STUDY), str(ROOT / "config" / "modern.yaml"))
    )
    assert "ensemble_every_member" not in study.jobs
    for study_rule, every_rule in (
        ("ensemble", "ensemble_every_member"),
        ("ensemble_test", "ensemble_every_member_test"),
    ):
        assert modern.jobs[study_rule] == study.jobs[study_rule] == 1
        assert modern.jobs[every_rule] == 1
    assert modern.jobs["ensemble_submissions"] == 2
    notes = {r.item: r.note for r in modern.rows if r.section == "submissions"}
    assert "13 ensembles" in notes["ensemble"]
    assert "ensembles fitted" in notes["ensemble_every_member"]
    rows = [r for r in modern.rows if r.section == "submissions"]
    assert {r.item: r.value for r in rows}["ensemble_every_member_test"] == 0


def test_unmeasured_gpu_kind_is_said_not_guessed():
    plan = planning.run(args("--configfile", str(STUDY), "--gpu", "a100"))
    rows = [r for r in plan.rows if r.section == "training"]
    assert rows and all(r.value is None for r in rows)
    assert all("no measured rate on a100" in r.rate for r in rows)
    assert plan.totals["wall_hours"] is None


def test_plan_against_the_ci_run(local_ci_run):
    from dag_scale import count_jobs, job_stats

    plan = planning.run(
        args(
            "--configfile",
            str(CI_CONFIG),
            "--cpu",
            "demo-cpu",
            "--gpu",
            "demo-cpu",
            directory=local_ci_run,
        )
    )
    # jobs and submissions against a dry run in the run's folder with the
    # SLURM profile, everything after the split checkpoint forced (a forced
    # checkpoint would leave the batches unknown to the dry run)
    dry = snakemake(
        local_ci_run,
        "-n",
        "--forcerun",
        "preprocess_batch",
        "--profile",
        str(ROOT / "profiles" / "slurm"),
        "--configfile",
        str(CI_CONFIG),
    )
    stats = job_stats(dry.stdout + dry.stderr)
    counted = count_jobs(dry.stdout + dry.stderr)
    before = ("generate_demo", "ingest", "split")
    assert all(plan.jobs[rule] == 1 for rule in before)
    planned = {
        k: v
        for k, v in plan.jobs.items()
        if k not in (*planning.SUBMISSION_KEYS, *before)
    }
    assert planned == {k: v for k, v in stats.items() if k != "total"}
    assert plan.jobs["total"] - len(before) == stats["total"]
    assert plan.jobs["preprocess_submissions"] == counted["submissions"]
    # a training set's fits and their application: one group job
    assert counted["ensemble_submissions"] == plan.jobs["ensemble_submissions"]
    assert plan.jobs["ensemble_submissions"] == plan.jobs["ensemble"] > 0
    # the batch jobs the run ran
    results = local_ci_run / "results"
    batches = list((results / "preprocess").glob("*/*/batch-*.csv"))
    assert len(batches) == plan.jobs["preprocess_batch"]

    ratios = {}
    report = pd.read_csv(results / "preprocess" / "report.csv")
    fresh = report[~report["cached"].astype(bool)]
    ratios["preprocessing CPU s"] = fresh["seconds"].sum() / (
        plan.totals["preprocess_core_hours"] * 3600
    )
    for (train_set, model), planned in plan.members.items():
        history = pd.read_csv(results / "models" / train_set / model / "history.csv")
        ratios[f"train {model}"] = history["seconds"].sum() / planned["train_s"]
    print("measured / planned:", {k: round(v, 2) for k, v in ratios.items()})
    for what, ratio in ratios.items():
        assert BOUNDS[0] <= ratio <= BOUNDS[1], (what, ratio)
