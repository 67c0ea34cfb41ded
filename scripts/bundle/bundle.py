"""Rule bundle: the trained members and ensembles as a checked bundle."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.bundle.jobs import export
from deepfake_ensemble.workflow import rule_job

models = list(snakemake.params.models)
with rule_job(snakemake):
    export(
        out_dir=snakemake.output.bundle,
        checkpoints=dict(zip(models, snakemake.input.checkpoints, strict=True)),
        model_metrics=dict(zip(models, snakemake.input.metrics, strict=True)),
        ensembles={
            name: {
                role: snakemake.input[f"{name}_{role}"]
                for role in snakemake.params.ensemble_roles
            }
            for name in snakemake.params.ensembles
        },
        train_shards=snakemake.input.train_shards,
        summary_csv=snakemake.input.summary,
        split_counts=snakemake.input.counts,
        split=dict(snakemake.params.split),
        datasets=list(snakemake.params.datasets),
        evaluation=dict(snakemake.params.evaluation),
        video_timeout_s=snakemake.params.video_timeout_s,
    )
