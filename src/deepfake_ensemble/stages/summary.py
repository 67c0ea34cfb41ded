"""Rule of ``rules/summary.smk`` (environment ``envs/ensemble.yaml``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import summary as s
from ..io import read_json, write_csv
from ..predictions import read_predictions
from ..stats import per_dataset_table

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


def _read_ensemble(files: Mapping[str, PathLike]) -> dict[str, Any]:
    return {
        "test_frames": read_predictions(files["test_frames"]),
        "test_videos": read_predictions(files["test_videos"]),
        "members": read_json(files["members"])["members"],
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
) -> None:
    """The summary table (csv + markdown) and the comparison figures.

    ``ensembles``: name -> role -> file (``catalog.ensemble_files``);
    ``outputs``: ``csv, md, by_dataset, roc, confusion, weights, curves``.
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
    table = s.build_summary(single, fitted, dict(cfg))
    s.write_summary(table, outputs["csv"], outputs["md"])
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
    log.info("summary:\n%s", Path(outputs["md"]).read_text())
