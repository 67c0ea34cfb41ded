"""Rule of ``rules/summary.smk`` (environment ``envs/ensemble.yaml``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .. import summary as s
from ..cues import cue_markdown, cue_table, read_cues
from ..evaluation import evaluate_on_split, evaluation_config, read_split_videos
from ..io import read_json, write_csv
from ..predictions import read_predictions
from ..pretrained import START_COLUMNS, start_markdown, start_table_rows
from ..stats import per_dataset_table

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


def _read_ensemble(files: Mapping[str, PathLike]) -> dict[str, Any]:
    members = read_json(files["members"])
    return {
        "test_frames": read_predictions(files["test_frames"]),
        "test_videos": read_predictions(files["test_videos"]),
        "val_frames": read_predictions(files["val_frames"]),
        "val_videos": read_predictions(files["val_videos"]),
        "members": members["members"],
        "val_fit": members.get("val_fit"),
        "weights": read_json(files["weights"])["weights"],
        "metrics": read_json(files["metrics"]),
    }


def summarize(
    val_csvs: Mapping[str, PathLike],
    test_csvs: Mapping[str, PathLike],
    sizes: Mapping[str, PathLike],
    histories: Mapping[str, PathLike],
    ensembles: Mapping[str, Mapping[str, PathLike]],
    cfg: Mapping[str, Any],
    outputs: Mapping[str, PathLike],
    starts: Mapping[str, PathLike] | None = None,
    splits: Mapping[str, PathLike] | None = None,
    evaluation: Mapping[str, Any] | None = None,
    cues: PathLike | None = None,
) -> None:
    """The summary table (csv + markdown) and the comparison figures.

    ``splits``: ``val`` and ``test`` split lists (every video of the split
    counts, with its group; ``evaluation``: the no-face policy, threshold
    rule and alpha).

    ``ensembles``: name -> role -> file (``catalog.ensemble_files``);
    ``cues``: the demo's cue table (``results/demo/cues.csv``), for the
    detection-by-cue table (``outputs["by_cue"]``; empty without it);
    ``outputs``: ``csv, md, by_dataset, by_cue, roc, confusion, weights, curves``
    and, with ``starts`` (model -> its ``start.json``), ``starts``: how each
    model started (a table, also appended to the markdown).
    """
    single = {
        m: {
            "val": read_predictions(val_csvs[m]),
            "test": read_predictions(test_csvs[m]),
            "size": read_json(sizes[m]),
        }
        for m in test_csvs
    }
    fitted = {name: _read_ensemble(files) for name, files in ensembles.items()}
    split_lists = {k: read_split_videos(p) for k, p in dict(splits or {}).items()}
    table = s.build_summary(single, fitted, dict(cfg), split_lists, evaluation)
    notes = s.summary_notes(table, split_lists.get("test"), evaluation)
    s.write_summary(table, outputs["csv"], outputs["md"], notes)
    curves = {m: d["test"] for m, d in single.items()}
    curves.update({n: e["test_frames"] for n, e in fitted.items()})
    s.plot_roc_all(curves, outputs["roc"])
    frame_rows = table[table["level"] != "video"] if "level" in table else table
    s.plot_confusion_grid(
        dict(zip(frame_rows["name"], frame_rows["confusion_matrix"], strict=True)),
        outputs["confusion"],
    )
    s.plot_weights(
        {n: e["weights"]["frame"] for n, e in fitted.items() if e["weights"]},
        outputs["weights"],
    )
    s.plot_training_curves(dict(histories), outputs["curves"])
    by_dataset = per_dataset_table(curves)
    write_csv(by_dataset, outputs["by_dataset"])
    if by_dataset["dataset"].nunique() > 1:
        with open(outputs["md"], "a", encoding="utf-8") as md:
            md.write("\n## Per dataset (test split)\n\n")
            md.write(s.markdown_table(by_dataset) + "\n")
    if "by_cue" in outputs:
        write_cue_table(
            single, fitted, table, split_lists.get("test"), evaluation, cues, outputs
        )
    if starts is not None:
        write_model_starts(starts, outputs["starts"], outputs["md"])
    log.info("summary:\n%s", Path(outputs["md"]).read_text())


def write_model_starts(
    starts: Mapping[str, PathLike], out_csv: PathLike, md: PathLike
) -> None:
    """The start-up table: per model and weights file, the SHA-256 and the
    tensors loaded / missing / unused (``results/models/pooled/{model}/start.json``)."""
    rows = start_table_rows({m: read_json(p) for m, p in starts.items()})
    write_csv(pd.DataFrame(rows, columns=list(START_COLUMNS)), out_csv)
    with open(md, "a", encoding="utf-8") as out:
        out.write("\n## How each model started\n\n")
        out.write(start_markdown(rows))


def write_cue_table(
    single: Mapping[str, Mapping],
    fitted: Mapping[str, Mapping],
    table: pd.DataFrame,
    test_split: pd.DataFrame | None,
    evaluation: Mapping[str, Any] | None,
    cues: PathLike | None,
    outputs: Mapping[str, PathLike],
) -> None:
    """Detection rate and AUC by cue for every frame-level row of ``table``."""
    ev = evaluation_config(evaluation)
    frames = {m: d["test"] for m, d in single.items()}
    frames.update({n: e["test_frames"] for n, e in fitted.items()})
    rows = table[table["level"] != "video"]
    thresholds = dict(zip(rows["name"], rows["val_threshold"], strict=True))
    tables = {
        name: evaluate_on_split(frames[name], None, test_split, ev, 0.5, name)[1]
        for name in rows["name"]
        if name in frames
    }
    by_cue = cue_table(tables, thresholds, read_cues(cues) if cues else None)
    write_csv(by_cue, outputs["by_cue"])
    if not by_cue.empty:
        with open(outputs["md"], "a", encoding="utf-8") as md:
            md.write("\n## Detection by cue (demo ground truth, test split)\n\n")
            md.write(cue_markdown(by_cue))
