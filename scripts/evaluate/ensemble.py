"""Rule ensemble: fit one ensemble on one training set's validation predictions."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.evaluate.jobs import ensemble
from deepfake_ensemble.workflow import rule_job

models = list(snakemake.params.models)
with rule_job(snakemake):
    ensemble(
        name=snakemake.wildcards.ensemble,
        val_csvs=dict(zip(models, snakemake.input.val, strict=True)),
        size_jsons=dict(zip(models, snakemake.input.sizes, strict=True)),
        out_dir=Path(snakemake.output.members).parent,
        cfg=dict(snakemake.params.ensemble),
        val_split=snakemake.input.val_split,
        evaluation=dict(snakemake.params.evaluation),
        train_datasets=list(snakemake.params.train_datasets),
    )
