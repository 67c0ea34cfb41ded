"""Shared pieces of the four detectors: the model specification, the registry
and the model-side preprocessing (scaling, resizing, normalisation, flips).

Every detector is an ``nn.Module`` with one calling convention:

* ``outputs = model(x)`` for frame models, ``outputs = model(x, mask)`` for
  eye-sequence models, where ``x`` is the float tensor returned by
  :meth:`ModelSpec.prepare`;
* ``model.loss(outputs, target, mask=None)`` -> scalar training loss;
* ``model.scores(outputs, mask=None)`` -> fake probability per item, shape (B,);
* ``model.logits(outputs, mask=None)`` -> two-class logits per item, shape (B, 2).

The same three functions are reachable from the spec (``spec.loss`` ...), so
training and prediction code never needs to know which detector it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import InputError
from ...layout import MODEL_NAMES

FRAMES = "frames"
EYE_SEQUENCE = "eye_sequence"

# name -> (scale applied to 0-255 values, mean, std) after scaling.
NORMALISATIONS: dict[str, tuple[float, tuple[float, ...], tuple[float, ...]]] = {
    "imagenet": (1 / 255, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "half": (1 / 255, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "raw255": (1.0, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
    "unit": (1 / 255, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
}


class Detector(nn.Module):
    """Base class: two-class detector with the project's calling convention."""

    input_kind: str = FRAMES
    #: state-dict prefixes that training never changes (must be loaded)
    frozen_prefixes: tuple[str, ...] = ()

    @staticmethod
    def loss(outputs: torch.Tensor, target: torch.Tensor, mask=None) -> torch.Tensor:
        return F.cross_entropy(outputs.float(), target)

    @staticmethod
    def logits(outputs: torch.Tensor, mask=None) -> torch.Tensor:
        return outputs.float()

    @staticmethod
    def scores(outputs: torch.Tensor, mask=None) -> torch.Tensor:
        return torch.softmax(outputs.float(), dim=-1)[:, 1]


@dataclass(frozen=True)
class ModelSpec:
    """What the workflow needs to know about one detector.

    ``input_size``, ``normalisation``, ``optimizer``, ``scheduler``, ``epochs``,
    ``batch_size`` and ``early_stopping`` are the settings of the study being
    reproduced; a model's config block overrides any of them.
    """

    name: str
    input_kind: str
    input_size: int
    normalisation: str
    optimizer: dict[str, Any]
    scheduler: dict[str, Any] | None
    epochs: int
    batch_size: int
    early_stopping: int | None
    builder: Callable[..., Detector]
    default_kwargs: dict[str, Any] = field(default_factory=dict)
    seq_len: int | None = None
    description: str = ""
    #: the class whose loss / scores / logits the outputs follow (default:
    #: the builder, when it is a class)
    detector_class: type[Detector] | None = None
    #: whether the builder takes any kwargs (a declared member's), not only
    #: those of ``default_kwargs``
    open_kwargs: bool = False
    #: the member's kind (``deepfake_ensemble.members``); None: the name
    kind: str | None = None

    # -- model-side functions ------------------------------------------------
    @property
    def model_class(self) -> type[Detector]:
        if self.detector_class is not None:
            return self.detector_class
        return self.builder if isinstance(self.builder, type) else Detector

    def loss(self, outputs, target, mask=None) -> torch.Tensor:
        return self.model_class.loss(outputs, target, mask)

    def scores(self, outputs, mask=None) -> torch.Tensor:
        return self.model_class.scores(outputs, mask)

    def logits(self, outputs, mask=None) -> torch.Tensor:
        return self.model_class.logits(outputs, mask)

    @property
    def mean(self) -> tuple[float, ...]:
        return NORMALISATIONS[self.normalisation][1]

    @property
    def std(self) -> tuple[float, ...]:
        return NORMALISATIONS[self.normalisation][2]

    def prepare(
        self,
        batch: torch.Tensor,
        input_size: int | None = None,
        train: bool = False,
        generator: torch.Generator | None = None,
        normalisation: str | None = None,
        channels_last: bool = False,
    ) -> torch.Tensor:
        """uint8 batch -> normalised float input of the network.

        Frames: ``B x 3 x H x W``; eye sequences: ``B x T x 2 x 3 x H x W``.
        Resizes (bilinear, antialiased when shrinking) to ``input_size`` when the
        stored size differs, scales and normalises. With ``train=True`` each
        item is flipped horizontally with probability 0.5 (the only
        augmentation); an eye sequence is flipped as a whole, every crop
        mirrored and the two eyes swapped, as a mirrored face would give.
        """
        return prepare_batch(
            batch,
            kind=self.input_kind,
            input_size=input_size or self.input_size,
            normalisation=normalisation or self.normalisation,
            train=train,
            generator=generator,
            channels_last=channels_last,
        )


def prepare_batch(
    batch: torch.Tensor,
    kind: str,
    input_size: int,
    normalisation: str,
    train: bool = False,
    generator: torch.Generator | None = None,
    channels_last: bool = False,
) -> torch.Tensor:
    if normalisation not in NORMALISATIONS:
        raise InputError(
            f"unknown normalisation {normalisation!r}; "
            f"choose one of {sorted(NORMALISATIONS)}"
        )
    scale, mean, std = NORMALISATIONS[normalisation]
    lead = batch.shape[:-3]
    n = batch.shape[0]
    x = batch.reshape(-1, *batch.shape[-3:]).float()
    if x.shape[-2:] != (input_size, input_size):
        x = F.interpolate(
            x,
            size=(input_size, input_size),
            mode="bilinear",
            align_corners=False,
            antialias=x.shape[-1] > input_size,
        )
    x = x * scale
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    x = (x - m) / s
    x = x.reshape(*lead, *x.shape[-3:])
    if train:
        flip = torch.rand(n, generator=generator) < 0.5
        flip = flip.to(x.device)
        if bool(flip.any()):
            mirrored = x.flip(-1)
            if kind == EYE_SEQUENCE:
                mirrored = mirrored.flip(2)  # left eye <-> right eye
            shape = (n,) + (1,) * (x.dim() - 1)
            x = torch.where(flip.view(shape), mirrored, x)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add a detector to the registry; its name must be one of
    :data:`deepfake_ensemble.layout.MODEL_NAMES`."""
    if spec.name not in MODEL_NAMES:
        raise ValueError(
            f"cannot register model {spec.name!r}: not in layout.MODEL_NAMES "
            f"{MODEL_NAMES}"
        )
    _REGISTRY[spec.name] = spec
    return spec


def registered_names() -> tuple[str, ...]:
    """Names of the registered detectors, in layout order."""
    return tuple(sorted(_REGISTRY, key=MODEL_NAMES.index))


def get_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InputError(
            f"unknown model {name!r}; known models: {', '.join(sorted(_REGISTRY))}"
        ) from None


def create_model(name: str, **kwargs: Any) -> Detector:
    """Build detector ``name`` with random weights (nothing is downloaded)."""
    spec = get_spec(name)
    merged = {**spec.default_kwargs, **kwargs}
    unknown = set(kwargs) - set(spec.default_kwargs)
    if unknown:
        raise InputError(
            f"model {name}: unknown kwargs {sorted(unknown)}; "
            f"accepted: {sorted(spec.default_kwargs)}"
        )
    return spec.builder(**merged)


def vgg_features(depth: int, batch_norm: bool = False, end: int | None = None):
    """torchvision's VGG ``features`` (same layer indices and initialisation)
    without building the 120 M-parameter classifier that is thrown away."""
    from torchvision.models.vgg import cfgs, make_layers

    layers = make_layers(cfgs[{16: "D", 19: "E"}[depth]], batch_norm=batch_norm)
    if end is not None:
        layers = layers[:end]
    for m in layers.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return layers
