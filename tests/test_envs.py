"""Per-rule conda environments: they parse, every rule uses one, and their
pins agree with requirements.txt (what `make setup` installs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ENVS = sorted((ROOT / "envs").glob("*.yaml"))


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


def test_every_rule_declares_a_conda_env():
    rules = {}
    for path in sorted((ROOT / "rules").glob("*.smk")):
        blocks = re.split(
            r"^(?=(?:rule|checkpoint) \w+:)", path.read_text(), flags=re.M
        )
        for block in blocks:
            match = re.match(r"(?:rule|checkpoint) (\w+):", block)
            if match:
                rules[match.group(1)] = block
    assert len(rules) >= 10
    for name, block in rules.items():
        match = re.search(r"conda:\s*\n\s*\"\.\./envs/(\w+)\.yaml\"", block)
        assert match, f"rule {name} has no conda: directive"
        assert (ROOT / "envs" / f"{match.group(1)}.yaml").exists()
