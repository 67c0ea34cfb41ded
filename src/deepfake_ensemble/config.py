"""Configuration errors a person can read.

The workflow validates its config against ``config/schema/config.schema.yaml``
(Snakemake's ``validate``, which also fills in the defaults). A failure is
reported here in at most three lines: where (the key path), what (the value)
and which rule of the schema it breaks; never the schema itself.

:func:`check_config` then refuses, in one line naming the key, what the
schema alone cannot express: a member's declaration that cannot work (a
missing ``kind``, an unknown timm architecture, a class path that names no
class: :func:`deepfake_ensemble.members.check_members`) and a value allowed
for some models only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .defaults import DEFAULTS
from .errors import InputError
from .layout import EYE_SEQUENCE_MODELS
from .members import check_members

MAX_VALUE_CHARS = 120


def _key_path(error: Any) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    return path or "(top level)"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."


def describe_validation_error(error: Any) -> str:
    """Three lines for a ``jsonschema.ValidationError``: key path, value, rule."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(schema.get("properties", {})))
        where = ".".join(p for p in [_key_path(error), extra[0] if extra else ""] if p)
        where = where.removeprefix("(top level).")
        allowed = ", ".join(sorted(schema.get("properties", {})))
        value = error.instance[extra[0]] if extra else error.instance
        problem, rule = "unknown key", f"allowed keys here: {allowed}"
    else:
        where = _key_path(error)
        value = error.instance
        problem = "invalid value"
        rule = f"{error.validator}: {error.validator_value!r}"
        if error.validator == "required":
            problem, rule = "missing key", error.message
    return f"config key {where}: {problem}\n  value: {_short(value)}\n  rule: {rule}"


def fakes_problem(model: str, value: Any) -> str | None:
    """Why ``models.<model>.fakes`` cannot be ``value``, in one line; None
    when it can. Fakes synthesised from face crops train frame models only:
    an eye-sequence model (In Ictu Oculi) trains on the dataset's videos."""
    if model in EYE_SEQUENCE_MODELS and value != DEFAULTS["models.<model>.fakes"]:
        return (
            f"config key models.{model}.fakes: {value!r} is for frame models "
            f"only; {model} trains on eye-crop sequences, which face synthesis "
            f"cannot make: set it to {DEFAULTS['models.<model>.fakes']!r}"
        )
    return None


def check_config(config: Mapping[str, Any]) -> None:
    """Refuse a validated config's settings that only some models take, with
    an :class:`~deepfake_ensemble.errors.InputError` of one line naming the
    key (the Snakefile turns it into the dry run's error)."""
    check_members(config.get("models"))
    for model, block in (config.get("models") or {}).items():
        problem = fakes_problem(
            model, (block or {}).get("fakes", DEFAULTS["models.<model>.fakes"])
        )
        if problem:
            raise InputError(problem)
