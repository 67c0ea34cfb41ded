"""Snakemake entry point: per-frame fake probabilities of one model on one split."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from deepfake_ensemble.stages import predict_stage
from deepfake_ensemble.workflow import limit_threads, logged

with logged(snakemake.log[0]):
    limit_threads(snakemake.threads)
    predict_stage(
        checkpoint=snakemake.input.checkpoint,
        shards=snakemake.input.shards,
        out_csv=snakemake.output[0],
        train_config=dict(snakemake.params.train),
        threads=snakemake.threads,
    )
