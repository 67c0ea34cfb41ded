"""Snakemake entry point: train one detector (resumes after a kill)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))


from deepfake_ensemble.stages import train_stage
from deepfake_ensemble.workflow import limit_threads, logged

with logged(snakemake.log[0]):
    limit_threads(snakemake.threads)
    train_stage(
        model=snakemake.wildcards.model,
        model_config=dict(snakemake.params.model_config),
        train_config=dict(snakemake.params.train),
        train_shards=snakemake.input.train,
        val_shards=snakemake.input.val,
        out_dir=Path(snakemake.output.best).parent,
        resume_dir=snakemake.params.resume_dir,
        seed=snakemake.params.seed,
        threads=snakemake.threads,
    )
