"""Rule of ``rules/crossdomain.smk`` (environment ``envs/ensemble.yaml``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from .. import crossdomain as c
from ..evaluation import read_split_videos
from ..io import read_json, write_csv, write_text
from ..predictions import read_predictions

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


def cross_dataset(
    protocol: str,
    train_sets: Mapping[str, Sequence[str]],
    test_sets: Mapping[str, Sequence[str]],
    val_csvs: Mapping[tuple[str, str], PathLike],
    test_csvs: Mapping[tuple[str, str], PathLike],
    members_jsons: Mapping[tuple[str, str], PathLike],
    val_frames: Mapping[tuple[str, str], PathLike],
    test_frames: Mapping[tuple[str, str, str], PathLike],
    val_split: PathLike,
    test_split: PathLike,
    outputs: Mapping[str, PathLike],
    heatmaps: Mapping[str, PathLike],
    cfg: Mapping[str, Any] | None = None,
    evaluation: Mapping[str, Any] | None = None,
) -> None:
    """The cross-dataset matrix, the drop table, ensembles against their best
    member, the markdown summary and one heatmap per detector and ensemble.

    Single detectors: ``val_csvs``/``test_csvs`` map ``(training set,
    model)`` to its predictions on the training set's val split / on every
    test dataset. Ensembles: ``members_jsons``/``val_frames`` map
    ``(training set, ensemble)`` to its fit's ``members.json`` and validation
    frames, ``test_frames`` maps ``(training set, ensemble, test set)`` to its
    frames on that test set. ``outputs``: ``csv, md, drop, members``;
    ``heatmaps``: name -> PNG; ``cfg``: the ``ensemble`` config
    (``bootstrap``, ``seed``).
    """
    scores: dict[tuple[str, str], dict] = {}
    for key, path in val_csvs.items():
        test = read_predictions(test_csvs[key])
        scores[key] = {
            "kind": "single",
            "members": [key[1]],
            "val": read_predictions(path),
            "test": dict.fromkeys(test_sets, test),
        }
    members: dict[tuple[str, str], list[str]] = {}
    for key, path in members_jsons.items():
        members[key] = list(read_json(path)["members"])
        scores[key] = {
            "kind": "ensemble",
            "members": members[key],
            "val": read_predictions(val_frames[key]),
            "test": {s: read_predictions(test_frames[(*key, s)]) for s in test_sets},
        }
    test_list = read_split_videos(test_split)
    matrix, tables, val_metrics = c.build_matrix(
        protocol,
        train_sets,
        test_sets,
        scores,
        read_split_videos(val_split),
        test_list,
        cfg,
        evaluation,
    )
    drop = c.drop_table(matrix)
    comparisons = c.member_comparisons(
        matrix, tables, members, val_metrics, test_list, test_sets, cfg, evaluation
    )
    per_ensemble = c.ensemble_vs_members(comparisons, drop)
    best = c.choose_best_ensemble(per_ensemble)
    write_csv(matrix, outputs["csv"])
    write_csv(drop, outputs["drop"])
    write_csv(comparisons, outputs["members"])
    for name, png in heatmaps.items():
        c.plot_heatmap(matrix, name, png, list(train_sets), list(test_sets))
    text = c.cross_markdown(
        protocol, train_sets, test_sets, matrix, drop, per_ensemble, comparisons, best
    )
    write_text(text, outputs["md"])
    log.info("cross-dataset summary:\n%s", text)
