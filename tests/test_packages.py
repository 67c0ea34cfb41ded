"""The package's layout: one subpackage per stage, each importing only what its
conda environment installs and only the stages below it.

Read with ``ast`` (tools/import_graph.py): imports inside functions count,
nothing is imported here.
"""

from __future__ import annotations

import ast
import importlib.util
import sys

import pytest
from conftest import ROOT
from test_envs import env_pins, requirement_pins

_spec = importlib.util.spec_from_file_location(
    "import_graph", ROOT / "tools" / "import_graph.py"
)
import_graph = importlib.util.module_from_spec(_spec)
sys.modules["import_graph"] = import_graph
_spec.loader.exec_module(import_graph)

SRC = import_graph.SRC
STAGES = import_graph.STAGES
CORE = import_graph.CORE

#: the environment (envs/<name>.yaml) each stage's rules run in
STAGE_ENVS = {
    "ingest": "preprocess",
    "preprocess": "preprocess",
    "train": "train",
    "evaluate": "ensemble",
}
ENVS = ("preprocess", "train", "ensemble")

#: top-level module name -> the distribution that installs it, where they differ
DISTRIBUTIONS = {
    "cv2": "opencv-python-headless",
    "PIL": "pillow",
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
    "yaml": "pyyaml",
    "dlib": "dlib-bin",
    "face_recognition_models": "face-recognition-models",
}

#: stage -> the stages (and core) its modules may import
ALLOWED = {
    CORE: {CORE},
    "ingest": {CORE},
    "preprocess": {CORE},
    "train": {CORE, "preprocess", "evaluate"},
    "evaluate": {CORE},
    "bundle": {CORE, *STAGES},
}
#: the modules of another stage that a stage may import, where not all
ALLOWED_MODULES = {("train", "evaluate"): {"deepfake_ensemble.evaluate.metrics"}}


def distribution(top: str) -> str:
    return DISTRIBUTIONS.get(top, top).lower()


def third_party(module: str) -> list[tuple[str, import_graph.Import]]:
    """(distribution, import) of every third-party import of one module."""
    path = import_graph.modules()[module]
    out = []
    for imp in import_graph.imports(path, module):
        top = imp.target.split(".")[0]
        if top in ("", "__future__", import_graph.PACKAGE):
            continue
        if top in sys.stdlib_module_names:
            continue
        out.append((distribution(top), imp))
    return out


def modules_of(stage: str) -> list[str]:
    return sorted(
        m for m in import_graph.modules() if import_graph.stage_of(m) == stage
    )


def pins(env: str) -> set[str]:
    return set(env_pins(ROOT / "envs" / f"{env}.yaml"))


IN_EVERY_ENV = set.intersection(*(pins(e) for e in ENVS))


def test_the_stages_are_the_subpackages():
    subpackages = {p.parent.name for p in SRC.glob("*/__init__.py")}
    assert subpackages == set(STAGES)
    assert not (SRC / "stages").exists()


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_package_imports_nothing_on_import(stage):
    """Its __init__ holds a docstring only: importing one module of it (say
    preprocess.shards) does not import the rest (dlib, torch)."""
    tree = ast.parse((SRC / stage / "__init__.py").read_text())
    assert len(tree.body) == 1 and ast.get_docstring(tree), stage


def test_every_third_party_import_names_a_known_distribution():
    required = set(requirement_pins())
    for module in import_graph.modules():
        for dist, imp in third_party(module):
            assert dist in required, (
                f"{module}:{imp.lineno} imports {imp.target}: {dist} is not in "
                "requirements.txt (or add its distribution to DISTRIBUTIONS)"
            )


@pytest.mark.parametrize("stage", sorted(STAGE_ENVS))
def test_a_stage_imports_only_what_its_env_installs(stage):
    env = STAGE_ENVS[stage]
    installed = pins(env)
    for module in modules_of(stage):
        for dist, imp in third_party(module):
            assert dist in installed, (
                f"{module}:{imp.lineno} imports {imp.target}, but envs/{env}.yaml "
                f"does not install {dist}"
            )


def test_core_modules_import_only_what_every_env_installs():
    modules = modules_of(CORE)
    assert "deepfake_ensemble.layout" in modules
    for module in modules:
        for dist, imp in third_party(module):
            assert dist in IN_EVERY_ENV, (
                f"{module}:{imp.lineno} imports {imp.target}: a core module may "
                f"import only what all of {ENVS} install"
            )


#: the installed console command and the subcommand that runs only there (the
#: plan, on the submitting machine before any rule), never in a rule's env
CONSOLE_MODULES = ("deepfake_ensemble.bundle.cli", "deepfake_ensemble.bundle.plan")


def test_bundle_imports_at_module_level_only_what_every_env_installs():
    """Its scoring rules run in all three environments; what one step needs
    is imported inside its function (that env's packages, other stages)."""
    union = set.union(*(pins(e) for e in ENVS))
    required = set(requirement_pins())
    for module in modules_of("bundle"):
        for dist, imp in third_party(module):
            if module in CONSOLE_MODULES:
                # the installed console command: the project's requirements
                assert dist in required, (module, imp.lineno, imp.target)
            elif imp.nested:
                assert dist in union, (module, imp.lineno, imp.target)
            else:
                assert dist in IN_EVERY_ENV, (
                    f"{module}:{imp.lineno} imports {imp.target} at module "
                    f"level, which not every env installs: import it inside "
                    "the function that needs it"
                )


def test_stages_import_each_other_in_one_direction():
    wrong = []
    for imp, target in import_graph.internal_edges():
        a, b = import_graph.stage_of(imp.module), import_graph.stage_of(target)
        if a == b:
            continue
        allowed = b in ALLOWED[a]
        only = ALLOWED_MODULES.get((a, b))
        if allowed and only is not None:
            allowed = any(target == m or target.startswith(m + ".") for m in only)
        if not allowed:
            wrong.append(f"{imp.module} (line {imp.lineno}) imports {target}")
    assert not wrong, "imports against the stage order:\n" + "\n".join(wrong)
    assert import_graph.find_cycle(set(import_graph.stage_graph())) is None


def test_the_cycle_finder_finds_cycles():
    assert import_graph.find_cycle({("a", "b"), ("b", "c")}) is None
    cycle = import_graph.find_cycle({("a", "b"), ("b", "c"), ("c", "a")})
    assert cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}


def _torch_loads(path):
    tree = ast.parse(path.read_text())
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "load"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "torch"
    ]


def test_one_module_loads_torch_files_and_only_as_weights():
    calls = {
        module: found
        for module, path in import_graph.modules().items()
        if (found := _torch_loads(path))
    }
    assert list(calls) == ["deepfake_ensemble.train.checkpoint"], list(calls)
    for call in calls["deepfake_ensemble.train.checkpoint"]:
        keywords = {k.arg: k.value for k in call.keywords}
        assert isinstance(keywords.get("weights_only"), ast.Constant)
        assert keywords["weights_only"].value is True
