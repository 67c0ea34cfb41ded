"""Members declared in the configuration: a timm architecture or the user's
own ``torch.nn.Module``, beside the study's four detectors.

``member_spec(name, cfg)`` is the :class:`~.base.ModelSpec` of member
``name`` whose config block (raw, or the resolved one a checkpoint stores)
is ``cfg``: the registry's for the study's detectors
(``kind`` = the name), else one built from the declaration
(:mod:`deepfake_ensemble.members` says what is declared).
``create_member(spec, kwargs)`` builds its network with random weights.

Declared members read face crops (``frames``) and give one logit per item
(:class:`OneLogitDetector`): the loss is binary cross-entropy on it, the
fake probability its sigmoid. Their training defaults (:data:`DEFAULTS`)
are modest (Adam 1e-4, no schedule, 10 epochs of batches of 32, 224 px,
ImageNet mean/std); the member's config block overrides any of them.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import InputError
from ...members import MODULE, TIMM, member_kind, split_class_path
from .base import FRAMES, Detector, ModelSpec, get_spec

#: training settings of a declared member that its config block leaves unset
DEFAULTS: dict[str, Any] = {
    "input_size": 224,
    "normalisation": "imagenet",
    "optimizer": {"name": "adam", "lr": 1e-4},
    "scheduler": None,
    "epochs": 10,
    "batch_size": 32,
    "early_stopping": None,
}


class OneLogitDetector(Detector):
    """A detector whose output is one logit per item, shape ``(B,)`` (a
    ``(B, 1)`` output is flattened): positive means fake."""

    input_kind = FRAMES

    @staticmethod
    def loss(outputs: torch.Tensor, target: torch.Tensor, mask=None) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(
            outputs.float().reshape(-1), target.float()
        )

    @staticmethod
    def logits(outputs: torch.Tensor, mask=None) -> torch.Tensor:
        z = outputs.float().reshape(-1)
        return torch.stack([torch.zeros_like(z), z], dim=1)

    @staticmethod
    def scores(outputs: torch.Tensor, mask=None) -> torch.Tensor:
        return torch.sigmoid(outputs.float().reshape(-1))


class TimmDetector(OneLogitDetector):
    """A timm architecture with a one-logit head, built with random weights
    (``timm.create_model(backbone, pretrained=False, num_classes=1,
    **kwargs)``; nothing is downloaded). Starting weights come from a
    weights file (``models.<name>.weights``): timm's own state dict (its
    classifier, sized for another number of classes, is left random)."""

    def __init__(self, backbone: str, **kwargs: Any) -> None:
        import timm  # where a timm member is built (xception.py says why)

        super().__init__()
        self.net = timm.create_model(
            backbone, pretrained=False, num_classes=1, **kwargs
        )

    def forward(self, x: torch.Tensor, mask=None) -> torch.Tensor:
        return self.net(x).reshape(-1)

    def map_state_dict(self, sd: dict) -> tuple[dict, set]:
        """A timm state dict (or this detector's own) -> this detector's keys;
        the classifier's tensors may be skipped when their shapes differ."""
        out = {k if k.startswith("net.") else f"net.{k}": v for k, v in sd.items()}
        head = self.net.pretrained_cfg.get("classifier") or ""
        heads = head if isinstance(head, list | tuple) else [head]
        skippable = {k for k in out for h in heads if h and k.startswith(f"net.{h}.")}
        return out, skippable


def import_class(path: str, key: str = "class") -> type:
    """The class named by ``package.module:Class`` (imported here)."""
    module_name, cls_name = split_class_path(path, key)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(
            f"config key {key}: cannot import {module_name}: {exc}"
        ) from exc
    cls = getattr(module, cls_name, None)
    if not isinstance(cls, type) or not issubclass(cls, nn.Module):
        raise InputError(
            f"config key {key}: {module_name}.{cls_name} is not a torch.nn.Module class"
        )
    return cls


class ModuleDetector(OneLogitDetector):
    """The user's own network as a member (``kind: module``).

    The contract of the class named by ``models.<name>.class``
    (``package.module:Class``, importable where the workflow's jobs and the
    scoring run: an installed package or a folder on ``PYTHONPATH``):

    * it is a ``torch.nn.Module`` subclass, built as ``Class(**kwargs)``
      (``models.<name>.kwargs``), with random weights (or its own
      initialisation); starting weights come from ``models.<name>.weights``
      (the class's own state dict);
    * ``forward(x)`` takes a float batch of face crops, shape
      ``(B, 3, S, S)``, RGB, ``S`` = ``input_size``, normalised with
      ``normalisation`` (ImageNet mean/std unless set), and returns one
      logit per item, shape ``(B,)`` or ``(B, 1)``: positive means fake,
      ``sigmoid(logit)`` is the fake probability;
    * it is deterministic given the seed (training seeds torch before
      building it) and keeps its state in parameters and buffers (the
      checkpoint is its ``state_dict``).
    """

    def __init__(self, class_path: str, **kwargs: Any) -> None:
        super().__init__()
        self.net = import_class(class_path)(**kwargs)

    def forward(self, x: torch.Tensor, mask=None) -> torch.Tensor:
        out = self.net(x)
        if out.dim() == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.shape != (x.shape[0],):
            raise InputError(
                f"{type(self.net).__name__}.forward returned shape "
                f"{tuple(out.shape)}; one logit per item, ({x.shape[0]},) or "
                f"({x.shape[0]}, 1), is expected"
            )
        return out

    def map_state_dict(self, sd: dict) -> tuple[dict, set]:
        """The class's own state dict (or this detector's) -> this detector's."""
        return {
            k if k.startswith("net.") else f"net.{k}": v for k, v in sd.items()
        }, set()


def member_spec(name: str, cfg: Mapping[str, Any] | None = None) -> ModelSpec:
    """The spec of member ``name`` declared (or resolved) as ``cfg``."""
    cfg = cfg or {}
    kind = member_kind(name, cfg)
    if kind == TIMM:
        builder = functools.partial(TimmDetector, str(cfg["backbone"]))
        what = f"timm {cfg['backbone']}, one-logit head"
    elif kind == MODULE:
        builder = functools.partial(ModuleDetector, str(cfg["class"]))
        what = f"{cfg['class']}, one logit per item"
    else:
        spec = get_spec(kind)
        if kind != name:
            raise InputError(
                f"config key models.{name}.kind: the study's detector {kind} is "
                f"declared under its own name only"
            )
        return spec
    return ModelSpec(
        name=name,
        input_kind=FRAMES,
        # a declared member's own settings are its defaults
        input_size=int(cfg.get("input_size") or DEFAULTS["input_size"]),
        normalisation=cfg.get("normalisation") or DEFAULTS["normalisation"],
        optimizer=dict(DEFAULTS["optimizer"]),
        scheduler=DEFAULTS["scheduler"],
        epochs=DEFAULTS["epochs"],
        batch_size=DEFAULTS["batch_size"],
        early_stopping=DEFAULTS["early_stopping"],
        builder=builder,
        detector_class=OneLogitDetector,
        open_kwargs=True,
        kind=kind,
        description=f"declared member ({kind}): {what}",
    )


def create_member(spec: ModelSpec, kwargs: Mapping[str, Any] | None = None) -> Detector:
    """Build the network of ``spec`` with random weights: a study detector
    through the registry (its kwargs checked), a declared member with
    ``kwargs`` passed on as they are."""
    kwargs = dict(kwargs or {})
    if not spec.open_kwargs:
        from .base import create_model

        return create_model(spec.name, **kwargs)
    return spec.builder(**{**spec.default_kwargs, **kwargs})
