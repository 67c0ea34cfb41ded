"""Configuration errors a person can read.

The workflow validates its config against ``config/schema/config.schema.yaml``
(Snakemake's ``validate``, which also fills in the defaults). A failure is
reported here in at most three lines: where (the key path), what (the value)
and which rule of the schema it breaks; never the schema itself.
"""

from __future__ import annotations

from typing import Any

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
