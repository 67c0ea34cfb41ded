"""The four single detectors, their registry, and the declared members.

``create_model(name, **kwargs)`` builds a detector with random weights,
``get_spec(name)`` returns its :class:`ModelSpec` (input kind and size,
normalisation, the study's training settings, loss and score functions).
The detector names come from :data:`deepfake_ensemble.layout.MODEL_NAMES`;
registering any other name fails.

The ensemble's members are declared in the config (``models:``):
``member_spec(name, cfg)`` gives any member's spec (the registry's for the
study's four, else one built from its ``kind: timm`` or ``kind: module``
declaration) and ``create_member(spec, kwargs)`` builds it
(:mod:`.members`).
"""

from __future__ import annotations

from ...layout import MODEL_NAMES
from . import capsule, dsp_fwa, ictu_oculi, xception  # noqa: F401  (registration)
from .base import (
    EYE_SEQUENCE,
    FRAMES,
    NORMALISATIONS,
    Detector,
    ModelSpec,
    create_model,
    get_spec,
    prepare_batch,
    register,
    registered_names,
)
from .members import OneLogitDetector, create_member, member_spec

_missing = set(MODEL_NAMES) - set(registered_names())
if _missing:  # pragma: no cover - a detector module lost its register() call
    raise ImportError(f"models {sorted(_missing)} are named but not registered")

__all__ = [
    "EYE_SEQUENCE",
    "FRAMES",
    "MODEL_NAMES",
    "NORMALISATIONS",
    "Detector",
    "ModelSpec",
    "OneLogitDetector",
    "create_member",
    "create_model",
    "get_spec",
    "member_spec",
    "prepare_batch",
    "register",
    "registered_names",
]
