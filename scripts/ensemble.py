"""Snakemake entry point: fit one ensemble on val, apply and evaluate on test."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))


from deepfake_ensemble.stages import ensemble_stage
from deepfake_ensemble.workflow import logged

with logged(snakemake.log[0]):
    models = list(snakemake.params.models)
    ensemble_stage(
        name=snakemake.wildcards.ensemble,
        val_csvs=dict(zip(models, snakemake.input.val, strict=True)),
        test_csvs=dict(zip(models, snakemake.input.test, strict=True)),
        metrics_jsons=dict(zip(models, snakemake.input.metrics, strict=True)),
        checkpoints=dict(zip(models, snakemake.input.checkpoints, strict=True)),
        config=dict(snakemake.params.ensemble),
        out_dir=Path(snakemake.output.metrics).parent,
    )
