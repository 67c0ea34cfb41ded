"""The four single detectors and their registry.

``create_model(name, **kwargs)`` builds a detector with random weights,
``get_spec(name)`` returns its :class:`ModelSpec` (input kind and size,
normalisation, the study's training settings, loss and score functions).
The detector names come from :data:`deepfake_ensemble.layout.MODEL_NAMES`;
registering any other name fails.
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
    "create_model",
    "get_spec",
    "prepare_batch",
    "register",
    "registered_names",
]
