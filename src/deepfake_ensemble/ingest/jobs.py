"""Rules of ``rules/ingest.smk`` (environment ``envs/preprocess.yaml``):
``generate_demo``, ``ingest`` and ``split``."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..defaults import DEFAULTS
from ..errors import InputError
from ..io import write_csv
from ..layout import DEMO_LAYOUTS, demo_marker
from .demo import cue_table, generate_demo_dataset
from .demo.build import DEFAULT_CRF
from .manifest import build_manifest
from .splits import (
    SPLIT_BY,
    assign_splits,
    check_splits,
    identity_overlap,
    split_counts,
)

log = logging.getLogger(__name__)


def ingest(datasets: Sequence[Mapping[str, Any]], manifest: str | os.PathLike) -> None:
    """Every video of the configured datasets, in one manifest."""
    table = build_manifest([dict(d) for d in datasets])
    write_csv(table, manifest)
    log.info(
        "manifest: %d videos\n%s",
        len(table),
        table.groupby(["dataset", "label"]).size().to_string(),
    )


def split(
    manifest: str | os.PathLike,
    outputs: Mapping[str, str | os.PathLike],
    cfg: Mapping[str, Any],
) -> None:
    """Train, val and test lists (``outputs``: ``train, val, test, counts,
    dropped, overlap``).

    ``dropped``: the videos the split left out, with the reason (identity
    splits, official test sets with groups). ``overlap``: per split mode
    (``video``, ``group``, ``identity``; the configured one marked) and
    dataset, the share of test fakes whose source identity appears in train.
    """
    table = pd.read_csv(manifest, keep_default_na=False)

    def assign(split_by: str) -> pd.DataFrame:
        return assign_splits(
            table,
            ratios=tuple(cfg["ratios"]),
            split_by=split_by,
            use_official_test=cfg["use_official_test"],
            seed=cfg["seed"],
        )

    assigned = assign(cfg["split_by"])
    splits = {
        name: assigned[assigned["split"] == name]
        .drop(columns="drop_reason")
        .reset_index(drop=True)
        for name in ("train", "val", "test")
    }
    dropped = assigned[assigned["split"] == "dropped"].reset_index(drop=True)
    counts = split_counts(splits)
    log.info("videos per split, dataset and label:\n%s", counts.to_string(index=False))
    if len(dropped):
        log.info(
            "%d video(s) dropped:\n%s",
            len(dropped),
            dropped.groupby(["dataset", "label"]).size().to_string(),
        )
    overlap = []
    for mode in SPLIT_BY:
        other = assigned if mode == cfg["split_by"] else assign(mode)
        overlap.append(
            identity_overlap(other).assign(
                split_by=mode, configured=mode == cfg["split_by"]
            )
        )
    overlap = pd.concat(overlap, ignore_index=True)
    overlap = overlap[["split_by", "configured", *overlap.columns[:-2]]]
    log.info("identity overlap of the test fakes:\n%s", overlap.to_string(index=False))
    check_splits(splits)
    for name in ("train", "val", "test"):
        write_csv(splits[name], outputs[name])
    write_csv(counts, outputs["counts"])
    write_csv(dropped, outputs["dropped"])
    write_csv(overlap, outputs["overlap"])


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
        identity_variants=cfg.get(
            "identity_variants", DEFAULTS["demo.identity_variants"]
        ),
        cues=cfg.get("cues"),
        confounders=cfg.get("confounders"),
        crf=cfg.get("crf", DEFAULT_CRF),
        first_variant=cfg.get("first_variant", DEFAULTS["demo.first_variant"]),
        artefact_kind=cfg.get("artefact_kind", DEFAULTS["demo.artefact_kind"]),
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
            cfg.get("artefact_kind", DEFAULTS["demo.artefact_kind"]),
            shares.mean().round(3).to_string(),
        )
    table = tables[0] if len(tables) == 1 else pd.concat(tables, ignore_index=True)
    if cues is not None:
        write_csv(table, cues)
