"""Rule ensemble: fit one ensemble on val, evaluate it on test."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from deepfake_ensemble.stages.ensembles import ensemble
from deepfake_ensemble.workflow import rule_job

models = list(snakemake.params.models)
with rule_job(snakemake):
    ensemble(
        name=snakemake.wildcards.ensemble,
        val_csvs=dict(zip(models, snakemake.input.val, strict=True)),
        test_csvs=dict(zip(models, snakemake.input.test, strict=True)),
        metrics_jsons=dict(zip(models, snakemake.input.metrics, strict=True)),
        out_dir=Path(snakemake.output.metrics).parent,
        cfg=dict(snakemake.params.ensemble),
        val_split=snakemake.input.val_split,
        test_split=snakemake.input.test_split,
        evaluation=dict(snakemake.params.evaluation),
    )
