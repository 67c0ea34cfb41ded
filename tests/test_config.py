"""The config schema: defaults, rejection of unknown keys, shipped configs."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "config" / "schema" / "config.schema.yaml")
CONFIGS = sorted((ROOT / "config").glob("*.yaml"))


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_default_config_validates_and_gets_defaults():
    config = load(ROOT / "config" / "config.yaml")
    validate(config, SCHEMA)
    assert config["preprocess"]["crop_scale"] == 1.3
    assert config["preprocess"]["detector"] == "hog"
    assert config["ensemble"]["dirichlet_draws"] == 10000
    assert config["split"]["split_by"] == "group"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_validate(path):
    base = load(ROOT / "config" / "config.yaml")
    overlay = load(path)
    base.update(overlay)
    validate(base, SCHEMA)


@pytest.mark.parametrize(
    ("section", "key"),
    [("preprocess", "frame_intervall_s"), ("split", "ratio"), (None, "modles")],
)
def test_unknown_key_is_rejected_with_its_name(section, key):
    config = load(ROOT / "config" / "config.yaml")
    bad = copy.deepcopy(config)
    (bad[section] if section else bad)[key] = 1
    with pytest.raises(WorkflowError, match=key):
        validate(bad, SCHEMA)


def test_dry_run_fails_on_a_typo_naming_the_key(tmp_path):
    configfile = tmp_path / "typo.yaml"
    configfile.write_text("preprocess:\n  frame_intervall_s: 0.5\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--configfile",
            str(configfile),
            "--directory",
            str(tmp_path),
            "--snakefile",
            str(ROOT / "Snakefile"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "config key preprocess.frame_intervall_s: unknown key" in out
    assert "  value: 0.5" in out and "allowed keys here: crop_scale" in out
    # the schema itself is not dumped
    assert "additionalProperties" not in out and "Failed validating" not in out


def test_a_bad_value_names_key_value_and_rule():
    import jsonschema

    from deepfake_ensemble.config import describe_validation_error

    config = load(ROOT / "config" / "config.yaml")
    config["preprocess"]["videos_per_job"] = -3
    schema = yaml.safe_load(Path(SCHEMA).read_text())
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(config)
    )
    assert describe_validation_error(error).splitlines() == [
        "config key preprocess.videos_per_job: invalid value",
        "  value: -3",
        "  rule: minimum: 1",
    ]
