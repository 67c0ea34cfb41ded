"""Rule of ``rules/demo.smk`` (environment ``envs/preprocess.yaml``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..demo import cue_table, generate_demo_dataset
from ..demo.build import DEFAULT_CRF
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


def generate_demo(
    wheel: str | os.PathLike,
    metadata: str | os.PathLike,
    demo: Mapping[str, Any],
    cues: str | os.PathLike | None = None,
    datasets: Sequence[Mapping[str, Any]] = (),
) -> None:
    """The synthetic demo dataset, written beside ``metadata`` (DFDC layout),
    and its per-video cue table ``cues`` (video ids as the manifest names
    them)."""
    out_dir = Path(metadata).parent
    videos = generate_demo_dataset(
        out_dir=out_dir,
        wheel_path=wheel,
        n_real=demo["n_real"],
        n_fake=demo["n_fake"],
        duration_s=demo["duration_s"],
        fps=demo["fps"],
        size=demo["size"],
        seed=demo["seed"],
        identity_variants=demo.get("identity_variants", 6),
        cues=demo.get("cues"),
        confounders=demo.get("confounders"),
        crf=demo.get("crf", DEFAULT_CRF),
    )
    table = cue_table(videos, demo_dataset_name(datasets, out_dir))
    if cues is not None:
        write_csv(table, cues)
    shares = table.groupby("label")[["artefacts", "no_blink", "low_quality"]].mean()
    log.info(
        "generated %d demo videos of %d identities; cue shares by label "
        "(0 real, 1 fake):\n%s",
        len(videos),
        videos["group"].nunique(),
        shares.round(3).to_string(),
    )
