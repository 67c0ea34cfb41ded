"""Rule train: one detector on one training set (resumes after a kill)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.train.jobs import train
from deepfake_ensemble.workflow import rule_job

with rule_job(snakemake) as threads:
    train(
        model=snakemake.wildcards.model,
        train_shards=list(snakemake.input.train),
        val_shards=list(snakemake.input.val),
        out_dir=Path(snakemake.output.best).parent,
        resume_dir=snakemake.params.resume_dir,
        model_config=dict(snakemake.params.model_config),
        train_config=dict(snakemake.params.train),
        seed=snakemake.params.seed,
        threads=threads,
        val_predictions=snakemake.output.val_predictions,
    )
