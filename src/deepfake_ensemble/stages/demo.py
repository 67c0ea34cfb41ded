"""Rule of ``rules/demo.smk`` (environment ``envs/preprocess.yaml``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..demo import generate_demo_dataset

log = logging.getLogger(__name__)


def generate_demo(
    wheel: str | os.PathLike, metadata: str | os.PathLike, demo: Mapping[str, Any]
) -> None:
    """The synthetic demo dataset, written beside ``metadata`` (DFDC layout)."""
    videos = generate_demo_dataset(
        out_dir=Path(metadata).parent,
        wheel_path=wheel,
        n_real=demo["n_real"],
        n_fake=demo["n_fake"],
        duration_s=demo["duration_s"],
        fps=demo["fps"],
        size=demo["size"],
        seed=demo["seed"],
    )
    log.info("generated %d demo videos", len(videos))
