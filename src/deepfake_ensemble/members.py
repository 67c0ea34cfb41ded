"""The ensemble's members, as the configuration declares them.

Standard library only: the Snakefile (``rules/common.smk``) reads the member
list and checks each member's declaration here, in its own process, without
torch; the training jobs build the declared networks
(:mod:`deepfake_ensemble.train.models.members`).

A member is a block under ``models:`` named by the member's name (which names
its files and its rows: ``results/models/{train_set}/{name}/``). Its ``kind``
says what network it is:

``capsule``, ``dsp_fwa``, ``ictu_oculi``, ``xception``
    the study's four detectors (:data:`~deepfake_ensemble.layout.MODEL_NAMES`,
    the registry in ``deepfake_ensemble.train.models``), each declared under
    its own name; ``kind`` is implicit there, so the configs written before
    members could be declared mean what they meant.
``timm``
    any architecture of timm (``backbone: efficientnet_b4``) with a one-logit
    head, from random weights or from a weights file of the catalogue
    (``weights``, fetched and checked like the study's backbones).
``module``
    the user's own ``torch.nn.Module`` (``class: package.module:Class``,
    built as ``Class(**kwargs)``); see
    :class:`deepfake_ensemble.train.models.members.ModuleDetector` for the
    contract (a batch of face crops in, one logit per item out).

Members other than the study's four are frame models (they read face crops).
The dry run refuses a declaration that cannot work in one line naming the
key: a missing ``kind``, an unknown timm architecture (checked against the
list of timm's architectures in :mod:`deepfake_ensemble.timm_names`, no timm
imported) and a class path whose module cannot be found or does not define
the class (found with :func:`importlib.util.find_spec` and read with
:mod:`ast`; the module itself is imported by the jobs only).
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import keyword
import os
from collections.abc import Iterable, Mapping
from typing import Any

from .defaults import DEFAULTS
from .errors import InputError
from .layout import ALL_ENSEMBLES, MODEL_NAMES

#: the study's detectors, each a kind of its own
STUDY_KINDS: tuple[str, ...] = MODEL_NAMES
TIMM = "timm"
MODULE = "module"
#: the kinds a member may be declared with
KINDS: tuple[str, ...] = (*STUDY_KINDS, TIMM, MODULE)
#: the keys that say what network a member is; they are part of a declared
#: member's resolved config (and so of its checkpoint), never of a study
#: detector's, whose resolved config stays as it was
IDENTITY_KEYS: tuple[str, ...] = ("kind", "backbone", "class")
#: key -> the kind it belongs to
KIND_KEYS: dict[str, str] = {"backbone": TIMM, "class": MODULE}


def member_kind(name: str, block: Mapping[str, Any] | None = None) -> str:
    """The kind of member ``name`` (its block's ``kind``; a study detector's
    own name when unset)."""
    kind = (block or {}).get("kind")
    if kind:
        return str(kind)
    if name in STUDY_KINDS:
        return name
    raise InputError(
        f"config key models.{name}.kind: not set; a member that is not one of "
        f"the study's four ({', '.join(STUDY_KINDS)}) needs "
        f"kind: {TIMM} or kind: {MODULE}"
    )


def is_study(name: str, block: Mapping[str, Any] | None = None) -> bool:
    """Whether member ``name`` is one of the study's four detectors."""
    return name in STUDY_KINDS and member_kind(name, block) == name


def declared_members(models: Mapping[str, Any] | None) -> list[str]:
    """Every member of a config's ``models`` block, enabled or not: the
    study's four in the study's order (present unless disabled, as before
    members could be declared), then the other members in config order."""
    models = models or {}
    return [*STUDY_KINDS, *(m for m in models if m not in STUDY_KINDS)]


def enabled_members(models: Mapping[str, Any] | None) -> list[str]:
    """The members the workflow trains (:func:`declared_members` less those
    with ``enabled: false``)."""
    models = models or {}
    return [
        m
        for m in declared_members(models)
        if (models.get(m) or {}).get("enabled", DEFAULTS["models.<model>.enabled"])
    ]


def ensemble_members(members: Iterable[str]) -> list[str]:
    """The members the study's ensembles (and this project's variants)
    combine: the study's detectors among ``members`` when at least two are,
    so that declaring more members leaves those ensembles as they were; else
    every member."""
    members = list(members)
    study = [m for m in members if m in STUDY_KINDS]
    return study if len(study) >= 2 else members


def member_resource(
    models: Mapping[str, Any] | None, name: str, key: str, attempt: int = 1
) -> int:
    """A resource of member ``name``'s jobs (rules train and predict):
    its ``resources.<key>`` (``train_mem_mb``, ``train_runtime``,
    ``predict_mem_mb``, ``predict_runtime``), else the schema's default. A
    runtime grows with the job's ``attempt`` (1, 2, 3: a retry asks for
    twice, then three times the time)."""
    block = (models or {}).get(name) or {}
    value = (block.get("resources") or {}).get(
        key, DEFAULTS[f"models.<model>.resources.{key}"]
    )
    return int(value) * attempt if key.endswith("_runtime") else int(value)


def draws_synthesis_sheet(config: Mapping[str, Any], members: Iterable[str]) -> bool:
    """Whether the workflow draws the contact sheet of synthesised fakes
    (rule synthesis_sheet): on the demo, and where one of ``members`` (the
    enabled ones) trains on fakes synthesised from real faces."""
    models = config.get("models") or {}
    dataset = DEFAULTS["models.<model>.fakes"]
    return bool((config.get("demo") or {}).get("generate")) or any(
        (models.get(m) or {}).get("fakes", dataset) != dataset for m in members
    )


# -- checks at dry-run time ------------------------------------------------------
#: values an assignment may bind a class to (``Net = OtherNet``,
#: ``Net = module.Net``, ``Net = make_class(...)``); a literal is no class
_CLASS_VALUES = (ast.Name, ast.Attribute, ast.Call, ast.Subscript)


def _names_defined(tree: ast.Module) -> set[str]:
    """Names a module may bind a class to at its top level: class
    definitions, imports, assignments of a name or a call (not of a
    literal, not a function definition)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign) and isinstance(node.value, _CLASS_VALUES):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names.add(target.id)
        elif (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(node.value, _CLASS_VALUES)
        ):
            names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.If | ast.Try):
            # `if TYPE_CHECKING:` / `try: ... except ImportError:` definitions
            names |= _names_defined(ast.Module(body=_flat_body(node), type_ignores=[]))
    return names


def _flat_body(node: ast.If | ast.Try) -> list[ast.stmt]:
    body = list(node.body) + list(node.orelse)
    if isinstance(node, ast.Try):
        for handler in node.handlers:
            body += handler.body
        body += node.finalbody
    return body


def split_class_path(path: str, key: str) -> tuple[str, str]:
    """``package.module:Class`` -> (module, class); anything else is refused."""
    module, sep, cls = str(path).partition(":")
    parts = module.split(".")
    if (
        not sep
        or not all(p.isidentifier() and not keyword.iskeyword(p) for p in parts)
        or not cls.isidentifier()
    ):
        raise InputError(
            f"config key {key}: {path!r} is not a class path; expected "
            f"package.module:Class"
        )
    return module, cls


def check_class_path(path: str, key: str) -> None:
    """Refuse a class path whose module cannot be found on the Python path or
    does not define the class, without importing the module (its parent
    packages are imported by :func:`importlib.util.find_spec`). A module that
    is not Python source (compiled, or built at import) is taken as it is:
    the training job then imports it and names a missing class."""
    module, cls = split_class_path(path, key)
    try:
        spec = importlib.util.find_spec(module)
    except Exception as exc:  # a parent package that fails to import
        first = (str(exc).strip().splitlines() or [""])[0]
        raise InputError(
            f"config key {key}: module {module} cannot be found "
            f"({type(exc).__name__}: {first})"
        ) from None
    if spec is None:
        raise InputError(
            f"config key {key}: no module named {module!r} on the Python path "
            f"(install it, or add its folder to PYTHONPATH where the workflow "
            f"and its jobs run)"
        )
    origin = spec.origin
    if not origin or not origin.endswith(".py") or not os.path.isfile(origin):
        return
    try:
        with open(origin, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), origin)
    except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(
            f"config key {key}: module {module} ({origin}) cannot be parsed: {exc}"
        ) from None
    if cls not in _names_defined(tree):
        raise InputError(
            f"config key {key}: module {module} ({origin}) defines no class {cls!r}"
        )


def check_backbone(backbone: str, key: str) -> None:
    """Refuse a name that is no architecture of the pinned timm (a
    pretrained tag, ``name.tag``, is allowed: timm builds the architecture)."""
    from .timm_names import TIMM_ARCHITECTURES, TIMM_VERSION

    arch = str(backbone).split(".", 1)[0]
    if arch in TIMM_ARCHITECTURES:
        return
    close = difflib.get_close_matches(arch, TIMM_ARCHITECTURES, n=3, cutoff=0.75)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise InputError(
        f"config key {key}: {backbone!r} is no architecture of timm "
        f"{TIMM_VERSION} (timm.list_models()){hint}"
    )


def check_member(name: str, block: Mapping[str, Any] | None) -> str:
    """Check the declaration of member ``name``; return its kind. Raises
    :class:`InputError`, one line naming the key."""
    block = block or {}
    key = f"models.{name}"
    if name in ALL_ENSEMBLES:
        raise InputError(
            f"config key {key}: {name!r} names an ensemble; give the member "
            f"another name"
        )
    kind = member_kind(name, block)
    if kind not in KINDS:  # the schema's enum says so first
        raise InputError(f"config key {key}.kind: {kind!r} is not one of {KINDS}")
    if kind in STUDY_KINDS and kind != name:
        raise InputError(
            f"config key {key}.kind: the study's detector {kind} is declared "
            f"under its own name (models.{kind}), not as {name!r}"
        )
    if name in STUDY_KINDS and kind != name:
        raise InputError(
            f"config key {key}.kind: {name!r} is the study's detector; declare "
            f"a {kind} member under another name"
        )
    for extra, owner in KIND_KEYS.items():
        if extra in block and kind != owner:
            raise InputError(
                f"config key {key}.{extra}: only for kind: {owner} (this member "
                f"is kind: {kind})"
            )
    if kind == TIMM:
        if not block.get("backbone"):
            raise InputError(
                f"config key {key}.backbone: not set; kind: timm needs a timm "
                f"architecture, e.g. backbone: efficientnet_b4"
            )
        check_backbone(block["backbone"], f"{key}.backbone")
    elif kind == MODULE:
        if not block.get("class"):
            raise InputError(
                f"config key {key}.class: not set; kind: module needs "
                f"class: package.module:Class"
            )
        check_class_path(block["class"], f"{key}.class")
    if kind not in STUDY_KINDS and "seq_len" in block:
        raise InputError(
            f"config key {key}.seq_len: for eye-sequence models only (ictu_oculi); "
            f"a {kind} member reads face crops"
        )
    return kind


def check_members(models: Mapping[str, Any] | None) -> dict[str, str]:
    """Check every declared member (:func:`check_member`); member -> kind."""
    models = models or {}
    return {m: check_member(m, models.get(m)) for m in declared_members(models)}


def identity(name: str, block: Mapping[str, Any] | None) -> dict[str, Any]:
    """The identity keys (``kind``, ``backbone``, ``class``) of a declared
    member, for its resolved config; empty for a study detector."""
    block = block or {}
    if is_study(name, block):
        return {}
    return {k: block[k] for k in IDENTITY_KEYS if k in block} | {
        "kind": member_kind(name, block)
    }
