"""Detection by cue: which kinds of fakes each detector and ensemble catches.

The demo generator records, per video, which cues of manipulation it carries
(``results/demo/cues.csv``: ``artefacts`` for swap artefacts, resolution loss
and blend seams; ``no_blink`` for suppressed blinking; ``low_quality`` and
``no_blink`` on reals are confounders). For each detector and ensemble and
each cue of the fakes, this module reports on the test split, against all
real videos:

* the detection rate of the fakes *with* the cue and of those *without* it,
  at the detector's threshold chosen on validation (``score > threshold``);
* the video AUC of those fakes against all reals.

A detector of one cue catches the fakes with it and misses the others; an
ensemble of complementary detectors should catch both. Real datasets record
no cues: there the table is empty.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ..errors import InputError
from .metrics import auc

#: the cues of the fakes, as cues.csv names them
FAKE_CUES = ("artefacts", "no_blink")
CUE_COLUMNS = (
    "name",
    "cue",
    "with_cue",
    "n_fakes",
    "n_reals",
    "threshold",
    "detection_rate",
    "video_auc",
)


def read_cues(path: str | os.PathLike) -> pd.DataFrame:
    """``cues.csv``: ``video_id``, ``label`` and one 0/1 column per cue."""
    df = pd.read_csv(path, dtype={"video_id": str}, keep_default_na=False)
    missing = [c for c in ("video_id", "label", *FAKE_CUES) if c not in df.columns]
    if missing:
        raise InputError(f"{path}: no column {missing[0]!r}")
    for cue in FAKE_CUES:
        df[cue] = df[cue].astype(str).str.lower().isin(["1", "true"])
    return df


def cue_rows(
    name: str, videos: pd.DataFrame, threshold: float | None, cues: pd.DataFrame
) -> list[dict]:
    """The rows of one detector: ``videos`` is its completed test video table
    (``video_id, label, score``), ``threshold`` its validation threshold."""
    v = videos[["video_id", "label", "score"]].merge(
        cues[["video_id", *FAKE_CUES]], on="video_id", how="left"
    )
    reals = v[v["label"] == 0]
    fakes = v[v["label"] == 1]
    unknown = fakes[list(FAKE_CUES)].isna().any(axis=1)
    if unknown.any():
        raise InputError(
            f"cues: test video {fakes.loc[unknown, 'video_id'].iloc[0]!r} "
            "has no row in the cue table"
        )
    rows = []
    for cue in FAKE_CUES:
        for with_cue in (True, False):
            part = fakes[fakes[cue].astype(bool) == with_cue]
            scores = np.concatenate([reals["score"], part["score"]])
            labels = np.r_[np.zeros(len(reals)), np.ones(len(part))]
            rate = None
            if threshold is not None and len(part):
                rate = float((part["score"].to_numpy(float) > threshold).mean())
            rows.append(
                {
                    "name": name,
                    "cue": cue,
                    "with_cue": with_cue,
                    "n_fakes": len(part),
                    "n_reals": len(reals),
                    "threshold": threshold,
                    "detection_rate": rate,
                    "video_auc": auc(labels, scores) if len(part) else None,
                }
            )
    return rows


def cue_table(
    tables: dict[str, pd.DataFrame],
    thresholds: dict[str, float | None],
    cues: pd.DataFrame | None,
) -> pd.DataFrame:
    """:data:`CUE_COLUMNS` for every detector/ensemble (empty without cues)."""
    if cues is None:
        return pd.DataFrame(columns=list(CUE_COLUMNS))
    rows = [
        r
        for name, videos in tables.items()
        for r in cue_rows(name, videos, thresholds.get(name), cues)
    ]
    return pd.DataFrame(rows, columns=list(CUE_COLUMNS))


def cue_markdown(table: pd.DataFrame) -> str:
    """One line per detector: detection rate and AUC with / without each cue."""
    if table.empty:
        return ""

    def fmt(x) -> str:
        return "" if x is None or pd.isna(x) else f"{x:.2f}"

    head = ["name"]
    for cue in FAKE_CUES:
        head += [f"{cue}: rate with", "without", "AUC with", "without"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, g in table.groupby("name", sort=False):
        cells = [f"`{name}`"]
        for cue in FAKE_CUES:
            w = g[(g["cue"] == cue) & g["with_cue"]].iloc[0]
            wo = g[(g["cue"] == cue) & ~g["with_cue"]].iloc[0]
            cells += [
                fmt(w["detection_rate"]),
                fmt(wo["detection_rate"]),
                fmt(w["video_auc"]),
                fmt(wo["video_auc"]),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    first = table.iloc[0]
    return (
        "\n".join(lines)
        + f"\n\nTest split: {int(first['n_reals'])} real videos; fakes with / "
        "without each cue counted in `results/summary_by_cue.csv`. Detection "
        "rate at each row's threshold chosen on validation.\n"
    )
