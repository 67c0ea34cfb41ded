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

from deepfake_ensemble.layout import ENSEMBLE_FILES, MODEL_NAMES, ensemble_files
from deepfake_ensemble.workflow import logged


def preprocess_rules(run: Path, out: Path, cfg: dict) -> None:
    from deepfake_ensemble.ingest import jobs as ingest
    from deepfake_ensemble.preprocess import jobs as preprocess

    ingest.generate_demo(
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
    preprocess.degrade_test(
        split_csv=run / "results/splits/test.csv",
        out_csv=out / "robustness/jpeg-5/test.csv",
        video_dir=out / "robustness/jpeg-5/videos",
        condition="jpeg-5",
        seed=cfg["evaluation"]["robustness"]["seed"],
    )
    score_preprocess_rules(run, out, cfg)


def score_preprocess_rules(run: Path, out: Path, cfg: dict) -> None:
    """rules/bundle.smk's scoring rules of this env, with the run's bundle."""
    from deepfake_ensemble.bundle import jobs

    bundle = run / "results/bundle"
    jobs.score_videos(
        score_input=str(run / "results/demo"), out_csv=out / "score/videos.csv"
    )
    jobs.score_preprocess(
        videos_csv=out / "score/videos.csv",
        bundle_dir=bundle,
        batch=1,
        report_csv=out / "score/batch-00001.csv",
        cache_dir=out / "faces",
        cfg={**cfg["preprocess"], "videos_per_job": 2},
    )
    jobs.score_shards(
        batch_reports=[out / "score/batch-00001.csv"],
        bundle_dir=bundle,
        shard_dir=out / "score/shards",
        cfg=cfg["preprocess"],
    )


def train_rules(run: Path, out: Path, cfg: dict) -> None:
    import hashlib

    from deepfake_ensemble.train import jobs as train

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
    train.fetch_weights_file(entry=entry, dest=dest, mirror=mirror.as_uri())
    train.fetch_weights(
        files=[dest], pins={name: sha[:8]}, checksums=out / "weights/SHA256SUMS"
    )
    assert (out / "weights/SHA256SUMS").read_text() == f"{sha}  {name}\n"

    model = "xception"
    # the shards of every dataset of the run (results/shards/{dataset}/{split})
    shards = {
        split: [run / f"results/shards/{d['name']}/{split}" for d in cfg["datasets"]]
        for split in ("train", "val", "test")
    }
    train.train(
        model=model,
        train_shards=shards["train"],
        val_shards=shards["val"],
        out_dir=out / f"models/{model}",
        resume_dir=out / f"models/{model}/resume",
        model_config={**cfg["models"][model], "epochs": 1, "max_steps_per_epoch": 1},
        # with train.augment on: its perturbations run in this env too
        train_config={
            **cfg["train"],
            "augment": {**cfg["train"]["augment"], "enabled": True},
        },
        seed=cfg["seed"],
        threads=1,
    )
    train.predict(
        checkpoint=out / f"models/{model}/best.pt",
        shards=shards["test"],
        out_csv=out / f"predictions/{model}/test.csv",
        train_config=cfg["train"],
    )
    train.synthesis_sheet(
        shards=shards["train"], out_png=out / "synthesis_sheet.png", n=2, seed=1
    )
    assert (out / "synthesis_sheet.png").read_bytes()[:4] == b"\x89PNG"
    score_train_rules(run, out, cfg)


def score_train_rules(run: Path, out: Path, cfg: dict) -> None:
    """rules/bundle.smk's rule bundle and its GPU scoring rule."""
    from deepfake_ensemble.bundle import jobs as bundle

    res = run / "results"
    dataset = cfg["datasets"][0]["name"]
    # evaluation.protocol pooled: trained on "pooled", tested on "pooled"
    ens = res / "ensembles/pooled"
    names = [p.name for p in sorted(ens.iterdir())]
    bundle.export(
        out_dir=out / "bundle",
        checkpoints={m: res / f"models/pooled/{m}/best.pt" for m in MODEL_NAMES},
        model_metrics={m: res / f"metrics/pooled/pooled/{m}.json" for m in MODEL_NAMES},
        ensembles={
            n: {
                role: path
                for role, path in ensemble_files(
                    ens / n, ens / n / "test/pooled"
                ).items()
                if role in ("members", "weights", "metrics")
            }
            for n in names
        },
        train_shards=res / f"shards/{dataset}/train",
        summary_csv=res / "summary.csv",
        split_counts=res / "splits/counts.csv",
        split=cfg["split"],
        datasets=cfg["datasets"],
        evaluation=cfg["evaluation"],
        video_timeout_s=cfg["preprocess"]["video_timeout_s"],
    )
    bundle.score_predict(
        bundle_dir=out / "bundle",
        model="ictu_oculi",
        shards=res / f"shards/{dataset}/test",
        out_csv=out / "score/predictions/ictu_oculi.csv",
        train_config=cfg["train"],
    )


def ensemble_rules(run: Path, out: Path, cfg: dict) -> None:
    from deepfake_ensemble.evaluate import jobs as evaluate

    res = run / "results"
    # evaluation.protocol pooled: one training set and one test set, "pooled"
    datasets = [d["name"] for d in cfg["datasets"]]
    sets = {"pooled": datasets}
    ens = res / "ensembles/pooled"

    def preds(split: str) -> dict[str, Path]:
        return {m: res / f"predictions/pooled/{m}/{split}.csv" for m in MODEL_NAMES}

    def model_files(name: str) -> dict[str, Path]:
        return {m: res / f"models/pooled/{m}/{name}" for m in MODEL_NAMES}

    evaluate.evaluate_model(
        model="capsule",
        val_csv=res / "predictions/pooled/capsule/val.csv",
        test_csv=res / "predictions/pooled/capsule/test.csv",
        size_json=res / "models/pooled/capsule/size.json",
        out_jsons={"pooled": out / "metrics/capsule.json"},
        out_rocs={"pooled": out / "metrics/capsule_roc.png"},
        val_split=res / "splits/val.csv",
        test_split=res / "splits/test.csv",
        evaluation=cfg["evaluation"],
        train_datasets=datasets,
        test_sets=sets,
        train_set="pooled",
    )
    evaluate.ensemble(
        members={"all_stacked": MODEL_NAMES},
        val_csvs=preds("val"),
        size_jsons=model_files("size.json"),
        out_dirs={"all_stacked": out / "ensembles/all_stacked"},
        cfg=cfg["ensemble"],
        val_split=res / "splits/val.csv",
        evaluation=cfg["evaluation"],
        train_datasets=datasets,
    )
    evaluate.ensemble_test(
        fit_files={"all_stacked": ensemble_files(out / "ensembles/all_stacked")},
        test_csvs=preds("test"),
        out_dirs={"all_stacked": {"pooled": out / "ensembles/all_stacked/test/pooled"}},
        test_sets=sets,
        val_split=res / "splits/val.csv",
        test_split=res / "splits/test.csv",
        evaluation=cfg["evaluation"],
        train_datasets=datasets,
    )
    names = [p.name for p in sorted(ens.iterdir())]
    files = {n: ensemble_files(ens / n, ens / n / "test/pooled") for n in names}
    evaluate.cross_dataset(
        protocol="pooled",
        train_sets=sets,
        test_sets=sets,
        val_csvs={("pooled", m): p for m, p in preds("val").items()},
        test_csvs={("pooled", m): p for m, p in preds("test").items()},
        members_jsons={("pooled", n): f["members"] for n, f in files.items()},
        val_frames={("pooled", n): f["val_frames"] for n, f in files.items()},
        test_frames={
            ("pooled", n, "pooled"): f["test_frames"] for n, f in files.items()
        },
        val_split=res / "splits/val.csv",
        test_split=res / "splits/test.csv",
        outputs={
            "csv": out / "cross_dataset.csv",
            "md": out / "cross_dataset.md",
            "drop": out / "cross_dataset_drop.csv",
            "members": out / "cross_dataset_members.csv",
        },
        heatmaps={"all_stacked": out / "figures/cross_dataset/all_stacked.png"},
        cfg=cfg["ensemble"],
        evaluation=cfg["evaluation"],
    )
    evaluate.summarize(
        val_csvs=preds("val"),
        test_csvs=preds("test"),
        sizes=model_files("size.json"),
        histories=model_files("history.csv"),
        starts=model_files("start.json"),
        ensembles=files,
        cfg=cfg["ensemble"],
        splits={s: res / f"splits/{s}.csv" for s in ("val", "test")},
        evaluation=cfg["evaluation"],
        cues=res / "demo/cues.csv",
        outputs={
            "csv": out / "summary.csv",
            "md": out / "summary.md",
            "by_dataset": out / "summary_by_dataset.csv",
            "by_cue": out / "summary_by_cue.csv",
            "roc": out / "figures/roc_all.png",
            "confusion": out / "figures/confusion.png",
            "weights": out / "figures/weights.png",
            "curves": out / "figures/curves.png",
            "starts": out / "model_starts.csv",
        },
    )
    assert {p.name for p in (out / "ensembles/all_stacked").rglob("*.*")} == set(
        ENSEMBLE_FILES.values()
    )
    # the robustness stage (the clean predictions stand in for a degraded set)
    evaluate.robustness(
        val_csvs=preds("val"),
        test_csvs={"clean": preds("test"), "jpeg-5": preds("test")},
        fits={n: f for n, f in files.items()},
        datasets=datasets,
        val_split=res / "splits/val.csv",
        test_split=res / "splits/test.csv",
        outputs={
            "csv": out / "robustness.csv",
            "drop": out / "robustness_drop.csv",
            "tests": out / "robustness_tests.csv",
            "md": out / "robustness.md",
            "figure": out / "figures/robustness.png",
        },
        cfg=cfg["ensemble"],
        evaluation=cfg["evaluation"],
    )
    score_ensemble_rules(run, out, cfg)


def score_ensemble_rules(run: Path, out: Path, cfg: dict) -> None:
    """rules/bundle.smk's last rule, on the run's test split as videos to score."""
    from deepfake_ensemble.bundle import jobs as bundle

    res = run / "results"
    bundle.score(
        videos_csv=res / "splits/test.csv",
        batch_reports=sorted((res / "preprocess").glob("*/test/batch-*.csv")),
        predictions={m: res / f"predictions/pooled/{m}/test.csv" for m in MODEL_NAMES},
        bundle_dir=res / "bundle",
        out_csv=out / "score/scores.csv",
    )


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
            "degrade_test",
            "score_videos",
            "score_preprocess",
            "score_shards",
        },
        preprocess_rules,
    ),
    "train": (
        {
            "fetch_weights",
            "fetch_weights_file",
            "train",
            "predict",
            "bundle",
            "score_predict",
            "synthesis_sheet",
        },
        train_rules,
    ),
    "ensemble": (
        {
            "evaluate_model",
            "ensemble",
            "ensemble_test",
            "robustness",
            "summarize",
            "cross_dataset",
            "score",
        },
        ensemble_rules,
    ),
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
