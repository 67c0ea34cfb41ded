"""The workflow as users run it: dry runs, the DAG, and the CI-sized demo end
to end (all four models, all seven ensembles, the summary and the report)."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import torch
from conftest import CI_CONFIG, ROOT, demo_threads, snakemake

from deepfake_ensemble.ingest.synthetic import synthetic_manifest, write_split_tree
from deepfake_ensemble.layout import ENSEMBLE_NAMES
from deepfake_ensemble.numerics import FORCED_DISPATCHES, cannot_pin

MODELS = ["capsule", "dsp_fwa", "ictu_oculi", "xception"]
# the study's six, our hard-voting variants and the stacker (catalog.ENSEMBLES)
ENSEMBLES = list(ENSEMBLE_NAMES)
#: every forced dispatch at once: another machine's choices
FORCED_DISPATCH = {k: v for env in FORCED_DISPATCHES.values() for k, v in env.items()}


def test_dry_run_lists_every_stage(tmp_path):
    out = snakemake(tmp_path, "-n", "--quiet", "rules").stdout
    for rule in [
        "generate_demo",
        "ingest",
        "split",
        "pack_shards",
        "preprocess_report",
        "train",
        "predict",
        "evaluate_model",
        "ensemble",
        "ensemble_test",
        "summarize",
    ]:
        assert rule in out, f"{rule} missing from the dry run:\n{out}"


def test_rulegraph_and_dag(tmp_path):
    graph = snakemake(tmp_path, "--rulegraph").stdout
    assert graph.lstrip().startswith("digraph")
    for rule in ["train", "predict", "ensemble", "summarize"]:
        assert f'label = "{rule}"' in graph
    dag = snakemake(tmp_path, "--dag").stdout
    # one node per job: a training job per model, one job fitting every
    # ensemble and one applying them (evaluation.protocol pooled: one
    # training set)
    assert dag.count('label = "train') == len(MODELS)
    assert dag.count('label = "ensemble"') == 1
    assert dag.count('label = "ensemble_test"') == 1


def test_dry_run_of_a_real_dataset_config(tmp_path):
    """A study config with a synthetic manifest and splits plans every batch."""
    write_split_tree(tmp_path, synthetic_manifest(300))
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("preprocess:\n  videos_per_job: 50\n")
    out = snakemake(
        tmp_path,
        "-n",
        "--configfile",
        str(ROOT / "config" / "dfdc.yaml"),
        str(overlay),
        "--quiet",
        "rules",
    ).stdout
    # 240 train videos -> 5 batches, 30 val -> 1, 30 test -> 1
    line = next(
        ln for ln in out.splitlines() if ln.strip().startswith("preprocess_batch")
    )
    assert int(line.split()[-1]) == 7


@pytest.mark.slow
def test_demo_workflow_end_to_end(local_ci_run):
    wd = local_ci_run
    manifest = pd.read_csv(wd / "results/manifest/videos.csv")
    assert set(manifest["label"]) == {0, 1}
    report = pd.read_csv(wd / "results/preprocess/report.csv")
    assert len(report) == len(manifest)
    for model in MODELS:
        # evaluation.protocol pooled: one training set, named pooled
        ckpt = torch.load(
            wd / f"results/models/pooled/{model}/best.pt", weights_only=True
        )
        assert ckpt["model_name"] == model
        history = pd.read_csv(wd / f"results/models/pooled/{model}/history.csv")
        assert len(history) >= 1
        for split in ("val", "test"):
            pred = pd.read_csv(wd / f"results/predictions/pooled/{model}/{split}.csv")
            assert pred["score"].between(0, 1).all()
            assert not pred.duplicated(["video_id", "frame_index"]).any()
        metrics = json.loads(
            (wd / f"results/metrics/pooled/pooled/{model}.json").read_text()
        )
        assert metrics["test"]["n_videos"] > 0
    for name in ENSEMBLES:
        metrics = json.loads(
            (
                wd / f"results/ensembles/pooled/{name}/test/pooled/metrics.json"
            ).read_text()
        )
        assert metrics["n_videos"] > 0
        members = json.loads(
            (wd / f"results/ensembles/pooled/{name}/members.json").read_text()
        )
        assert len(members["members"]) == (4 if name.startswith("all") else 2)
    summary = pd.read_csv(wd / "results/summary.csv")
    names = set(summary["name"])
    assert set(MODELS) <= names and set(ENSEMBLES) <= names
    assert (wd / "results/summary.md").read_text().count("|") > 20


@pytest.mark.slow
def test_report_is_self_contained_html(local_ci_run):
    wd = local_ci_run
    # reads the run only: no lock, as other tests may use the folder meanwhile
    snakemake(
        wd,
        "--configfile",
        str(CI_CONFIG),
        "--nolock",
        "--report",
        "results/report.html",
    )
    html = (wd / "results/report.html").read_text(errors="replace")
    assert "<html" in html.lower()
    for text in ("summary", "ROC", "training", "synthesised fakes (contact sheet)"):
        assert text.lower() in html.lower()
    # the demo draws the contact sheet of synthesised fakes from its shards
    assert (wd / "results/figures/synthesis_sheet.png").stat().st_size > 0


def _ingest_failure(tmp_path, root) -> tuple[str, str]:
    overlay = tmp_path / "bad.yaml"
    overlay.write_text(
        "demo: {generate: false}\n"
        f"datasets:\n  - {{name: dfdc, layout: dfdc, root: '{root}'}}\n"
    )
    result = snakemake(
        tmp_path,
        "--configfile",
        str(overlay),
        "--cores",
        "1",
        "results/manifest/videos.csv",
        check=False,
    )
    assert result.returncode != 0
    log = (tmp_path / "results/logs/ingest.log").read_text()
    return result.stdout + result.stderr, log


@pytest.mark.parametrize("case", ["missing root", "broken metadata.json"])
def test_bad_input_ends_the_job_with_one_line(tmp_path, case):
    """An InputError: `error: <message>` naming the file, in Snakemake's
    output and in the job's log, and no traceback anywhere."""
    root = tmp_path / "dfdc"
    if case == "broken metadata.json":
        (root / "part_0").mkdir(parents=True)
        (root / "part_0" / "metadata.json").write_text('{"a.mp4": {"label": ')
        named = str(root / "part_0" / "metadata.json")
    else:
        named = str(root)
    out, log = _ingest_failure(tmp_path, root)
    lines = [ln for ln in out.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1 and named in lines[0], out[-3000:]
    assert lines[0] in log.splitlines()
    assert "Traceback" not in out and "Traceback" not in log


#: retrained on one core by the core-count test: a frame model and the
#: eye-sequence model (tests/test_slurm.py compares every file of a whole run)
ONE_CORE_MODELS = ("dsp_fwa", "ictu_oculi")


@pytest.mark.slow
def test_core_count_and_cpu_dispatch_give_the_same_bytes(local_ci_run, tmp_path):
    """Two of the CI run's models retrained on one core, against the
    session's run on two, both with the demo's thread settings (one thread
    per training and prediction job): their prediction files are
    byte-identical, so the demo's numbers do not depend on the machine's
    core count. (Changing the threads of a job would not give the same
    bytes: torch's multi-threaded reductions sum in another order.)

    The one-core run also sees the environment of another machine: ATen
    told to use no AVX2, oneDNN held to SSE4.1, MKL on its compatible branch
    (unpinned, each changes the bytes: tests/test_numerics.py). The jobs'
    pins (train.cpu_numerics: portable) override it: the same bytes. The
    SLURM run (tests/test_slurm.py) checks every file of a whole run so."""
    forced = {} if cannot_pin() else FORCED_DISPATCH
    workdir = tmp_path / "one-core"
    # without what another test may be writing there meanwhile (scoring)
    shutil.copytree(
        local_ci_run,
        workdir,
        symlinks=True,
        ignore=shutil.ignore_patterns("locks", "incomplete", "score"),
    )
    targets = []
    for model in ONE_CORE_MODELS:
        shutil.rmtree(workdir / "results" / "models" / "pooled" / model)
        for split in ("val", "test"):
            (workdir / f"results/predictions/pooled/{model}/{split}.csv").unlink()
            targets.append(f"results/predictions/pooled/{model}/{split}.csv")
    result = snakemake(
        workdir,
        "--profile",
        str(ROOT / "profiles" / "default"),
        "--configfile",
        str(CI_CONFIG),
        *demo_threads(),
        "--cores",
        "1",
        "--",
        *targets,
        env=forced,
    )
    log = result.stdout + result.stderr
    assert log.count("rule train:") == len(ONE_CORE_MODELS), log[-3000:]
    for model in ONE_CORE_MODELS:
        start = workdir / "results" / "models" / "pooled" / model / "start.json"
        rec = json.loads(start.read_text())["numerics"]
        assert rec["pinned"] == (not cannot_pin()) and rec["threads"] == 1, rec
        one = sorted((workdir / "results" / "predictions").glob(f"**/{model}/*.csv"))
        two = sorted(
            (local_ci_run / "results" / "predictions").glob(f"**/{model}/*.csv")
        )
        assert len(one) == len(two) == 2  # val (from training) and test
        for a, b in zip(one, two, strict=True):
            assert a.read_bytes() == b.read_bytes(), a
