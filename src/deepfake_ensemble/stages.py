"""The workflow's model stages, one function per Snakemake rule.

Each function takes plain paths and config dicts (what a rule hands its
script) and composes the package's building blocks: shards -> datasets ->
training, prediction, evaluation, ensembles and the summary. The scripts under
``scripts/`` only translate Snakemake's objects into these calls.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .io import read_json, write_csv, write_json

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


def shard_dataset(model: str, shards: PathLike, model_config: Mapping[str, Any]):
    """The dataset a detector consumes: face frames, or eye-crop sequences."""
    from .models import get_spec
    from .shards import EyeSequenceDataset, FrameDataset, shard_paths

    spec = get_spec(model)
    paths = shard_paths(shards)
    if spec.input_kind == "eye_sequence":
        seq_len = int(model_config.get("seq_len") or spec.seq_len or 20)
        return EyeSequenceDataset(paths, seq_len=seq_len)
    return FrameDataset(paths)


def train_stage(
    model: str,
    model_config: Mapping[str, Any],
    train_config: Mapping[str, Any],
    train_shards: PathLike,
    val_shards: PathLike,
    out_dir: PathLike,
    resume_dir: PathLike,
    seed: int,
    threads: int,
):
    """Train one detector; resumes from ``resume_dir/last.pt`` when present."""
    from .train import train_model

    model_config = dict(model_config)
    history = train_model(
        model,
        model_config,
        shard_dataset(model, train_shards, model_config),
        shard_dataset(model, val_shards, model_config),
        out_dir=out_dir,
        resume_dir=resume_dir,
        seed=seed,
        device=train_config.get("device", "auto"),
        num_workers=int(train_config.get("num_workers", 0)),
        threads=threads,
    )
    log.info("%s: trained %d epochs", model, len(history))
    return history


def predict_stage(
    checkpoint: PathLike,
    shards: PathLike,
    out_csv: PathLike,
    train_config: Mapping[str, Any],
    threads: int,
) -> pd.DataFrame:
    """Per-frame fake probabilities of one trained detector on one split."""
    from .predict import load_checkpoint, predict

    _, spec, state = load_checkpoint(checkpoint)
    model_config = dict(state.get("config") or {})
    dataset = shard_dataset(spec.name, shards, model_config)
    frame = predict(
        checkpoint,
        dataset,
        device=train_config.get("device", "auto"),
        num_workers=int(train_config.get("num_workers", 0)),
    )
    write_csv(frame, out_csv)
    log.info("%s: %d frame predictions -> %s", spec.name, len(frame), out_csv)
    return frame


def model_size(checkpoint: PathLike) -> dict[str, int]:
    """Checkpoint size on disk and the model's parameter count."""
    import torch

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    params = sum(
        int(t.numel()) for t in state["model"].values() if t.is_floating_point()
    )
    return {"bytes": Path(checkpoint).stat().st_size, "params": params}


def read_predictions(path: PathLike) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"video_id": str}, keep_default_na=False)


def evaluate_stage(
    model: str,
    val_csv: PathLike,
    test_csv: PathLike,
    checkpoint: PathLike,
    out_json: PathLike,
    out_roc: PathLike,
) -> dict:
    """Metrics of one detector on test (and val), its ROC curve and size."""
    from .metrics import evaluate, plot_roc

    test = read_predictions(test_csv)
    val = read_predictions(val_csv)
    size = model_size(checkpoint)
    metrics = {
        "model": model,
        "test": evaluate(test),
        "val": evaluate(val),
        "size": {**size, "megabytes": size["bytes"] / 2**20},
    }
    write_json(metrics, out_json)
    plot_roc(
        {model: test}, out_roc, level="video", title=f"{model}: video-level ROC on test"
    )
    log.info(
        "%s: test frame AUC %s, video AUC %s",
        model,
        metrics["test"]["frame_auc"],
        metrics["test"]["video_auc"],
    )
    return metrics


def ensemble_stage(
    name: str,
    val_csvs: Mapping[str, PathLike],
    test_csvs: Mapping[str, PathLike],
    metrics_jsons: Mapping[str, PathLike],
    checkpoints: Mapping[str, PathLike],
    config: Mapping[str, Any],
    out_dir: PathLike,
) -> dict:
    """Fit ensemble ``name`` on validation predictions, evaluate it on test."""
    from .ensemble import build_ensemble, load_predictions, write_ensemble_outputs

    metrics = {m: read_json(p) for m, p in metrics_jsons.items()}
    result = build_ensemble(
        name,
        val_preds=load_predictions(dict(val_csvs)),
        test_preds=load_predictions(dict(test_csvs)),
        val_metrics={m: metrics[m]["val"] for m in metrics},
        model_sizes={m: metrics[m]["size"] for m in metrics},
        cfg=dict(config),
    )
    out = write_ensemble_outputs(result, out_dir)
    log.info("%s: members %s (%s)", name, result["members"], result["reason"])
    return out


def summary_stage(
    val_csvs: Mapping[str, PathLike],
    test_csvs: Mapping[str, PathLike],
    checkpoints: Mapping[str, PathLike],
    histories: Mapping[str, PathLike],
    ensemble_dirs: Mapping[str, PathLike],
    config: Mapping[str, Any],
    outputs: Mapping[str, PathLike],
) -> pd.DataFrame:
    """The summary table (csv + markdown) and the comparison figures."""
    from . import summary as s
    from .stats import per_dataset_table

    single = {
        m: {
            "val": read_predictions(val_csvs[m]),
            "test": read_predictions(test_csvs[m]),
            "size": model_size(checkpoints[m]),
        }
        for m in test_csvs
    }
    ensembles = {}
    for name, d in ensemble_dirs.items():
        d = Path(d)
        ensembles[name] = {
            "test_frames": read_predictions(d / "test_frames.csv"),
            "test_videos": read_predictions(d / "test_videos.csv"),
            "members": read_json(d / "members.json")["members"],
            "weights": read_json(d / "weights.json")["weights"],
            "metrics": read_json(d / "metrics.json"),
        }
    table = s.build_summary(single, ensembles, dict(config))
    s.write_summary(table, outputs["csv"], outputs["md"])
    curves = {m: d["test"] for m, d in single.items()}
    curves.update({n: e["test_frames"] for n, e in ensembles.items()})
    s.plot_roc_all(curves, outputs["roc"])
    frame_rows = table[table["level"] != "video"] if "level" in table else table
    s.plot_confusion_grid(
        dict(zip(frame_rows["name"], frame_rows["confusion_matrix"], strict=True)),
        outputs["confusion"],
    )
    s.plot_weights(
        {n: e["weights"]["frame"] for n, e in ensembles.items() if e["weights"]},
        outputs["weights"],
    )
    s.plot_training_curves(dict(histories), outputs["curves"])
    by_dataset = per_dataset_table(curves)
    write_csv(by_dataset, outputs["by_dataset"])
    if by_dataset["dataset"].nunique() > 1:
        with open(outputs["md"], "a", encoding="utf-8") as md:
            md.write("\n## Per dataset (test split)\n\n")
            md.write(s.markdown_table(by_dataset) + "\n")
    print(Path(outputs["md"]).read_text())
    return table
