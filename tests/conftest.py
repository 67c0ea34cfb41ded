"""Shared fixtures: running the workflow itself in a temporary folder."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from deepfake_ensemble.workflow import THREAD_VARIABLES, limit_threads

ROOT = Path(__file__).resolve().parents[1]
SNAKEFILE = ROOT / "Snakefile"
CI_CONFIG = ROOT / "config" / "ci.yaml"


def demo_threads() -> list[str]:
    """The thread settings ``make demo`` passes to Snakemake (the Makefile's
    ``DEMO_THREADS``), so that the tests run the workflow as the demo does."""
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.startswith("DEMO_THREADS :="):
            return line.split(":=", 1)[1].split()
    raise AssertionError("Makefile: no DEMO_THREADS")


# Named profiles (`--profile slurm`) are looked up in $XDG_CONFIG_HOME/snakemake:
# the tests install them with `make profile` into a folder of their own.
PROFILE_HOME = Path(tempfile.mkdtemp(prefix="dfe-profiles-"))

# `make test` runs several test processes on two cores. A library computing
# on as many threads as there are cores in each of them (torch, OpenBLAS, both
# spin-waiting in OpenMP) slows every process down many times over (an
# accumulation test: 3.7 s alone, 101 s in the suite). So the test processes
# compute on one thread: the libraries their test modules load see these
# variables; before the first test, torch and OpenCV are told directly and
# the variables are put back (_environment_as_given), so that the programs
# the tests start (workflow runs, the CLI) get the environment as given.
# pytest-xdist's workers inherit the environment of the process that started
# them, which ran this file first: the values as given travel in _SAVED.
_SAVED = "DEEPFAKE_ENSEMBLE_TEST_THREAD_ENV"
if _SAVED not in os.environ:
    os.environ[_SAVED] = json.dumps({v: os.environ.get(v) for v in THREAD_VARIABLES})
_THREAD_ENV = json.loads(os.environ[_SAVED])
for _var in THREAD_VARIABLES:
    os.environ[_var] = "1"


#: the environment of the workflow runs the tests start: as given
SNAKEMAKE_ENV = {
    **{k: v for k, v in os.environ.items() if k not in (*THREAD_VARIABLES, _SAVED)},
    **{k: v for k, v in _THREAD_ENV.items() if v is not None},
    "PYTHONHASHSEED": "0",
    "XDG_CONFIG_HOME": str(PROFILE_HOME),
}


@pytest.fixture(scope="session", autouse=True)
def _environment_as_given():
    limit_threads(1)
    for var, value in _THREAD_ENV.items():
        if value is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = value
    os.environ.pop(_SAVED, None)


def install_named_profiles() -> Path:
    """`make profile`, as users run it; returns the installed profile link."""
    subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "profile"],
        env=SNAKEMAKE_ENV,
        check=True,
        capture_output=True,
    )
    return PROFILE_HOME / "snakemake" / "slurm"


def snakemake_command(
    workdir: Path, *args: str, main: tuple[str, ...] = ("-m", "snakemake")
) -> list[str]:
    """The command line of the project's workflow run in ``workdir``
    (``main``: what the interpreter runs, Snakemake's module by default)."""
    return [
        sys.executable,
        *main,
        "--snakefile",
        str(SNAKEFILE),
        "--directory",
        str(workdir),
        *args,
    ]


def snakemake(
    workdir: Path,
    *args: str,
    check: bool = True,
    timeout: int = 1800,
    env: dict[str, str] | None = None,
    main: tuple[str, ...] = ("-m", "snakemake"),
):
    """Run the project's workflow with this interpreter's Snakemake in
    ``workdir`` (``env``: variables added to its environment)."""
    result = subprocess.run(
        snakemake_command(workdir, *args, main=main),
        capture_output=True,
        text=True,
        env={**SNAKEMAKE_ENV, **(env or {})},
        timeout=timeout,
        cwd=workdir,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
        )
    return result


def pytest_report_header(config) -> str:
    """The free disk where the tests write, in the header of every run: a run
    that ends for lack of space then says so at its top."""
    free = shutil.disk_usage(tempfile.gettempdir()).free
    return f"free disk in {tempfile.gettempdir()}: {free / 2**30:.1f} GiB"


def fixture_dir(request: pytest.FixtureRequest, tmp_path_factory, name: str) -> Path:
    """A folder for a module- or session-scoped fixture, removed when the
    fixture ends unless a test failed meanwhile (then it is kept to look at).
    Function-scoped ``tmp_path`` folders go when their test passes
    (``tmp_path_retention_policy``), so a whole run needs little disk."""
    path = tmp_path_factory.mktemp(name)
    failed_before = request.session.testsfailed

    def remove() -> None:
        if request.session.testsfailed == failed_before:
            shutil.rmtree(path, ignore_errors=True)

    request.addfinalizer(remove)
    return path


def shared_run(request, tmp_path_factory, name: str, build) -> Path:
    """A folder that ``build(folder)`` fills once per test session, also when
    pytest-xdist runs the session in several worker processes (``make test``
    does): the first worker to ask builds it under a file lock, the others
    wait for it and read it. A failed build fails every test that asks,
    without being tried again."""
    if not hasattr(request.config, "workerinput"):
        path = fixture_dir(request, tmp_path_factory, name)
        build(path)
        return path
    # each worker's base is a folder of the session's: they share its parent
    root = tmp_path_factory.getbasetemp().parent
    path, done, failed = (root / name, root / f"{name}.done", root / f"{name}.failed")
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if failed.exists():
            raise AssertionError(f"{name}: {failed.read_text()}")
        if not done.exists():
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir()
            try:
                build(path)
            except BaseException as exc:
                failed.write_text(f"failed in another test: {exc}"[:20000])
                raise
            done.touch()
    return path


def _run_ci_config(workdir: Path) -> None:
    snakemake(
        workdir,
        "--profile",
        str(ROOT / "profiles" / "default"),
        "--configfile",
        str(CI_CONFIG),
        *demo_threads(),
        "--cores",
        "2",
    )


@pytest.fixture(scope="session")
def local_ci_run(request, tmp_path_factory) -> Path:
    """The whole workflow on the tiny CI config, run locally once per session
    on two cores, with the demo's thread settings."""
    return shared_run(request, tmp_path_factory, "local-run", _run_ci_config)


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


@pytest.fixture(scope="session")
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
        cluster_sh = ROOT / "tools" / "slurm" / "cluster.sh"
        subprocess.run([str(cluster_sh), "start"], check=True, timeout=300)
        assert _cluster_answers(), "tools/slurm/cluster.sh start left no usable node"


#: the modules that take longest, started first and longest first when
#: pytest-xdist runs the suite in several processes (`make test`), so that the
#: last modules to start are short ones and the processes end together
#: (the order of benchmarks/suite_time.py's module table: wall seconds)
SLOW_FIRST = (
    "test_slurm",
    "test_cross_dataset",
    "test_members",
    "test_slurm_resume",
    "test_slurm_score",
    "test_score",
    "test_robustness",
    "test_fetch_weights",
    "test_envs",
    "test_workflow",
    "test_numerics",
    "test_train",
    "test_demo",
)


def pytest_collection_modifyitems(config, items) -> None:
    def rank(item) -> int:
        stem = item.path.stem
        return SLOW_FIRST.index(stem) if stem in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)  # stable: the files' own order otherwise
