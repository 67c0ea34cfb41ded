"""Rules of ``rules/evaluate.smk`` (environment ``envs/ensemble.yaml``).

``ensemble`` fits every ensemble on the validation predictions of one
training set and reads nothing of any test split; ``ensemble_test`` applies
those fits, as written, to every test set.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..io import read_json, write_csv, write_json, write_text
from ..predictions import read_predictions
from ..pretrained import START_COLUMNS, start_markdown, start_table_rows
from ..protocols import POOLED
from . import cross_dataset as c
from . import summary as s
from .cues import cue_markdown, cue_table, read_cues
from .ensemble import (
    apply_ensemble,
    build_ensemble,
    load_predictions,
    read_ensemble_fit,
    write_ensemble_fit,
    write_ensemble_test,
)
from .metrics import plot_roc
from .stats import per_dataset_table
from .videos import (
    evaluate_on_split,
    evaluation_config,
    in_datasets,
    read_split_videos,
    threshold_report,
)

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


def evaluate_model(
    model: str,
    val_csv: PathLike,
    test_csv: PathLike,
    size_json: PathLike,
    out_jsons: Mapping[str, PathLike],
    out_rocs: Mapping[str, PathLike],
    val_split: PathLike | None = None,
    test_split: PathLike | None = None,
    evaluation: Mapping[str, Any] | None = None,
    train_datasets: Sequence[str] | None = None,
    test_sets: Mapping[str, Sequence[str] | None] | None = None,
    train_set: str | None = None,
) -> None:
    """Metrics of one detector on validation and on each test set, its size
    and its ROC curve on each test set.

    ``test_sets``: test set -> its datasets (``None``: every dataset; no
    mapping: one test set, ``pooled``, of every dataset); ``out_jsons`` and
    ``out_rocs``: test set -> its metrics file and its figure. With the split
    lists (``results/splits/{val,test}.csv``) every video of the split
    counts, under the no-face policy of ``evaluation``; each test set's
    metrics also hold those at the threshold chosen on validation.

    ``train_datasets``: the datasets the detector was trained on (validation
    covers their val split only; ``None``: every dataset); ``train_set``
    names its training set in the figures' titles.
    """
    cfg = evaluation_config(evaluation)
    if test_sets is None:
        test_sets = {POOLED: None}
    val_list, test_list = (
        None if path is None else read_split_videos(path)
        for path in (val_split, test_split)
    )

    def scored(predictions, videos, videos_path, datasets, source):
        """Metrics and video table of the predictions of ``datasets`` over
        the split list of those datasets (``videos``; ``None``: no list)."""
        return evaluate_on_split(
            in_datasets(predictions, datasets),
            None,
            None if videos is None else in_datasets(videos, datasets, str(videos_path)),
            cfg,
            source=str(source),
        )

    val, val_table = scored(
        read_predictions(val_csv), val_list, val_split, train_datasets, val_csv
    )
    size = read_json(size_json)
    predictions = read_predictions(test_csv)
    for target, datasets in test_sets.items():
        test, test_table = scored(
            predictions, test_list, test_split, datasets, test_csv
        )
        test["at_val_threshold"] = threshold_report(
            val_table, test_table, cfg["threshold_rule"]
        )
        metrics = {
            "model": model,
            "test": test,
            "val": val,
            "size": size,
            "evaluation": cfg,
        }
        if train_datasets is not None or datasets is not None:
            metrics["train_datasets"] = (
                None if train_datasets is None else list(train_datasets)
            )
            metrics["test_datasets"] = None if datasets is None else list(datasets)
        write_json(metrics, out_jsons[target])
        cell = f" (trained on {train_set}, tested on {target})" if train_set else ""
        plot_roc(
            {model: test_table[["video_id", "label", "score"]]},
            out_rocs[target],
            level="video",
            title=f"{model}: video-level ROC on test{cell}",
        )
        log.info(
            "%s on %s: test frame AUC %s, video AUC %s, "
            "%d test video(s) without a face (%s)",
            model,
            target,
            test["frame_auc"],
            test["video_auc"],
            test["n_no_face"],
            cfg["no_face"],
        )


def ensemble(
    members: Mapping[str, Sequence[str]],
    val_csvs: Mapping[str, PathLike],
    size_jsons: Mapping[str, PathLike],
    out_dirs: Mapping[str, PathLike],
    cfg: Mapping[str, Any],
    val_split: PathLike,
    evaluation: Mapping[str, Any] | None = None,
    train_datasets: Sequence[str] | None = None,
) -> None:
    """Fit every ensemble of one training set on its validation predictions.

    ``members``: ensemble -> the models it chooses from; ``val_csvs``: model
    -> its predictions on the training set's val split (every model that
    some ensemble chooses from); ``out_dirs``: ensemble -> the folder of its
    fit's files (``layout.ENSEMBLE_FIT_FILES``).

    Members are chosen on each model's validation metrics over the whole val
    split of ``train_datasets`` (every video counts, under the no-face policy
    of ``evaluation``) and on their checkpoint sizes (``size_jsons``); the
    split list gives the validation videos' groups (the folds of the
    cross-fitting). Each fit reads its own members' predictions only and
    draws from its own seeded generator, so a fit does not depend on which
    other ensembles the job fits.
    """
    ev = evaluation_config(evaluation)
    split = in_datasets(read_split_videos(val_split), train_datasets, str(val_split))
    val_preds = {
        m: in_datasets(df, train_datasets)
        for m, df in load_predictions(dict(val_csvs)).items()
    }
    val_metrics = {
        m: evaluate_on_split(df, None, split, ev, source=str(val_csvs[m]))[0]
        for m, df in val_preds.items()
    }
    sizes = {m: read_json(p) for m, p in size_jsons.items()}
    groups = split.set_index("video_id")["group"].to_dict()
    for name, models in members.items():
        result = build_ensemble(
            name,
            val_preds={m: val_preds[m] for m in models},
            test_preds=None,
            val_metrics={m: val_metrics[m] for m in models},
            model_sizes={m: sizes[m] for m in models},
            cfg=dict(cfg),
            val_groups=groups,
        )
        write_ensemble_fit(result, out_dirs[name])
        log.info(
            "%s: members %s (%s); validation scores %s",
            name,
            result["members"],
            result["reason"],
            result["val_fit"],
        )


def ensemble_test(
    fit_files: Mapping[str, Mapping[str, PathLike]],
    test_csvs: Mapping[str, PathLike],
    out_dirs: Mapping[str, Mapping[str, PathLike]],
    test_sets: Mapping[str, Sequence[str] | None],
    val_split: PathLike,
    test_split: PathLike,
    evaluation: Mapping[str, Any] | None = None,
    train_datasets: Sequence[str] | None = None,
) -> None:
    """Apply every fitted ensemble of one training set to every test set.

    ``fit_files``: ensemble -> its fit's ``members, weights, val_frames,
    val_videos`` (rule ``ensemble``); ``test_csvs``: model -> its test
    predictions (every dataset's test videos); ``test_sets``: test set ->
    its datasets (``None``: all), ``out_dirs``: ensemble -> test set -> the
    folder of its files (``layout.ENSEMBLE_TEST_FILES``). The metrics cover
    the whole test split of the test set's datasets; the threshold is chosen
    on the fit's validation scores (the val split of ``train_datasets``).
    """
    fits = {
        name: read_ensemble_fit(
            files["members"], files["weights"], files["val_frames"], files["val_videos"]
        )
        for name, files in fit_files.items()
    }
    chosen = {m for fit in fits.values() for m in fit["members"]}
    test_all = load_predictions({m: p for m, p in test_csvs.items() if m in chosen})
    val_list = in_datasets(read_split_videos(val_split), train_datasets, str(val_split))
    test_list = read_split_videos(test_split)
    for name, fit in fits.items():
        for target, datasets in test_sets.items():
            applied = apply_ensemble(
                fit,
                {m: in_datasets(test_all[m], datasets) for m in fit["members"]},
            )
            result = {
                **fit,
                "test_frames": applied["test_frames"],
                "test_videos": applied["test_videos"],
                "alignment": {
                    "val": fit["alignment"].get("val"),
                    "test": applied["alignment"],
                },
            }
            metrics = write_ensemble_test(
                result,
                out_dirs[name][target],
                splits={
                    "val": val_list,
                    "test": in_datasets(test_list, datasets, str(test_split)),
                },
                evaluation=evaluation,
            )
            log.info(
                "%s on %s: video AUC %s (%d videos)",
                name,
                target,
                metrics["video_auc"],
                metrics["n_videos"],
            )


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

    ``ensembles``: name -> role -> file (``layout.ensemble_files``);
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
    people = read_cues(cues) if cues else None
    notes = s.summary_notes(table, split_lists.get("test"), evaluation, people)
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


def robustness(
    val_csvs: Mapping[str, PathLike],
    test_csvs: Mapping[str, Mapping[str, PathLike]],
    fits: Mapping[str, Mapping[str, PathLike]],
    datasets: Sequence[str],
    val_split: PathLike,
    test_split: PathLike,
    outputs: Mapping[str, PathLike],
    cfg: Mapping[str, Any] | None = None,
    evaluation: Mapping[str, Any] | None = None,
) -> None:
    """The robustness table, the drop per name, the ensemble-vs-best-member
    test, the markdown and the figure (:mod:`.robustness`).

    ``val_csvs``: model -> its validation predictions; ``test_csvs``:
    condition (``clean`` first) -> model -> its predictions on that copy of
    the test set; ``fits``: ensemble -> its fit's ``members, weights,
    val_frames, val_videos`` (applied as fitted to every condition);
    ``outputs``: ``csv, drop, tests, md, figure``."""
    from ..layout import CLEAN
    from . import robustness as r

    conditions = list(test_csvs)
    scores: dict[tuple[str, str], dict] = {}
    member_preds = {
        c: {m: read_predictions(p) for m, p in csvs.items()}
        for c, csvs in test_csvs.items()
    }
    for m, path in val_csvs.items():
        scores[(POOLED, m)] = {
            "kind": "single",
            "members": [m],
            "val": read_predictions(path),
            "test": {c: member_preds[c][m] for c in conditions},
        }
    members: dict[str, list[str]] = {}
    for e, files in fits.items():
        fit = read_ensemble_fit(
            files["members"], files["weights"], files["val_frames"], files["val_videos"]
        )
        members[e] = list(fit["members"])
        scores[(POOLED, e)] = {
            "kind": "ensemble",
            "members": members[e],
            "val": fit["val_frames"],
            "test": {
                c: apply_ensemble(fit, member_preds[c])["test_frames"]
                for c in conditions
            },
        }
    sets = {c: list(datasets) for c in conditions}
    matrix, tables, val_metrics = c.build_matrix(
        "robustness",
        {POOLED: list(datasets)},
        sets,
        scores,
        read_split_videos(val_split),
        read_split_videos(test_split),
        cfg,
        evaluation,
    )
    table = r.robustness_table(matrix)
    drops = r.drop_summary(table)
    chosen = r.choose_ensemble(members, {n: m for (_, n), m in val_metrics.items()})
    degraded = [x for x in conditions if x != CLEAN]
    if chosen is None:
        tests = pd.DataFrame(columns=r.TEST_COLUMNS)
    else:
        tests = r.drop_comparisons(
            {(s, n): t for (_, s, n), t in tables.items()},
            *chosen,
            degraded,
            evaluation,
        )
    write_csv(table, outputs["csv"])
    write_csv(drops, outputs["drop"])
    write_csv(tests, outputs["tests"])
    r.plot_robustness(table, outputs["figure"], chosen or ())
    text = r.robustness_markdown(table, drops, tests, str(outputs["figure"]))
    write_text(text, outputs["md"])
    log.info("robustness:\n%s", text)
