"""Per-rule conda environments: they parse, every rule uses one, their pins
agree with requirements.txt (what `make setup` installs), and every rule runs
in a virtual environment built from exactly its environment's pip list.

conda's channels cannot be reached here, but each env is ``python=3.11`` plus
a pip list: the same packages, so a module missing from an env fails here as
it would under ``snakemake --sdm conda``. The virtual environments are cached
in ``$DFE_ENV_CACHE`` (default ``~/.cache/deepfake-ensemble/envs``), keyed by
the hash of the pip list.
"""

from __future__ import annotations

import ast
import csv
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import CI_CONFIG, ROOT
from env_rules import RULES
from snakemake.utils import validate

ENVS = sorted((ROOT / "envs").glob("*.yaml"))
ENV_CACHE = Path(
    os.environ.get("DFE_ENV_CACHE", Path.home() / ".cache/deepfake-ensemble/envs")
)


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def env_pins(path: Path) -> dict[str, str]:
    env = yaml.safe_load(path.read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep["pip"]:
                name, version = line.split("==")
                pins[name.lower()] = version
    return pins


def test_there_is_an_env_per_rule_family():
    assert {p.stem for p in ENVS} == {"preprocess", "train", "ensemble"}


@pytest.mark.parametrize("path", ENVS, ids=[p.name for p in ENVS])
def test_env_pins_match_requirements(path):
    env = yaml.safe_load(path.read_text())
    assert "python=3.11" in env["dependencies"]
    pins = env_pins(path)
    assert pins, f"{path.name} pins nothing"
    required = requirement_pins()
    for name, version in pins.items():
        assert name in required, f"{path.name}: {name} is not in requirements.txt"
        assert required[name] == version, (
            f"{path.name}: {name}=={version} but requirements.txt has {required[name]}"
        )


#: rule files that hold no rules of a stage
GLUE_RULE_FILES = {"common", "snakemake_patches"}


def workflow_rules() -> dict[str, dict]:
    """Rule name -> its ``conda`` env stem, ``script`` path and ``stage`` (the
    rule file's stem), from rules/."""
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "--list-rules", "--quiet", "all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.returncode == 0
    rules = {}
    for path in sorted((ROOT / "rules").glob("*.smk")):
        text = path.read_text()
        for block in text.split("\nrule ")[1:] + text.split("\ncheckpoint ")[1:]:
            name = block.split(":", 1)[0].strip()
            env = block.split('"../envs/', 1)[1].split(".yaml", 1)[0]
            script = block.split('"../scripts/', 1)[1].split('"', 1)[0]
            rules[name] = {
                "env": env,
                "script": ROOT / "scripts" / script,
                "stage": path.stem,
            }
    return rules


def test_every_rule_declares_a_conda_env_and_a_script():
    rules = workflow_rules()
    assert len(rules) >= 11
    for name, rule in rules.items():
        assert (ROOT / "envs" / f"{rule['env']}.yaml").exists(), name
        assert rule["script"].exists(), name


def test_light_envs_install_no_torch():
    for stem in ("preprocess", "ensemble"):
        pins = env_pins(ROOT / "envs" / f"{stem}.yaml")
        assert not {"torch", "torchvision", "timm"} & set(pins), stem


def test_the_env_test_covers_exactly_the_rules_of_each_env():
    by_env: dict[str, set[str]] = {}
    for name, rule in workflow_rules().items():
        by_env.setdefault(rule["env"], set()).add(name)
    assert by_env == {env: rules for env, (rules, _) in RULES.items()}


def test_every_rule_file_is_a_stage_of_the_package():
    """rules/<stage>.smk <-> src/deepfake_ensemble/<stage>/ with its jobs.py."""
    stems = {p.stem for p in (ROOT / "rules").glob("*.smk")} - GLUE_RULE_FILES
    package = ROOT / "src" / "deepfake_ensemble"
    for stem in stems:
        assert (package / stem / "__init__.py").is_file(), stem
        assert (package / stem / "jobs.py").is_file(), stem
    assert {rule["stage"] for rule in workflow_rules().values()} == stems


def test_scripts_import_only_their_stage_and_the_glue():
    """Rule ``r`` of rules/<stage>.smk runs scripts/<stage>/<r>.py, which
    imports its stage's jobs module (what the env test runs) and the glue,
    and calls one function of it inside ``with rule_job(snakemake)``."""
    for name, rule in workflow_rules().items():
        stage = rule["stage"]
        assert rule["script"] == ROOT / "scripts" / stage / f"{name}.py", name
        tree = ast.parse(rule["script"].read_text())
        modules = {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        } | {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        jobs = f"deepfake_ensemble.{stage}.jobs"
        assert jobs in modules, (name, modules)
        allowed = {
            jobs,
            "sys",
            "pathlib",
            "deepfake_ensemble.workflow",
            "deepfake_ensemble.layout",
        }
        assert modules <= allowed, (name, modules - allowed)
        functions = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == jobs
            for alias in node.names
        }
        (job,) = [
            node
            for node in tree.body
            if isinstance(node, ast.With)
            and isinstance(node.items[0].context_expr, ast.Call)
            and getattr(node.items[0].context_expr.func, "id", None) == "rule_job"
        ]
        called = {
            node.func.id
            for node in ast.walk(job)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        }
        assert called & functions, (name, called)


def _record(dist_info: Path) -> dict[str, str]:
    """A distribution's installed files and their sha256 (pip's RECORD)."""
    rows = csv.reader((dist_info / "RECORD").read_text().splitlines())
    return {row[0]: row[1] for row in rows if len(row) >= 2 and row[1]}


def link_installed_files(venv: Path, reference: Path) -> int:
    """Make each file that ``venv`` installed a hard link to the same file of
    the same distribution in ``reference`` (the project's .venv), where both
    RECORDs give it the same sha256: the train env holds torch and CUDA (about
    6 GB) a second time otherwise. Scripts (paths outside site-packages) carry
    their venv's path and are left alone. Files already linked are skipped, so
    an env cached by an earlier run is linked on its next use. Returns the
    number of files that share ``reference``'s storage afterwards; 0 where the
    two are on different file systems (the copies stay)."""
    (site,) = venv.glob("lib/python*/site-packages")
    ref_site = reference / "lib" / site.parent.name / "site-packages"
    linked = 0
    for dist_info in sorted(site.glob("*.dist-info")):
        ref_info = ref_site / dist_info.name
        if not (ref_info / "RECORD").is_file():
            continue
        ref_hashes = _record(ref_info)
        for rel, digest in _record(dist_info).items():
            if rel.startswith("..") or ref_hashes.get(rel) != digest:
                continue
            target, source = site / rel, ref_site / rel
            try:
                ours, theirs = target.stat(), source.stat()
            except FileNotFoundError:
                continue
            if ours.st_size != theirs.st_size:
                continue
            if not os.path.samestat(ours, theirs):
                tmp = target.with_name(f".{target.name}.link")
                try:
                    os.link(source, tmp)
                except OSError:  # another file system: keep the copies
                    return 0
                os.replace(tmp, target)
            linked += 1
    return linked


@functools.cache
def env_python(stem: str) -> Path:
    """The interpreter of a virtual environment with exactly the env's pins,
    its files linked to the project's .venv where they are the same."""
    pins = sorted(
        f"{n}=={v}" for n, v in env_pins(ROOT / "envs" / f"{stem}.yaml").items()
    )
    key = hashlib.sha256("\n".join(pins).encode()).hexdigest()[:12]
    final = ENV_CACHE / f"{stem}-{key}"
    python = final / "bin" / "python"
    if not python.exists():
        ENV_CACHE.mkdir(parents=True, exist_ok=True)
        tmp = ENV_CACHE / f".{stem}-{key}.{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(tmp)], check=True)
        subprocess.run(
            [str(tmp / "bin/python"), "-m", "pip", "install", "--quiet", *pins],
            check=True,
        )
        # a venv's scripts carry its path: build in place of the final name
        tmp.rename(final) if not final.exists() else shutil.rmtree(tmp)
        if not python.exists():  # pragma: no cover
            raise AssertionError(f"no interpreter in {final}")
    link_installed_files(final, Path(sys.prefix))
    return python


def _fake_install(prefix: Path, files: dict[str, bytes]) -> Path:
    """A prefix with one installed distribution, ``pkg``, and its RECORD."""
    site = prefix / "lib" / "python3.11" / "site-packages"
    info = site / "pkg-1.0.dist-info"
    info.mkdir(parents=True)
    rows = []
    for rel, data in files.items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        rows.append(f"{rel},sha256={digest},{len(data)}")
    (info / "RECORD").write_text("\n".join(rows + ["pkg-1.0.dist-info/RECORD,,"]))
    return site


def test_linking_shares_only_files_with_the_same_record_hash(tmp_path):
    reference = _fake_install(
        tmp_path / "ref",
        {"pkg/a.py": b"same", "pkg/b.py": b"reference's", "../../../bin/s": b"x"},
    )
    site = _fake_install(
        tmp_path / "env",
        {"pkg/a.py": b"same", "pkg/b.py": b"the env's!!", "../../../bin/s": b"x"},
    )
    assert link_installed_files(tmp_path / "env", tmp_path / "ref") == 1
    assert (site / "pkg/a.py").samefile(reference / "pkg/a.py")
    assert (site / "pkg/b.py").read_bytes() == b"the env's!!"
    assert not (tmp_path / "env/bin/s").samefile(tmp_path / "ref/bin/s")
    # an env linked before (or cached by an earlier run) keeps its links
    assert link_installed_files(tmp_path / "env", tmp_path / "ref") == 1
    assert (site / "pkg/a.py").samefile(reference / "pkg/a.py")
    assert not list(site.rglob(".*.link"))


def test_an_env_shares_the_project_venvs_files_instead_of_copying_them():
    import numpy

    python = env_python("ensemble")
    if os.stat(python.parents[1]).st_dev != os.stat(sys.prefix).st_dev:
        pytest.skip(f"{ENV_CACHE} and {sys.prefix} are on different file systems")
    (site,) = python.parents[1].glob("lib/python*/site-packages")
    assert (site / "numpy" / "__init__.py").samefile(numpy.__file__)
    # a script carries its venv's path, so it stays the env's own file
    assert not (python.parent / "f2py").samefile(Path(sys.prefix) / "bin" / "f2py")


@pytest.fixture(scope="module")
def run_config(local_ci_run, tmp_path_factory) -> Path:
    """The CI run's config, validated (defaults filled in), as JSON."""
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    config.update(yaml.safe_load(CI_CONFIG.read_text()))
    validate(config, str(ROOT / "config/schema/config.schema.yaml"))
    config["demo"]["wheel_path"] = str(ROOT / config["demo"]["wheel"])
    path = tmp_path_factory.mktemp("env-config") / "config.json"
    path.write_text(json.dumps(config))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("stem", sorted(RULES))
def test_every_rule_runs_in_its_own_env(stem, local_ci_run, run_config, tmp_path):
    python = env_python(stem)
    result = subprocess.run(
        [
            str(python),
            str(ROOT / "tests/env_rules.py"),
            stem,
            str(local_ci_run),
            str(tmp_path),
            str(run_config),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT / "src")),
        timeout=1800,
    )
    log = tmp_path / f"{stem}.log"
    assert result.returncode == 0, (
        f"{stem}: {result.stderr[-3000:]}\n"
        f"{log.read_text()[-6000:] if log.exists() else ''}"
    )
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    if stem != "train":
        assert loaded["heavy_modules_loaded"] == [], loaded
