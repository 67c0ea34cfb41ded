"""Rule ensemble: fit every ensemble on one training set's validation predictions."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.evaluate.jobs import ensemble
from deepfake_ensemble.workflow import rule_job

models = list(snakemake.params.models)
members = {name: list(ms) for name, ms in snakemake.params.members.items()}
with rule_job(snakemake):
    ensemble(
        members=members,
        val_csvs=dict(zip(models, snakemake.input.val, strict=True)),
        size_jsons=dict(zip(models, snakemake.input.sizes, strict=True)),
        out_dirs={
            name: Path(path).parent
            for name, path in zip(members, snakemake.output.members, strict=True)
        },
        cfg=dict(snakemake.params.ensemble),
        val_split=snakemake.input.val_split,
        evaluation=dict(snakemake.params.evaluation),
        train_datasets=list(snakemake.params.train_datasets),
    )
