"""Run every rule of one conda environment, inside that environment only.

    python tests/env_rules.py ENV RUN_DIR OUT_DIR CONFIG_JSON

``ENV`` is the stem of a file under ``envs/``; the interpreter is a virtual
environment built from exactly that file's pip list (tests/test_envs.py
builds it) with the package on PYTHONPATH. ``RUN_DIR`` is a finished run of
the workflow (its ``results/`` provide the inputs), ``OUT_DIR`` receives the
outputs, ``CONFIG_JSON`` is the run's validated config. Each rule is called
through the very function its script calls; a module that its environment
lacks fails here with ``ModuleNotFoundError``.

This file imports nothing but the standard library and the package.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from deepfake_ensemble.catalog import ENSEMBLE_FILES, MODEL_NAMES, ensemble_files
from deepfake_ensemble.workflow import logged


def preprocess_rules(run: Path, out: Path, cfg: dict) -> None:
    from deepfake_ensemble.stages import demo, ingest, preprocess

    demo.generate_demo(
        wheel=cfg["demo"]["wheel_path"],
        metadata=out / "demo/metadata.json",
        demo={**cfg["demo"], "n_real": 2, "n_fake": 1, "duration_s": 0.5},
    )
    datasets = [{**d, "root": str(run / d["root"])} for d in cfg["datasets"]]
    ingest.ingest(datasets=datasets, manifest=out / "manifest.csv")
    ingest.split(
        manifest=run / "results/manifest/videos.csv",
        outputs={
            s: out / f"splits/{s}.csv"
            for s in ("train", "val", "test", "counts", "dropped", "overlap")
        },
        cfg=cfg["split"],
    )
    preprocess.preprocess_batch(
        split_csv=run / "results/splits/test.csv",
        batch=0,
        report_csv=out / "batch-00000.csv",
        cache_dir=out / "faces",
        cfg=cfg["preprocess"],
    )
    preprocess.pack_split_shards(
        batch_reports=[out / "batch-00000.csv"],
        shard_dir=out / "shards/test",
        split="test",
        cfg=cfg["preprocess"],
    )
    preprocess.preprocess_report(
        batch_reports=[out / "batch-00000.csv"],
        shard_dirs=[out / "shards/test"],
        outputs={
            "report": out / "report.csv",
            "summary": out / "summary.csv",
            "contact_sheet": out / "contact_sheet.png",
        },
        seed=cfg["seed"],
    )


def train_rules(run: Path, out: Path, cfg: dict) -> None:
    import hashlib

    from deepfake_ensemble.stages import models, weights

    # fetch_weights_file / fetch_weights: a generated file from a file:// mirror
    mirror = out / "mirror"
    mirror.mkdir(parents=True)
    blob = b"not a real checkpoint, only bytes to fetch and hash"
    sha = hashlib.sha256(blob).hexdigest()
    name = f"generated-{sha[:8]}.pth"
    (mirror / name).write_bytes(blob)
    entry = {
        "name": name,
        "url": "https://example.invalid/" + name,
        "sha256": sha[:8],
        "models": ["xception"],
        "normalisation": "half",
    }
    dest = out / "weights" / name
    weights.fetch_weights_file(entry=entry, dest=dest, mirror=mirror.as_uri())
    weights.fetch_weights(
        files=[dest], pins={name: sha[:8]}, checksums=out / "weights/SHA256SUMS"
    )
    assert (out / "weights/SHA256SUMS").read_text() == f"{sha}  {name}\n"

    model = "xception"
    models.train(
        model=model,
        train_shards=run / "results/shards/train",
        val_shards=run / "results/shards/val",
        out_dir=out / f"models/{model}",
        resume_dir=out / f"models/{model}/resume",
        model_config={**cfg["models"][model], "epochs": 1, "max_steps_per_epoch": 1},
        train_config=cfg["train"],
        seed=cfg["seed"],
        threads=1,
    )
    models.predict(
        checkpoint=out / f"models/{model}/best.pt",
        shards=run / "results/shards/test",
        out_csv=out / f"predictions/{model}/test.csv",
        train_config=cfg["train"],
    )


def ensemble_rules(run: Path, out: Path, cfg: dict) -> None:
    from deepfake_ensemble.stages import ensembles, evaluate, summary

    res = run / "results"

    def preds(split: str) -> dict[str, Path]:
        return {m: res / f"predictions/{m}/{split}.csv" for m in MODEL_NAMES}

    evaluate.evaluate_model(
        model="capsule",
        val_csv=res / "predictions/capsule/val.csv",
        test_csv=res / "predictions/capsule/test.csv",
        size_json=res / "models/capsule/size.json",
        out_json=out / "metrics/capsule.json",
        out_roc=out / "metrics/capsule_roc.png",
        val_split=res / "splits/val.csv",
        test_split=res / "splits/test.csv",
        evaluation=cfg["evaluation"],
    )
    ensembles.ensemble(
        name="all_stacked",
        val_csvs=preds("val"),
        test_csvs=preds("test"),
        metrics_jsons={m: res / f"metrics/{m}.json" for m in MODEL_NAMES},
        out_dir=out / "ensembles/all_stacked",
        cfg=cfg["ensemble"],
        val_split=res / "splits/val.csv",
        test_split=res / "splits/test.csv",
        evaluation=cfg["evaluation"],
    )
    names = [p.name for p in sorted((res / "ensembles").iterdir())]
    summary.summarize(
        val_csvs=preds("val"),
        test_csvs=preds("test"),
        sizes={m: res / f"models/{m}/size.json" for m in MODEL_NAMES},
        histories={m: res / f"models/{m}/history.csv" for m in MODEL_NAMES},
        starts={m: res / f"models/{m}/start.json" for m in MODEL_NAMES},
        ensembles={n: ensemble_files(res / "ensembles" / n) for n in names},
        cfg=cfg["ensemble"],
        splits={s: res / f"splits/{s}.csv" for s in ("val", "test")},
        evaluation=cfg["evaluation"],
        outputs={
            "csv": out / "summary.csv",
            "md": out / "summary.md",
            "by_dataset": out / "summary_by_dataset.csv",
            "roc": out / "figures/roc_all.png",
            "confusion": out / "figures/confusion.png",
            "weights": out / "figures/weights.png",
            "curves": out / "figures/curves.png",
            "starts": out / "model_starts.csv",
        },
    )
    assert set(ENSEMBLE_FILES) == set(ensemble_files(out / "ensembles/all_stacked"))


#: environment (envs/<name>.yaml) -> the rules it runs -> driver of them all
RULES = {
    "preprocess": (
        {
            "generate_demo",
            "ingest",
            "split",
            "preprocess_batch",
            "pack_shards",
            "preprocess_report",
        },
        preprocess_rules,
    ),
    "train": (
        {"fetch_weights", "fetch_weights_file", "train", "predict"},
        train_rules,
    ),
    "ensemble": ({"evaluate_model", "ensemble", "summarize"}, ensemble_rules),
}


def main(env: str, run: str, out: str, config_json: str) -> None:
    out_dir = Path(out)
    cfg = json.loads(Path(config_json).read_text())
    with logged(out_dir / f"{env}.log"):
        RULES[env][1](Path(run), out_dir, cfg)
    forbidden = {"torch", "timm", "torchvision"} & set(sys.modules)
    print(json.dumps({"env": env, "heavy_modules_loaded": sorted(forbidden)}))


if __name__ == "__main__":
    main(*sys.argv[1:])
