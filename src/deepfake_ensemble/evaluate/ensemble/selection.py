"""Member selection: ranking on validation metrics; ``best2``, ``best3``,
``small2``, ``all``.

An undefined validation AUC (``None``, see :mod:`deepfake_ensemble.evaluate.metrics`)
ranks below every defined one and is shown as ``n/a``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from deepfake_ensemble.errors import InputError
from deepfake_ensemble.evaluate.metrics import defined

SELECTION_RULES = ("best2", "best3", "small2", "all")
#: ``best<k>`` -> k in words (the reason's text)
_BEST_K = {"best2": (2, "two"), "best3": (3, "three")}


def _auc_key(value) -> float:
    value = defined(value)
    return -math.inf if value is None else value


def rank_by_validation(val_metrics: Mapping[str, Mapping]) -> list[str]:
    """Models best first: validation video AUC, then frame AUC, then name."""
    return sorted(
        val_metrics,
        key=lambda m: (
            -_auc_key(val_metrics[m].get("video_auc")),
            -_auc_key(val_metrics[m].get("frame_auc")),
            m,
        ),
    )


def _fmt(v) -> str:
    v = defined(v)
    return "n/a" if v is None else f"{v:.4f}"


def select_members(
    val_metrics: Mapping[str, Mapping],
    model_sizes: Mapping[str, Mapping],
    rule: str,
) -> tuple[list[str], str]:
    """Pick the members of an ensemble; return ``(members, reason)``.

    ``best2``/``best3``: the two/three highest validation video AUCs (ties:
    frame AUC, then name). ``small2``: the two smallest checkpoint files
    (ties: parameter count, then name). ``all``: every model, in name order.
    """
    models = sorted(val_metrics)
    if rule == "all":
        return models, f"all {len(models)} models: {', '.join(models)}"
    k, words = _BEST_K.get(rule, (2, "two"))
    if len(models) < k:
        raise InputError(f"rule {rule!r} needs at least {words} models, got {models}")
    if rule in _BEST_K:
        ranked = rank_by_validation(val_metrics)
        parts = [
            f"{m} (video AUC {_fmt(val_metrics[m].get('video_auc'))}, "
            f"frame AUC {_fmt(val_metrics[m].get('frame_auc'))})"
            for m in ranked
        ]
        reason = (
            f"{words} highest validation video AUCs: "
            + ", ".join(parts[:k])
            + "; next: "
            + (", ".join(parts[k:]) or "none")
        )
        return ranked[:k], reason
    if rule == "small2":
        lacking = [m for m in models if m not in model_sizes]
        if lacking:
            raise InputError(f"no checkpoint size for model(s) {', '.join(lacking)}")

        def key(m):
            size = model_sizes[m]
            return (int(size["bytes"]), int(size.get("params", 0)), m)

        ranked = sorted(models, key=key)
        parts = [
            f"{m} ({int(model_sizes[m]['bytes']):,} bytes, "
            f"{int(model_sizes[m].get('params', 0)):,} parameters)"
            for m in ranked
        ]
        reason = (
            "two smallest checkpoint files: "
            + ", ".join(parts[:2])
            + "; next: "
            + (", ".join(parts[2:]) or "none")
        )
        return ranked[:2], reason
    raise ValueError(f"unknown selection rule {rule!r} (one of {SELECTION_RULES})")
