"""The execution profiles, as Snakemake itself resolves them (no cluster needed).

A dry run with `--profile profiles/slurm` prints, for every planned job, the
resources Snakemake resolved from the rule, the profile's `default-resources`
and `set-resources`, and the workflow profile (profiles/default, applied on top
automatically); the slurm plugin turns exactly these into sbatch options
(gpu -> --gpus, cpus_per_task -> --cpus-per-task, mem_mb -> --mem,
runtime -> -t). The dry runs start from a synthetic manifest and split, so the
preprocessing batches behind the `split` checkpoint are planned too.
"""

from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, SNAKEMAKE_ENV, install_named_profiles, snakemake
from snakemake.cli import parse_set_resources
from snakemake.profiles import ProfileConfigFileParser

from deepfake_ensemble.ingest.synthetic import synthetic_manifest, write_split_tree

SLURM_PROFILE = ROOT / "profiles" / "slurm"
DEFAULT_PROFILE = ROOT / "profiles" / "default"
OVERLAY = ROOT / "tests" / "slurm_overlay"
N_VIDEOS = 200
VIDEOS_PER_JOB = 8

RULE_LINE = re.compile(r"^(\s*)(?:local)?(?:rule|checkpoint) (\w+):$")


def write_synthetic_split(workdir: Path, n_videos: int) -> dict[str, int]:
    """A manifest and an 8:1:1 split of `n_videos` videos, as `ingest` and
    `split` would write them; returns the number of videos per split."""
    counts = write_split_tree(workdir, synthetic_manifest(n_videos))
    (workdir / "batch.yaml").write_text(
        f"preprocess:\n  videos_per_job: {VIDEOS_PER_JOB}\n"
    )
    return counts


def planned_jobs(output: str) -> list[dict]:
    """rule, jobid, wildcards (as printed), resources and group (index of the
    printed group job, or None) of every job a dry run printed."""
    jobs = []
    current = None
    n_groups, name = 0, None
    for line in output.splitlines():
        group = re.search(r"\] Group job (\w+)", line)
        if group:
            n_groups, name = n_groups + 1, group.group(1)
            continue
        match = RULE_LINE.match(line)
        if match:
            in_group = bool(match.group(1))
            current = {
                "rule": match.group(2),
                "group": n_groups if in_group else None,
                "group_name": name if in_group else None,
                "resources": {},
            }
            jobs.append(current)
            continue
        stripped = line.strip()
        if current is None:
            continue
        if stripped.startswith("jobid: "):
            current["jobid"] = int(stripped.removeprefix("jobid: "))
        elif stripped.startswith("wildcards: "):
            current["wildcards"] = stripped.removeprefix("wildcards: ")
        elif stripped.startswith("resources: "):
            items = stripped.removeprefix("resources: ").split(", ")
            current["resources"] = dict(item.split("=", 1) for item in items)
    return jobs


def printed_groups(output: str, name: str = "preprocess") -> list[frozenset[int]]:
    """The group jobs of group ``name`` a dry run printed, as sets of
    Snakemake job ids."""
    members: dict[int, set[int]] = {}
    for job in planned_jobs(output):
        if job["group_name"] == name:
            members.setdefault(job["group"], set()).add(job["jobid"])
    return [frozenset(ids) for _, ids in sorted(members.items())]


def dry_run(workdir: Path, *profile_args: str) -> str:
    """A dry run: of the CI config in an empty folder (the split not done yet,
    so no preprocessing batch is planned), or of config/dfdc.yaml on a
    synthetic split when the folder holds one."""
    if (workdir / "batch.yaml").is_file():
        configs = [str(ROOT / "config" / "dfdc.yaml"), str(workdir / "batch.yaml")]
    else:
        configs = [str(ROOT / "config" / "ci.yaml")]
    try:
        result = snakemake(
            workdir, *profile_args, "--configfile", *configs, "-n", timeout=180
        )
    except subprocess.TimeoutExpired as err:
        # Seen with Snakemake 9.27 when group jobs are merged twice (below).
        pytest.fail(f"the dry run did not end: {err}")
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def split_workdir(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    workdir = tmp_path_factory.mktemp("profiles")
    return workdir, write_synthetic_split(workdir, N_VIDEOS)


@pytest.fixture(scope="module")
def fresh_dry_run(tmp_path_factory) -> str:
    workdir = tmp_path_factory.mktemp("fresh")
    return dry_run(workdir, "--profile", str(SLURM_PROFILE))


@pytest.fixture(scope="module")
def fresh_overlay_dry_run(tmp_path_factory) -> str:
    workdir = tmp_path_factory.mktemp("fresh-overlay")
    return dry_run(
        workdir, "--profile", str(SLURM_PROFILE), "--workflow-profile", str(OVERLAY)
    )


@pytest.fixture(scope="module")
def slurm_dry_run(split_workdir) -> str:
    workdir, _ = split_workdir
    return dry_run(workdir, "--profile", str(SLURM_PROFILE))


@pytest.fixture(scope="module")
def overlay_dry_run(split_workdir) -> str:
    workdir, _ = split_workdir
    return dry_run(
        workdir,
        "--profile",
        str(SLURM_PROFILE),
        "--workflow-profile",
        str(OVERLAY),
    )


def resources_of(output: str, rule: str) -> list[dict]:
    found = [job["resources"] for job in planned_jobs(output) if job["rule"] == rule]
    assert found, f"no {rule} job in the dry run:\n{output[-3000:]}"
    return found


def test_slurm_profile_is_used_with_the_workflow_profile(fresh_dry_run):
    # profiles/default is applied on top of profiles/slurm automatically.
    assert re.search(
        r"Using profiles? \S*profiles/slurm and workflow specific profile "
        r"\S*profiles/default",
        fresh_dry_run,
    ), fresh_dry_run[-2000:]


@pytest.mark.parametrize(
    ("rule", "runtime", "mem_mb"),
    [("train", 1440, 32000), ("predict", 120, 16000)],
)
def test_gpu_rules_resolve_to_one_gpu_8_cpus_and_the_rules_memory(
    fresh_dry_run, rule, runtime, mem_mb
):
    for res in resources_of(fresh_dry_run, rule):
        assert res["gpu"] == "1", res
        assert res["cpus_per_task"] == "8", res
        assert res["mem_mb"] == str(mem_mb), res
        assert res["runtime"] == str(runtime), res
        # unset, so that sbatch uses the site's default partition and account
        assert "slurm_partition" not in res and "slurm_account" not in res, res


def test_a_member_on_two_gpus_asks_for_them_with_one_task(tmp_path):
    """models.<name>.gpus: 2 -> --gpus=2 and 16 CPUs, and tasks 0, which keeps
    the plugin from adding --ntasks-per-gpu (one task per GPU, each running
    the whole job: the known double start); train.device: cpu asks for no
    GPU."""
    two = tmp_path / "two.yaml"
    two.write_text("models:\n  xception:\n    gpus: 2\n")
    cpu = tmp_path / "cpu.yaml"
    cpu.write_text("train:\n  device: cpu\n")
    for extra, gpus in ((two, "2"), (cpu, None)):
        out = snakemake(
            tmp_path,
            "--profile",
            str(SLURM_PROFILE),
            "--configfile",
            str(ROOT / "config" / "ci.yaml"),
            str(extra),
            "-n",
            timeout=180,
        )
        jobs = planned_jobs(out.stdout + out.stderr)
        for job in jobs:
            if job["rule"] != "train":
                continue
            res = job["resources"]
            assert res["tasks"] == "0", res
            n = 2 if gpus and "model=xception" in job["wildcards"] else 1
            assert res["cpus_per_task"] == str(8 * n), (job, gpus)
            assert res["gpu"] == ("0" if gpus is None else str(n)), (job, gpus)


def test_preprocessing_batch_resolves_to_one_cpu_without_gpu(slurm_dry_run):
    for res in resources_of(slurm_dry_run, "preprocess_batch"):
        assert res["cpus_per_task"] == "1", res
        assert res["mem_mb"] == "800", res
        assert res["runtime"] == "120", res
        assert "gpu" not in res, res


def test_other_rules_get_the_default_resources_and_no_gpu(fresh_dry_run):
    jobs = planned_jobs(fresh_dry_run)
    skip = {"train", "predict", "preprocess_batch", "all"}
    others = [j for j in jobs if j["rule"] not in skip]
    assert {"ingest", "split", "pack_shards", "ensemble", "summarize"} <= {
        j["rule"] for j in others
    }
    for job in others:
        res = job["resources"]
        assert "gpu" not in res, job
        # rules without own values get 1 CPU (their threads), 4 GB, 60 min
        assert res["cpus_per_task"] == "1", job
        assert int(res["mem_mb"]) >= 4000, job
        assert int(res["runtime"]) >= 60, job


def test_preprocessing_batches_are_submitted_twenty_per_job(
    slurm_dry_run, split_workdir
):
    _, counts = split_workdir
    n_batches = sum(math.ceil(n / VIDEOS_PER_JOB) for n in counts.values())
    jobs = planned_jobs(slurm_dry_run)
    batches = {j["jobid"] for j in jobs if j["rule"] == "preprocess_batch"}
    assert len(batches) == n_batches
    groups = printed_groups(slurm_dry_run)
    # The group jobs partition the batches, 20 batches each (the last fewer).
    # (Snakemake 9.27 merges already merged groups again when the DAG is
    # post-processed twice with the same pending jobs, as here with the split
    # done: groups of 400 batches and batches in two group jobs. The workflow
    # works around it in rules/common.smk.)
    assert sum(len(g) for g in groups) == n_batches, [len(g) for g in groups]
    assert set().union(*groups) == batches
    assert sorted(len(g) for g in groups)[1:] == [20] * (len(groups) - 1)
    assert len(groups) == math.ceil(n_batches / 20)


def test_a_training_sets_fits_and_application_are_one_submission(slurm_dry_run):
    """Group `ensemble`: every group job holds one training set's fits (rule
    ensemble, every ensemble) and their application (ensemble_test), the
    same wildcards; no fit or application is submitted on its own."""
    jobs = planned_jobs(slurm_dry_run)
    rules = {"ensemble", "ensemble_test"}
    assert all(j["group_name"] == "ensemble" for j in jobs if j["rule"] in rules)
    by_group: dict[int, list[dict]] = {}
    for job in jobs:
        if job["group_name"] == "ensemble":
            by_group.setdefault(job["group"], []).append(job)
    fits = [j for j in jobs if j["rule"] == "ensemble"]
    assert fits and len(by_group) == len(fits)
    for members in by_group.values():
        assert sorted(j["rule"] for j in members) == sorted(rules), members
        assert len({j["wildcards"] for j in members}) == 1, members
    assert {j["wildcards"] for j in fits} == {"train_set=pooled"}


def test_runtime_grows_with_each_attempt():
    """retries: 2, and `set-resources` runtimes are expressions of `attempt`
    (train and predict: the member's, times the attempt, from the rules;
    tests/test_members.py)."""
    with open(SLURM_PROFILE / "config.yaml") as handle:
        profile = ProfileConfigFileParser().parse(handle)
    assert profile["retries"] == "2"
    resources = parse_set_resources(profile["set-resources"])
    assert "train" not in resources  # everything from the rule
    assert "runtime" not in resources["predict"]
    for rule, per_attempt in {"preprocess_batch": 120, "score_predict": 120}.items():
        runtime = resources[rule]["runtime"]
        values = [
            runtime.evaluate(
                wildcards={},
                input=[],
                attempt=attempt,
                threads=8,
                rulename=rule,
                async_run=None,
            ).value
            for attempt in (1, 2, 3)
        ]
        assert values == [per_attempt, 2 * per_attempt, 3 * per_attempt]


def test_test_overlay_keeps_the_gpu_requests(fresh_overlay_dry_run):
    out = fresh_overlay_dry_run
    # the overlay replaces profiles/default as workflow profile; profiles/slurm stays
    using = next(ln for ln in out.splitlines() if ln.startswith("Using"))
    assert re.search(
        r"profiles? \S*profiles/slurm and workflow specific profile "
        r"\S*tests/slurm_overlay",
        using,
    ), using
    for rule in ("train", "predict"):
        for res in resources_of(out, rule):
            assert res["gpu"] == "1"
            assert res["slurm_partition"] == "debug"
            assert int(res["cpus_per_task"]) <= 2


def test_test_overlay_keeps_the_grouping(overlay_dry_run, slurm_dry_run):
    overlay_sizes = sorted(map(len, printed_groups(overlay_dry_run)))
    assert overlay_sizes == sorted(map(len, printed_groups(slurm_dry_run)))


def test_test_overlay_sets_the_same_resources_as_the_profile():
    """The overlay replaces `set-resources` as a whole: it must name the same
    rules and resources (only the sizes differ), plus `mem_mb` and the
    runtime of train and predict, which the profile leaves to the rules
    (each member's) and the 2-CPU test node must shrink, and train's
    `cpus_per_task` (from the rule too: 8 per GPU): the profile leaves train
    to its rule altogether."""
    parsed = {}
    for path in (SLURM_PROFILE, OVERLAY):
        with open(path / "config.yaml") as handle:
            profile = ProfileConfigFileParser().parse(handle)
        parsed[path] = {
            rule: set(res.keys())
            - {"slurm_partition", "mem_mb"}
            - ({"cpus_per_task"} if rule == "train" else set())
            - ({"runtime"} if rule in ("train", "predict") else set())
            for rule, res in parse_set_resources(profile["set-resources"]).items()
        }
    assert parsed[OVERLAY].pop("train") == set()
    assert parsed[OVERLAY] == parsed[SLURM_PROFILE]


def test_default_profile_runs_locally(tmp_path):
    out = dry_run(tmp_path, "--profile", str(DEFAULT_PROFILE), "--cores", "2")
    jobs = planned_jobs(out)
    train = [j for j in jobs if j["rule"] == "train"]
    assert train
    # the rule's own values; nothing of the cluster profile (train's CPUs
    # are the rule's: 8 per GPU)
    assert all(j["resources"].get("mem_mb") == "32000" for j in train)
    assert all(j["resources"].get("cpus_per_task") == "8" for j in train)
    others = [j for j in jobs if j["rule"] != "train"]
    assert not any("cpus_per_task" in j["resources"] for j in others)


def test_make_profile_installs_the_slurm_profile_by_name(tmp_path):
    """`snakemake --profile slurm`, as users type it, from the repository root
    and from a run folder elsewhere, once `make profile` has run (twice: it is
    idempotent), and the profile is a link, so edits take effect."""
    link = install_named_profiles()
    install_named_profiles()
    assert link.is_symlink() and link.resolve() == SLURM_PROFILE.resolve()
    for cwd in (ROOT, tmp_path):
        result = subprocess.run(
            [
                *snakemake_cmd(),
                "--profile",
                "slurm",
                "--directory",
                str(tmp_path),
                "--configfile",
                str(ROOT / "config" / "ci.yaml"),
                "-n",
            ],
            cwd=cwd,
            env=SNAKEMAKE_ENV,
            capture_output=True,
            text=True,
            timeout=180,
        )
        out = result.stdout + result.stderr
        assert result.returncode == 0, out[-3000:]
        assert re.search(r"Using profiles? slurm and workflow", out), out[-3000:]
        # the cluster resources of the profile reached the planned jobs
        assert resources_of(out, "train")[0]["gpu"] == "1", out[-3000:]


def snakemake_cmd() -> list[str]:
    import sys

    return [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]
