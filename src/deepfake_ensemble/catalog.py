"""The workflow's names and file layout, stated once.

This module imports nothing beyond the standard library, so the Snakefile
(``rules/common.smk``), every rule's code and the tests read the same facts:
which detectors and ensembles exist and which files an ensemble writes.
"""

from __future__ import annotations

import os
from pathlib import Path

#: the four single detectors, in the study's order (the model registry in
#: ``deepfake_ensemble.models`` registers exactly these)
MODEL_NAMES: tuple[str, ...] = ("capsule", "dsp_fwa", "ictu_oculi", "xception")

#: ensemble name -> (member selection rule, combination method): the study's
#: six (``*_hard``, ``*_soft``) and this project's variants beside them
ENSEMBLES: dict[str, tuple[str, str]] = {
    "best2_hard": ("best2", "hard"),
    "best2_hard_tiebreak": ("best2", "hard_tiebreak"),
    "best2_hard_calibrated": ("best2", "hard_calibrated"),
    "best2_soft": ("best2", "soft"),
    "small2_hard": ("small2", "hard"),
    "small2_hard_tiebreak": ("small2", "hard_tiebreak"),
    "small2_hard_calibrated": ("small2", "hard_calibrated"),
    "small2_soft": ("small2", "soft"),
    "all_hard": ("all", "hard"),
    "all_hard_tiebreak": ("all", "hard_tiebreak"),
    "all_hard_calibrated": ("all", "hard_calibrated"),
    "all_soft": ("all", "soft"),
    "all_stacked": ("all", "stacked"),
}
ENSEMBLE_NAMES: tuple[str, ...] = tuple(ENSEMBLES)

#: combination method -> who defined it and what it is (the summary's labels)
METHODS: dict[str, str] = {
    "hard": "study: fraction of members voting fake (score > 0.5)",
    "hard_tiebreak": "ours: votes plus mean score as tie-break, (v + s) / (m + 1)",
    "hard_calibrated": "ours: members calibrated on validation, then the study's vote",
    "soft": "study: weighted mean, Dirichlet weights searched on validation",
    "stacked": "ours: logistic-regression meta-learner on member logits",
}


def ensembles_for(calibration: str = "platt") -> tuple[str, ...]:
    """The ensembles the workflow builds: every one, less the calibrated
    variants when ``ensemble.calibration`` is ``none``."""
    return tuple(
        name
        for name, (_, method) in ENSEMBLES.items()
        if calibration != "none" or method != "hard_calibrated"
    )


SPLITS: tuple[str, ...] = ("train", "val", "test")

#: the files of one ensemble's output folder, by role
ENSEMBLE_FILES: dict[str, str] = {
    "metrics": "metrics.json",
    "members": "members.json",
    "weights": "weights.json",
    "test_frames": "test_frames.csv",
    "test_videos": "test_videos.csv",
    "val_frames": "val_frames.csv",
    "val_videos": "val_videos.csv",
}


def ensemble_files(out_dir: str | os.PathLike) -> dict[str, str]:
    """Role -> path of every file of the ensemble folder ``out_dir``."""
    return {role: str(Path(out_dir) / name) for role, name in ENSEMBLE_FILES.items()}
