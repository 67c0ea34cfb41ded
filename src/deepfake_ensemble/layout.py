"""The workflow's names and file layout, stated once.

This module imports nothing beyond the standard library, so the Snakefile
(``rules/common.smk``), every rule's code and the tests read the same facts:
which detectors and ensembles exist and which files an ensemble writes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .defaults import DEFAULTS
from .errors import InputError

#: the four single detectors, in the study's order (the model registry in
#: ``deepfake_ensemble.train.models`` registers exactly these); the members
#: beyond them are declared in the config (``deepfake_ensemble.members``)
MODEL_NAMES: tuple[str, ...] = ("capsule", "dsp_fwa", "ictu_oculi", "xception")
#: those of them that read eye-crop sequences, not face crops (the registry's
#: input kind ``eye_sequence``): In Ictu Oculi
EYE_SEQUENCE_MODELS: tuple[str, ...] = ("ictu_oculi",)

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
#: ensemble name -> (member selection rule, combination method) of the
#: ensembles over every enabled member, the study's four and the members
#: declared beyond them (``deepfake_ensemble.members``): the study's hard and
#: soft votes and this project's stacker over all members (``allm_*``) and
#: over the three best on validation (``best3m_*``: k fixed at 3, ranked as
#: ``best2`` ranks: validation video AUC, then frame AUC). The workflow
#: builds them only where the config declares members beyond the study's four
#: (:func:`ensembles_for`); the study's ensembles above keep combining the
#: study's four.
MEMBER_ENSEMBLES: dict[str, tuple[str, str]] = {
    "best3m_hard": ("best3", "hard"),
    "best3m_soft": ("best3", "soft"),
    "best3m_stacked": ("best3", "stacked"),
    "allm_hard": ("all", "hard"),
    "allm_soft": ("all", "soft"),
    "allm_stacked": ("all", "stacked"),
}
#: the number of members of the ``best3m_*`` ensembles
MEMBER_BEST_K = 3
ENSEMBLE_NAMES: tuple[str, ...] = tuple(ENSEMBLES)
#: every ensemble, over the study's four or over every member: name ->
#: (member selection rule, combination method)
ALL_ENSEMBLES: dict[str, tuple[str, str]] = {**ENSEMBLES, **MEMBER_ENSEMBLES}

#: combination method -> who defined it and what it is (the summary's labels)
METHODS: dict[str, str] = {
    "hard": "study: fraction of members voting fake (score > 0.5)",
    "hard_tiebreak": "ours: votes plus mean score as tie-break, (v + s) / (m + 1)",
    "hard_calibrated": "ours: members calibrated on validation, then the study's vote",
    "soft": "study: weighted mean, Dirichlet weights searched on validation",
    "stacked": "ours: logistic-regression meta-learner on member logits",
}


def ensembles_for(
    calibration: str = DEFAULTS["ensemble.calibration"],
    members: Iterable[str] | None = None,
) -> tuple[str, ...]:
    """The ensembles the workflow builds: every one over the study's four,
    less the calibrated variants when ``ensemble.calibration`` is ``none``;
    then, where ``members`` (the enabled members) holds a member beyond the
    study's four, the ensembles over every member (:data:`MEMBER_ENSEMBLES`;
    ``best3m_*`` where there are more than three members, else they would be
    ``allm_*``)."""
    names = [
        name
        for name, (_, method) in ENSEMBLES.items()
        if calibration != "none" or method != "hard_calibrated"
    ]
    members = list(members or ())
    if any(m not in MODEL_NAMES for m in members):
        names += [
            name
            for name, (rule, _) in MEMBER_ENSEMBLES.items()
            if rule == "all" or len(members) > MEMBER_BEST_K
        ]
    return tuple(names)


SPLITS: tuple[str, ...] = ("train", "val", "test")

#: how a demo dataset is laid out (``demo.extra[].layout``) -> the file its
#: generation writes last, which marks it complete: ``dfdc`` (the videos and
#: a ``metadata.json`` in one folder) or ``csv`` (``real/``, ``fake/`` and a
#: ``videos.csv`` of ``path, label, group, original``), each read by ingest's
#: layout of that name
DEMO_LAYOUTS: dict[str, str] = {"dfdc": "metadata.json", "csv": "videos.csv"}


def demo_marker(root: str | os.PathLike, layout: str = "csv") -> str:
    """The file that marks the demo dataset at ``root`` complete."""
    return os.path.normpath(os.path.join(os.fspath(root), DEMO_LAYOUTS[layout]))


#: the files of an ensemble fitted on validation (rule ``ensemble``), by role
#: (``weights.json`` holds everything fitted, as plain parameters)
ENSEMBLE_FIT_FILES: dict[str, str] = {
    "members": "members.json",
    "weights": "weights.json",
    "val_frames": "val_frames.csv",
    "val_videos": "val_videos.csv",
}
#: the files of an ensemble applied to one test set (rule ``ensemble_test``)
ENSEMBLE_TEST_FILES: dict[str, str] = {
    "metrics": "metrics.json",
    "test_frames": "test_frames.csv",
    "test_videos": "test_videos.csv",
}
#: every file of an ensemble, by role
ENSEMBLE_FILES: dict[str, str] = {**ENSEMBLE_TEST_FILES, **ENSEMBLE_FIT_FILES}


def ensemble_files(
    out_dir: str | os.PathLike, test_dir: str | os.PathLike | None = None
) -> dict[str, str]:
    """Role -> path of every file of an ensemble: the fit's files in
    ``out_dir``, those of its test set in ``test_dir`` (default ``out_dir``;
    the workflow uses ``<out_dir>/test/<test set>``)."""
    test_dir = out_dir if test_dir is None else test_dir
    return {
        role: str(Path(test_dir if role in ENSEMBLE_TEST_FILES else out_dir) / name)
        for role, name in ENSEMBLE_FILES.items()
    }


# -- the robustness stage (evaluation.robustness) -----------------------------
#: the perturbations of the robustness stage, in table order (their levels:
#: deepfake_ensemble.preprocess.perturb.LEVELS)
PERTURBATIONS = ("h264", "jpeg", "resize", "blur", "noise", "saturation", "contrast")
#: the name of the undegraded test set among the robustness conditions
CLEAN = "clean"


def robustness_condition(perturbation: str, severity: int) -> str:
    """``<perturbation>-<severity>``: one degraded copy of the test set."""
    if perturbation not in PERTURBATIONS:
        raise InputError(
            f"perturbation {perturbation!r} is not one of {', '.join(PERTURBATIONS)}"
        )
    if int(severity) not in range(1, 6):
        raise InputError(f"{perturbation}: severity {severity!r} is not one of 1-5")
    return f"{perturbation}-{int(severity)}"


def parse_condition(name: str) -> tuple[str, int]:
    """``(perturbation, severity)`` of a condition name (``clean``: 0)."""
    if name == CLEAN:
        return CLEAN, 0
    p, _, s = str(name).rpartition("-")
    if not p or not s.isdigit():
        raise InputError(f"robustness condition {name!r} is not <perturbation>-<1..5>")
    robustness_condition(p, int(s))
    return p, int(s)


def robustness_conditions(cfg: dict) -> list[str]:
    """The conditions of ``evaluation.robustness`` (every perturbation at
    every severity), in config order."""
    return [
        robustness_condition(p, s)
        for p in cfg["perturbations"]
        for s in cfg["severities"]
    ]
