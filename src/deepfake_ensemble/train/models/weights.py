"""Load local checkpoint files into the detectors (nothing is downloaded).

``load_weights(model, name, path, pretrained)`` reads a file with
``torch.load(path, map_location="cpu", weights_only=True)``, unwraps the usual
containers (``state_dict``, ``model``, ``net``, ... and ``module.`` prefixes
left by DataParallel), renames the keys of the authors' releases to this
project's module names, checks shapes and loads with ``strict=False``.

Key mappings (see resources/README.md for where each file comes from):

* capsule - ``capsule_21.pt`` is the state dict of the authors' ``CapsuleNet``
  (the VGG19 stem is not in it; it used ImageNet weights):
  ``fea_ext.capsules.<i>.<j>.*`` -> ``primary.<i>.<name>.*`` with ``j`` = 0
  conv_a, 1 bn_a, 3 conv_b, 4 bn_b, 7 proj_a, 8 proj_bn_a, 9 proj_b,
  10 proj_bn_b; ``routing_stats.route_weights`` -> ``route_weights``. The
  stem: ``vgg_ext.vgg_1.<k>.*`` / ``vgg_1.<k>.*`` or torchvision VGG19
  ``features.<k>.*`` (k <= 18) -> ``stem.<k>.*``. Give both files as a list
  to get the authors' full model.
* dsp_fwa - ``SPP-res50.pth`` (authors' ``SPPNet``, saved as ``{"net": ...}``):
  ``resnet.resnet.<x>`` -> ``body.<x>``, ``classifier.*`` kept,
  unused ``resnet.fc.*`` / ``resnet.resnet.fc.*`` ignored. torchvision
  ResNet-50 ImageNet weights: ``conv1``/``bn1``/``layer<n>`` -> ``body.*``.
* ictu_oculi - torchvision VGG16 ImageNet weights: ``features.<k>`` ->
  ``cnn.<k>``, ``classifier.0`` (fc6) -> ``fc6`` when the widths agree
  (skipped otherwise). The authors' TensorFlow checkpoints need conversion
  and are not read.
* xception - FaceForensics++ ``TransferModel`` state dicts: ``model.`` prefix
  dropped, ``last_linear[.1]`` -> ``fc``, 2-D ``pointwise`` weights of the
  Keras port unsqueezed to 1x1 convolutions, then prefixed ``net.``; timm
  ``legacy_xception`` ImageNet weights load the same way (the 1000-class
  ``fc`` is skipped).

A checkpoint written by this project (keys already in the project's names)
loads unchanged.

``start_model(model, name, ...)`` is what training calls: it checks each
file's SHA-256 against the pinned catalogue (:mod:`deepfake_ensemble.pretrained`)
when the file is one of its backbones, loads the files, refuses a frozen
module (Capsule's stem) left with random weights, and returns the start record
written to ``start.json``. Nothing here downloads anything: rule
``fetch_weights`` does, before training.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...errors import InputError
from ...pretrained import (
    CATALOG,
    PRETRAINED_CHOICES,
    example_weights,
    hash_matches,
    sha256_file,
    show_pin,
    start_normalisation,
    weights_list,
)
from ..checkpoint import load_tensors

log = logging.getLogger(__name__)

README = "resources/README.md"
WRAPPER_KEYS = (
    "state_dict",
    "model_state_dict",
    "model",
    "net",
    "network",
    "module",
    "params",
)
KNOWN_FILES = {
    "capsule": f"{example_weights('capsule')} (ImageNet VGG19 stem), then "
    "capsule_21.pt (Capsule-Forensics-v2, binary FaceForensics++)",
    "dsp_fwa": f"{example_weights('dsp_fwa')} (ImageNet ResNet-50) or "
    "SPP-res50.pth (DSP-FWA release)",
    "ictu_oculi": f"{example_weights('ictu_oculi')} (ImageNet VGG16)",
    "xception": f"{example_weights('xception')} (ImageNet Xception) or all_c23.p "
    "converted to a state dict (FaceForensics++ models)",
}


# -- unwrapping ------------------------------------------------------------------
def _is_state_dict(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and len(obj) > 0
        and any(isinstance(v, torch.Tensor) for v in obj.values())
    )


def unwrap_state_dict(obj: Any, path: str | os.PathLike = "<memory>") -> dict:
    """Find the tensor dict inside common checkpoint containers and drop
    ``module.`` prefixes."""
    seen = 0
    while not _is_state_dict(obj):
        if not isinstance(obj, dict) or seen > 4:
            keys = list(obj)[:10] if isinstance(obj, dict) else "-"
            raise InputError(
                f"{path}: no state dict found (top-level type "
                f"{type(obj).__name__}; keys {keys})"
            )
        for key in WRAPPER_KEYS:
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
        else:
            raise InputError(
                f"{path}: no state dict found under keys {list(obj)[:10]}; "
                f"expected tensors or one of {WRAPPER_KEYS}"
            )
        seen += 1
    out = {}
    for k, v in obj.items():
        if not isinstance(v, torch.Tensor):
            continue
        while k.startswith("module."):
            k = k[len("module.") :]
        out[k] = v
    return out


# -- per-model key mappings ------------------------------------------------------
_CAPSULE_LAYERS = {
    "0": "conv_a",
    "1": "bn_a",
    "3": "conv_b",
    "4": "bn_b",
    "7": "proj_a",
    "8": "proj_bn_a",
    "9": "proj_b",
    "10": "proj_bn_b",
}


def map_capsule(sd: dict) -> tuple[dict, set]:
    out = {}
    for k, v in sd.items():
        m = re.match(r"^(?:capnet\.)?fea_ext\.capsules\.(\d+)\.(\d+)\.(.+)$", k)
        if m and m.group(2) in _CAPSULE_LAYERS:
            k = f"primary.{m.group(1)}.{_CAPSULE_LAYERS[m.group(2)]}.{m.group(3)}"
        elif re.match(r"^(?:capnet\.)?routing_stats\.route_weights$", k):
            k = "route_weights"
        else:
            m = re.match(r"^(?:vgg_ext\.)?vgg_1\.(\d+)\.(.+)$", k) or re.match(
                r"^features\.(\d+)\.(.+)$", k
            )
            if m and (k.startswith("vgg") or int(m.group(1)) <= 18):
                k = f"stem.{m.group(1)}.{m.group(2)}"
        out[k] = v
    return out, set()


def map_dsp_fwa(sd: dict) -> tuple[dict, set]:
    out = {}
    for k, v in sd.items():
        if k.startswith("resnet.resnet.") and not k.startswith("resnet.resnet.fc."):
            k = "body." + k[len("resnet.resnet.") :]
        elif re.match(r"^(conv1|bn1|layer[1-4])\.", k):
            k = "body." + k
        out[k] = v
    return out, set()


def map_ictu_oculi(sd: dict) -> tuple[dict, set]:
    out = {}
    for k, v in sd.items():
        if m := re.match(r"^features\.(\d+)\.(.+)$", k):
            k = f"cnn.{m.group(1)}.{m.group(2)}"
        elif m := re.match(r"^classifier\.0\.(weight|bias)$", k):
            k = f"fc6.{m.group(1)}"
        out[k] = v
    return out, {"fc6.weight", "fc6.bias"}


def map_xception(sd: dict) -> tuple[dict, set]:
    out = {}
    for k, v in sd.items():
        if k.startswith("net."):
            k = k[len("net.") :]
        elif k.startswith("model."):
            k = k[len("model.") :]
        k = re.sub(r"^last_linear\.(?:1\.)?", "fc.", k)
        if k.endswith("pointwise.weight") and v.dim() == 2:
            v = v[:, :, None, None]
        out["net." + k] = v
    return out, {"net.fc.weight", "net.fc.bias"}


KEY_MAPPERS: dict[str, Callable[[dict], tuple[dict, set]]] = {
    "capsule": map_capsule,
    "dsp_fwa": map_dsp_fwa,
    "ictu_oculi": map_ictu_oculi,
    "xception": map_xception,
}


# -- loading ---------------------------------------------------------------------
def read_state_dict(path: str | os.PathLike) -> dict:
    try:
        obj = load_tensors(path)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, EOFError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(
            f"{path}: cannot be read as tensors with torch.load(weights_only=True) "
            f"({first}). A file holding a whole pickled model (FaceForensics++ "
            f"'all_c23.p' is one) must be converted to a state dict once; see "
            f"{README}."
        ) from e
    return unwrap_state_dict(obj, path)


def apply_state_dict(
    model: nn.Module, name: str, sd: dict, source: str = "<memory>"
) -> dict[str, Any]:
    """Map ``sd`` to ``model``'s names, check shapes, load non-strictly."""
    # a declared member maps its own keys (models.members); a study
    # detector has its mapper here; anything else loads as it is
    mapper = getattr(model, "map_state_dict", None) or KEY_MAPPERS.get(
        name, lambda d: (dict(d), set())
    )
    mapped, skippable = mapper(sd)
    target = model.state_dict()
    matched, unexpected, skipped = {}, [], []
    for k, v in mapped.items():
        if k not in target:
            unexpected.append(k)
            continue
        if tuple(v.shape) != tuple(target[k].shape):
            if k in skippable:
                skipped.append(k)
                continue
            raise InputError(
                f"{source}: tensor {k!r} has shape {tuple(v.shape)} but model "
                f"{name} expects {tuple(target[k].shape)} (check the model kwargs "
                f"in the config against the checkpoint)"
            )
        matched[k] = v.to(target[k].dtype)
    if not matched:
        raise InputError(
            f"{source}: no tensor matches model {name} "
            f"(first keys in the file: {list(sd)[:5]}); is it a {name} checkpoint? "
            f"See {README}."
        )
    model.load_state_dict(matched, strict=False)
    missing = [k for k in target if k not in matched]
    report = {
        "path": str(source),
        "tensors": len(target),
        "loaded_keys": sorted(matched),
        "matched": len(matched),
        "missing": len(missing),
        "unexpected": len(unexpected),
        "skipped": len(skipped),
        "missing_keys": missing,
        "unexpected_keys": unexpected,
        "skipped_keys": skipped,
    }
    log.info(
        "%s: loaded %d of %d tensors from %s (%d missing, %d unexpected, %d skipped)",
        name,
        len(matched),
        len(target),
        source,
        len(missing),
        len(unexpected),
        len(skipped),
    )
    return report


def load_weights(
    model: nn.Module,
    name: str,
    path: str | os.PathLike | Iterable[str | os.PathLike] | None,
    pretrained: str = "optional",
) -> list[dict[str, Any]]:
    """Load one local file (or a list, applied in order) into ``model``.

    ``pretrained``: ``none`` with a ``path`` is an error (nothing is dropped
    silently); ``optional`` warns and keeps the random initialisation when a
    file is missing; ``required`` raises :class:`InputError` naming the file
    and where to get it. Returns one report per loaded file (matched /
    missing / unexpected / skipped counts, the loaded keys).
    """
    if pretrained not in PRETRAINED_CHOICES:
        raise InputError(
            f"models.{name}.pretrained must be one of {PRETRAINED_CHOICES}, "
            f"not {pretrained!r}"
        )
    if pretrained == "none":
        if weights_list(path):
            raise InputError(
                f"model {name}: models.{name}.pretrained is 'none' but "
                f"models.{name}.weights is set ({path}); remove the weights or "
                f"set pretrained: required"
            )
        return []
    if path is None or path == "" or path == []:
        if pretrained == "required":
            raise InputError(
                f"models.{name}.pretrained is 'required' but models.{name}.weights "
                f"is not set; expected e.g. {KNOWN_FILES.get(name, 'a checkpoint')}. "
                f"See {README} for where to get it."
            )
        return []
    paths = [path] if isinstance(path, str | os.PathLike) else list(path)
    reports = []
    for p in paths:
        p = Path(p)
        if not p.is_file():
            msg = (
                f"weights file for model {name} not found: {p} "
                f"(config key models.{name}.weights; expected e.g. "
                f"{KNOWN_FILES.get(name, 'a checkpoint')}). Training never "
                f"downloads: rule fetch_weights fetches the ImageNet backbones, "
                f"the authors' checkpoints are put there by hand; see {README}."
            )
            if pretrained == "required":
                raise InputError(msg)
            warnings.warn(msg + " Training starts from random weights.", stacklevel=2)
            continue
        reports.append(apply_state_dict(model, name, read_state_dict(p), str(p)))
    return reports


# -- the start of a training run ---------------------------------------------------
def check_pinned_hash(path: str | os.PathLike) -> tuple[str, Any]:
    """Full SHA-256 of ``path`` and its catalogue entry (or ``None``); a
    catalogue file whose hash is not the pinned one is an error."""
    sha = sha256_file(path)
    entry = CATALOG.get(Path(path).name)
    if entry is not None and not hash_matches(sha, entry.sha256):
        raise InputError(
            f"{path}: SHA-256 {sha} does not match the pinned "
            f"{show_pin(entry.sha256)} of {entry.name} ({entry.source}); delete "
            f"it and run rule fetch_weights again"
        )
    return sha, entry


def start_model(
    model: nn.Module,
    name: str,
    weights: Any,
    pretrained: str,
    normalisation: str,
    default_normalisation: str,
) -> dict[str, Any]:
    """Give a freshly built ``model`` its starting weights and describe them.

    Checks pinned hashes, loads the files (:func:`load_weights`), refuses a
    frozen module with tensors left random (Capsule's stem with
    ``freeze_stem``), and returns the start record (``start.json``): the model,
    ``pretrained``, the input normalisation and why, the number of tensors,
    how many stay random, and per file its path, SHA-256, source and the
    tensors it loaded, left missing and did not use.
    """
    files = weights_list(weights) if pretrained != "none" else []
    hashes = {str(Path(p)): check_pinned_hash(p) for p in files if Path(p).is_file()}
    reports = load_weights(model, name, weights, pretrained)
    target = model.state_dict()
    loaded: set[str] = set()
    rows = []
    for r in reports:
        sha, entry = hashes[r["path"]]
        loaded |= set(r["loaded_keys"])
        rows.append(
            {
                "file": r["path"],
                "sha256": sha,
                "pinned": entry.sha256 if entry else None,
                "source": entry.source if entry else "not in the shipped catalogue",
                "loaded": r["matched"],
                "missing": r["missing"],
                "unused": r["unexpected"] + r["skipped"],
                "skipped": r["skipped"],
            }
        )
    for prefix in getattr(model, "frozen_prefixes", ()):
        keys = [k for k in target if k.startswith(prefix)]
        left = [k for k in keys if k not in loaded]
        if left:
            raise InputError(
                f"model {name}: {prefix.rstrip('.')} is frozen but "
                f"{len(left)} of its {len(keys)} tensors were not loaded "
                f"(e.g. {left[0]}); it would stay random. Start it from "
                f"{example_weights(name)} (models.{name}.weights) or set "
                f"models.{name}.kwargs.freeze_stem: false"
            )
    if getattr(model, "freeze_stem", True) is False:
        log.warning(
            "%s: kwargs.freeze_stem is false: the stem trains with the rest "
            "(the original froze an ImageNet stem)",
            name,
        )
    expected, why = start_normalisation(
        name, weights, pretrained, default_normalisation
    )
    if normalisation != expected:
        why = f"config key models.{name}.normalisation (the start implies {expected})"
        log.warning("%s: normalisation %s set by %s", name, normalisation, why)
    record = {
        "model": name,
        "pretrained": pretrained,
        "normalisation": normalisation,
        "normalisation_from": why,
        "tensors": len(target),
        "random": sum(1 for k in target if k not in loaded),
        "files": rows,
    }
    log.info(
        "%s starts from %s; normalisation %s (%s); %d of %d tensors random",
        name,
        ", ".join(f"{Path(f['file']).name} ({f['sha256'][:12]})" for f in rows)
        or "random weights",
        normalisation,
        why,
        record["random"],
        record["tensors"],
    )
    return record
