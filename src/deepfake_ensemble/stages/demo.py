"""Rule of ``rules/demo.smk`` (environment ``envs/preprocess.yaml``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..catalog import DEMO_LAYOUTS, demo_marker
from ..demo import cue_table, generate_demo_dataset
from ..demo.build import DEFAULT_CRF
from ..errors import InputError
from ..io import write_csv

log = logging.getLogger(__name__)


def demo_dataset_name(
    datasets: Sequence[Mapping[str, Any]], out_dir: str | os.PathLike
) -> str:
    """The name of the configured dataset read from ``out_dir`` (the prefix of
    its video ids in the manifest); ``demo`` when none is configured."""
    target = os.path.abspath(out_dir)
    for spec in datasets:
        root = spec.get("root")
        if root is not None and os.path.abspath(os.fspath(root)) == target:
            return str(spec["name"])
    return "demo"


#: the settings of an extra demo dataset that default to the main demo's
EXTRA_INHERITED = (
    "n_real",
    "n_fake",
    "duration_s",
    "fps",
    "size",
    "seed",
    "identity_variants",
    "first_variant",
    "artefact_kind",
    "crf",
)


def extra_demo_marker(extra: Mapping[str, Any]) -> str:
    """The file an extra demo dataset's generation writes last (its root's
    ``metadata.json`` or ``videos.csv``, by layout)."""
    layout = extra.get("layout", "csv")
    if layout not in DEMO_LAYOUTS:
        raise InputError(
            f"demo.extra: layout must be one of {', '.join(DEMO_LAYOUTS)} "
            f"(got {layout!r})"
        )
    return demo_marker(extra["root"], layout)


def extra_demo_settings(
    demo: Mapping[str, Any], extra: Mapping[str, Any]
) -> dict[str, Any]:
    """An extra demo dataset's settings: its own keys, else the main demo's
    (:data:`EXTRA_INHERITED`; ``cues`` and ``confounders`` key by key)."""
    out = {k: demo[k] for k in EXTRA_INHERITED if k in demo}
    out.update({k: v for k, v in extra.items() if k not in ("cues", "confounders")})
    for key in ("cues", "confounders"):
        out[key] = {**dict(demo.get(key) or {}), **dict(extra.get(key) or {})}
    out.setdefault("layout", "csv")
    return out


def _generate(
    out_dir: Path, wheel: str | os.PathLike, cfg: Mapping[str, Any], workers: int
):
    return generate_demo_dataset(
        out_dir=out_dir,
        wheel_path=wheel,
        n_real=cfg["n_real"],
        n_fake=cfg["n_fake"],
        duration_s=cfg["duration_s"],
        fps=cfg["fps"],
        size=cfg["size"],
        seed=cfg["seed"],
        identity_variants=cfg.get("identity_variants", 6),
        cues=cfg.get("cues"),
        confounders=cfg.get("confounders"),
        crf=cfg.get("crf", DEFAULT_CRF),
        first_variant=cfg.get("first_variant", 0),
        artefact_kind=cfg.get("artefact_kind", "warp"),
        layout=cfg.get("layout", "dfdc"),
        workers=workers,
    )


def generate_demo(
    wheel: str | os.PathLike,
    metadata: str | os.PathLike,
    demo: Mapping[str, Any],
    cues: str | os.PathLike | None = None,
    datasets: Sequence[Mapping[str, Any]] = (),
    extra_markers: Sequence[str | os.PathLike] = (),
    threads: int = 1,
) -> None:
    """The synthetic demo dataset, written beside ``metadata`` (DFDC layout),
    and its per-video cue table ``cues`` (video ids as the manifest names
    them); ``threads`` threads write the videos (the same files for any
    number).

    ``demo["extra"]`` lists further demo datasets (e.g. another manipulation
    method, in another layout, for ``evaluation.protocol: cross_dataset``),
    each generated into the folder of its marker in ``extra_markers``
    (:func:`extra_demo_marker`, in the same order) with
    :func:`extra_demo_settings`; ``cues`` then covers every demo dataset.
    """
    extras = list(demo.get("extra") or [])
    if len(extras) != len(extra_markers):
        raise InputError(
            f"demo.extra lists {len(extras)} dataset(s) but {len(extra_markers)} "
            "output(s) were declared for them"
        )
    out_dir = Path(metadata).parent
    jobs = [(out_dir, {**demo, "layout": "dfdc"})]
    jobs += [
        (Path(marker).parent, extra_demo_settings(demo, extra))
        for extra, marker in zip(extras, extra_markers, strict=True)
    ]
    roots = {os.path.abspath(os.fspath(d["root"])) for d in datasets if "root" in d}
    for folder, _ in jobs[1:]:
        if os.path.abspath(folder) not in roots:
            raise InputError(
                f"demo.extra: {folder} is not the root of any configured dataset "
                "(add it to `datasets`, with its layout)"
            )
    tables = []
    for folder, cfg in jobs:
        videos = _generate(folder, wheel, cfg, threads)
        name = demo_dataset_name(datasets, folder)
        table = cue_table(videos, name)
        tables.append(table)
        shares = table.groupby("label")[["artefacts", "no_blink", "low_quality"]]
        log.info(
            "generated %d demo videos of %d identities in %s (dataset %s, "
            "layout %s, %s artefacts); cue shares by label (0 real, 1 fake):\n%s",
            len(videos),
            videos["group"].nunique(),
            folder,
            name,
            cfg.get("layout", "dfdc"),
            cfg.get("artefact_kind", "warp"),
            shares.mean().round(3).to_string(),
        )
    table = tables[0] if len(tables) == 1 else pd.concat(tables, ignore_index=True)
    if cues is not None:
        write_csv(table, cues)
