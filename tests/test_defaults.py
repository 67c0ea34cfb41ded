"""The schema is the one source of the config's defaults.

src/deepfake_ensemble/defaults.py is generated from it (tools/schema_defaults.py,
``make config-doc``) and must be current; Snakemake's validation fills the
same values; and no module of the package writes a schema default as a
literal of its own: a function parameter, a class field or a
``.get``/``.setdefault``/``.pop`` default named like a schema key reads
``DEFAULTS["<key>"]`` (or ``default("<key>")``), unless it means something
else and ALLOWED says what.
"""

from __future__ import annotations

import ast
import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from snakemake.utils import validate

from deepfake_ensemble.defaults import DEFAULTS, default

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "schema_defaults.py"
SCHEMA = ROOT / "config" / "schema" / "config.schema.yaml"
MODULE = ROOT / "src" / "deepfake_ensemble" / "defaults.py"
PACKAGE = ROOT / "src" / "deepfake_ensemble"

#: Literal defaults named like a schema key that mean something else, keyed
#: ``module:qualified function or class:parameter`` (module relative to the
#: package; ``.get`` calls are keyed by the function they are in).
ALLOWED: dict[str, str] = {
    "evaluate.ensemble.stacking:stacked_fit:n_splits": (
        "the meta-learner's inner folds for choosing C, not ensemble.crossfit_folds"
    ),
    "bundle.archive:model_card_markdown:split_by": (
        "the model card's placeholder '?' for a setting the bundle did not record"
    ),
    "bundle.archive:model_card_markdown:ratios": (
        "the model card's placeholder '?' for a setting the bundle did not record"
    ),
    "bundle.archive:model_card_markdown:seed": (
        "the model card's placeholder '?' for a setting the bundle did not record"
    ),
    "ingest.demo.encode:write_video:crf": (
        "one encode call's rate factor; the demo draws each video's crf from "
        "demo.crf, a range"
    ),
    "ingest.demo.photos:detect_faces:upsample": (
        "dlib's upsampling when the demo's face photographs are read, not the "
        "preprocessing detector's preprocess.upsample"
    ),
    "ingest.synthetic:write_celebdf_tree:seed": (
        "a synthetic test folder's own seed, not a config seed"
    ),
    "evaluate.stats:wild_cluster_test:n_boot": (
        "a test's bootstrap draws (its p-value's resolution), not the "
        "intervals' resamples of ensemble.bootstrap"
    ),
    "train.synthesis:SynthesisDataset.__init__:seed": (
        "a bare synthesis dataset's own seed; training passes the run's seed "
        "(train.datasets.training_dataset)"
    ),
    "preprocess.pipeline:contact_sheet:seed": (
        "a direct call's sample of crops; the workflow passes the config's seed"
    ),
    "preprocess.faces:detection_scale:detect_scale": (
        "1.0 means no scaling; the pipeline passes preprocess.detect_scale"
    ),
    "preprocess.faces:detect_faces:detect_scale": (
        "1.0 means the whole resolution; the pipeline passes preprocess.detect_scale"
    ),
    "preprocess.faces:extract_faces:detect_scale": (
        "1.0 means the whole resolution; the pipeline passes preprocess.detect_scale"
    ),
    "preprocess.faces:FaceTracker.__init__:detect_scale": (
        "1.0 means the whole resolution; the pipeline passes preprocess.detect_scale"
    ),
    "preprocess.faces:FaceTracker.__init__:detect_every": (
        "a bare tracker searches every frame whole; the pipeline passes "
        "preprocess.detect_every"
    ),
    "preprocess.faces:FaceTracker.__init__:track_margin": (
        "a bare tracker's region margin; the pipeline passes preprocess.track_margin"
    ),
    "preprocess.shards:ShardWriter.__init__:encoding": (
        "a shard writer on its own compresses its crops; the pipeline passes "
        "preprocess.encoding"
    ),
    "train.loop:train_model:num_workers": (
        "0 loads in the calling process; train.num_workers null (choose) is "
        "resolved by the train job"
    ),
    "train.predict:infer:num_workers": (
        "0 loads in the calling process; the workflow's jobs pass their own count"
    ),
    "train.predict:predict:num_workers": (
        "0 loads in the calling process; the workflow's jobs pass their own count"
    ),
    "train.predict:predict_dataset:num_workers": (
        "0 loads in the calling process; the workflow's jobs pass their own count"
    ),
    "train.predict:score_frames:num_workers": (
        "0 loads in the calling process; the workflow's jobs pass their own count"
    ),
    "train.predict:load_checkpoint:device": (
        "a checkpoint is read onto the CPU unless a device is asked for"
    ),
}


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(TOOL), *args], capture_output=True, text=True
    )


# --- the generated module ----------------------------------------------------


def test_the_generated_module_is_current():
    done = run_tool("--check")
    assert done.returncode == 0, done.stderr


def test_check_fails_in_one_line_when_a_default_changed(tmp_path):
    out = tmp_path / "defaults.py"
    assert run_tool("--out", str(out)).returncode == 0
    assert out.read_text() == MODULE.read_text()
    assert run_tool("--check", "--out", str(out)).returncode == 0

    schema = yaml.safe_load(SCHEMA.read_text())
    ensemble = schema["properties"]["ensemble"]["properties"]
    assert ensemble["bootstrap"]["default"] == 1000
    ensemble["bootstrap"]["default"] = 999
    changed = tmp_path / "config.schema.yaml"
    changed.write_text(yaml.safe_dump(schema, sort_keys=False))
    stale = run_tool("--check", "--schema", str(changed), "--out", str(out))
    assert stale.returncode == 1
    lines = stale.stderr.strip().splitlines()
    assert len(lines) == 1 and "stale" in lines[0], stale.stderr


def test_default_returns_a_copy_and_names_an_unknown_key():
    ratios = default("split.ratios")
    ratios.append(1.0)
    assert DEFAULTS["split.ratios"] == [0.8, 0.1, 0.1]
    with pytest.raises(KeyError, match="split.ratio: the config schema"):
        default("split.ratio")


# --- the values are the schema's -------------------------------------------


def schema_defaults(schema: dict) -> dict[str, Any]:
    """Every (dotted key, default) of the schema, walked on its own here."""
    defs = schema.get("definitions") or schema.get("$defs") or {}
    out: dict[str, Any] = {}

    def resolve(node: dict) -> dict:
        ref = node.get("$ref")
        if ref is None:
            return node
        return {**defs[ref.rsplit("/", 1)[-1]], **node}

    def visit(node: dict, path: str) -> None:
        node = resolve(node)
        if path and "default" in node and not isinstance(node["default"], dict):
            out[path] = node["default"]
        props = node.get("properties") or {}
        refs = [p.get("$ref") for p in props.values()]
        done: set[str] = set()
        for key, child in props.items():
            ref = child.get("$ref")
            if ref is not None and refs.count(ref) > 1:
                if ref not in done:  # several keys share one definition
                    done.add(ref)
                    name = ref.rsplit("/", 1)[-1]
                    visit(child, f"{path}.<{name}>" if path else f"<{name}>")
                continue
            visit(child, f"{path}.{key}" if path else key)
        if isinstance(node.get("items"), dict):
            visit(node["items"], f"{path}[]")

    visit(schema, "")
    return out


def test_every_default_is_the_schemas():
    schema = yaml.safe_load(SCHEMA.read_text())
    walked = schema_defaults(schema)
    assert list(DEFAULTS) == list(walked)
    for key, value in walked.items():
        assert DEFAULTS[key] == value and type(DEFAULTS[key]) is type(value), key


def test_snakemake_fills_the_same_defaults():
    """An empty config (but for the required dataset list, and each model
    named) gets from Snakemake's validation what DEFAULTS says."""
    schema = yaml.safe_load(SCHEMA.read_text())
    models = schema["properties"]["models"]["properties"]
    base = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config = {"datasets": base["datasets"], "models": {m: {} for m in models}}
    validate(config, str(SCHEMA))

    def look_up(key: str) -> Any:
        node: Any = config
        for part in key.split("."):
            node = node[part]
        return node

    checked = 0
    for key, value in DEFAULTS.items():
        if "[]" in key:
            continue
        if "<model>" in key:
            for model in models:
                got = look_up(key.replace("<model>", model))
                assert got == value and type(got) is type(value), (key, model)
            continue
        assert look_up(key) == value and type(look_up(key)) is type(value), key
        checked += 1
    assert checked > 50


# --- no code repeats a default ------------------------------------------------


def _leaf(key: str) -> str:
    return key.rsplit(".", 1)[-1].replace("[]", "")


#: parameters that stand for a schema key under another name
ALIASES: dict[str, str] = {
    "n_boot": "ensemble.bootstrap",
    "n_draws": "ensemble.dirichlet_draws",
    "n_splits": "ensemble.crossfit_folds",
}

LEAVES: dict[str, list[str]] = {}
for _key in DEFAULTS:
    LEAVES.setdefault(_leaf(_key), []).append(_key)
for _alias, _key in ALIASES.items():
    LEAVES.setdefault(_alias, []).append(_key)


def _literal(node: ast.expr) -> tuple[bool, Any]:
    """(True, value) for a literal (``None`` is not one: it says "not given")."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None
    return value is not None, value


def _references(node: ast.expr) -> list[str]:
    """Keys read by ``DEFAULTS["k"]`` or ``default("k")`` inside ``node``."""
    keys = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Subscript):
            target = sub.value
            name = getattr(target, "id", None) or getattr(target, "attr", None)
            if name == "DEFAULTS" and isinstance(sub.slice, ast.Constant):
                keys.append(sub.slice.value)
        elif isinstance(sub, ast.Call) and sub.args:
            name = getattr(sub.func, "id", None) or getattr(sub.func, "attr", None)
            if name == "default" and isinstance(sub.args[0], ast.Constant):
                keys.append(sub.args[0].value)
    return keys


def _same(a: Any, b: Any) -> bool:
    """Equal as config values (a tuple is a list; True is not 1)."""

    def norm(v: Any) -> Any:
        if isinstance(v, tuple | list):
            return [norm(x) for x in v]
        return (type(v) is bool, v)

    return norm(a) == norm(b)


def defaults_in_code(path: Path):
    """(qualified name, parameter, default expression) of every parameter
    default, annotated class field, and ``.get``/``.setdefault``/``.pop``
    default of a constant key in the module at ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))

    def visit(node: ast.AST, scope: list[str]):
        for child in ast.iter_child_nodes(node):
            inner = scope
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                inner = [*scope, child.name]
                qual = ".".join(inner)
                a = child.args
                pos = a.posonlyargs + a.args
                for arg, d in zip(
                    pos[len(pos) - len(a.defaults) :], a.defaults, strict=True
                ):
                    yield qual, arg.arg, d
                for arg, d in zip(a.kwonlyargs, a.kw_defaults, strict=True):
                    if d is not None:
                        yield qual, arg.arg, d
            elif isinstance(child, ast.Lambda):
                a = child.args
                pos = a.posonlyargs + a.args
                qual = ".".join(scope) or "<module>"
                for arg, d in zip(
                    pos[len(pos) - len(a.defaults) :], a.defaults, strict=True
                ):
                    yield qual, arg.arg, d
            elif isinstance(child, ast.ClassDef):
                inner = [*scope, child.name]
                for stmt in child.body:
                    if (
                        isinstance(stmt, ast.AnnAssign)
                        and isinstance(stmt.target, ast.Name)
                        and stmt.value is not None
                    ):
                        yield ".".join(inner), stmt.target.id, stmt.value
            elif (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr in ("get", "setdefault", "pop")
                and len(child.args) == 2
                and isinstance(child.args[0], ast.Constant)
                and isinstance(child.args[0].value, str)
            ):
                qual = ".".join(scope) or "<module>"
                yield qual, child.args[0].value, child.args[1]
            yield from visit(child, inner)

    yield from visit(tree, [])


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p != MODULE)


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


def scan() -> tuple[list[str], set[str], int]:
    """(problems, allowlist entries that matched, references to DEFAULTS)."""
    problems, used, refs = [], set(), 0
    for path in MODULES:
        module = _module_name(path)
        where_file = path.relative_to(ROOT)
        for qual, name, expr in defaults_in_code(path):
            where = f"{where_file}:{expr.lineno}"
            keys = _references(expr)
            for key in keys:
                refs += 1
                if key not in DEFAULTS:
                    problems.append(f"{where}: {name} reads {key!r}, not a schema key")
                elif key not in LEAVES.get(name, []):
                    problems.append(
                        f"{where}: {name} reads the default of {key}, another "
                        f"key's (the schema's {name!r} keys: "
                        f"{', '.join(LEAVES.get(name, [])) or 'none'})"
                    )
            if keys or name not in LEAVES:
                continue
            is_literal, value = _literal(expr)
            if not is_literal:
                continue
            entry = f"{module}:{qual}:{name}"
            if entry in ALLOWED:
                used.add(entry)
                continue
            schema = ", ".join(f"{k} = {DEFAULTS[k]!r}" for k in LEAVES[name])
            if any(_same(value, DEFAULTS[k]) for k in LEAVES[name]):
                how = "repeats the schema's default"
            else:
                how = "disagrees with the schema's default"
            problems.append(
                f"{where}: {name}={value!r} ({entry}) {how} ({schema}); "
                f'write DEFAULTS["<key>"], or add {entry!r} to ALLOWED with why'
            )
    return problems, used, refs


def test_no_module_repeats_a_schema_default_as_a_literal():
    problems, _, refs = scan()
    assert not problems, "\n".join(problems)
    assert refs > 100  # the walk does find the defaults that read DEFAULTS


def test_every_allowlist_entry_matches_a_literal_default():
    _, used, _ = scan()
    stale = sorted(set(ALLOWED) - used)
    assert not stale, f"ALLOWED names no literal default any more: {stale}"


def test_the_walk_finds_a_literal_and_a_wrong_key(tmp_path, monkeypatch):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from deepfake_ensemble.defaults import DEFAULTS\n"
        "def f(bootstrap=1000, alpha=0.1, seed=DEFAULTS['demo.seed']):\n"
        "    return dict(cfg={}).get('videos_per_job', 100)\n"
        "def g(bootstrap=DEFAULTS['ensemble.seed']):\n"
        "    pass\n"
        "class C:\n"
        "    face_size: int = 320\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "MODULES", [bad])
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    problems, _, _ = scan()
    text = "\n".join(problems)
    assert len(problems) == 5, text
    assert "bad.py:2: bootstrap=1000 (bad:f:bootstrap) repeats" in text
    assert "ensemble.bootstrap = 1000" in text
    assert "bad.py:2: alpha=0.1 (bad:f:alpha) disagrees" in text
    assert "bad.py:3: videos_per_job=100 (bad:f:videos_per_job) repeats" in text
    assert "bad.py:4: bootstrap reads the default of ensemble.seed" in text
    assert "bad.py:7: face_size=320 (bad:C:face_size) repeats" in text
    assert "demo.seed" not in text


def test_preprocess_config_fields_are_the_schema_section():
    """PreprocessConfig (direct calls: tests, benchmarks) has one field per
    key of the schema's preprocess section, each with its default."""
    from dataclasses import MISSING, fields

    from deepfake_ensemble.preprocess.pipeline import PreprocessConfig

    got = {f.name: f.default for f in fields(PreprocessConfig)}
    assert MISSING not in got.values()
    want = {
        _leaf(k): copy.deepcopy(v)
        for k, v in DEFAULTS.items()
        if k.startswith("preprocess.")
    }
    assert got == want
