"""The four single detectors and their registry.

``create_model(name, **kwargs)`` builds a detector with random weights,
``get_spec(name)`` returns its :class:`ModelSpec` (input kind and size,
normalisation, the study's training settings, loss and score functions).
"""

from __future__ import annotations

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
)

MODEL_NAMES = ("capsule", "dsp_fwa", "ictu_oculi", "xception")

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
]
