"""Rule predict: per-frame fake probabilities of one model on every test
dataset's test split (its val predictions come from rule train)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.train.jobs import predict
from deepfake_ensemble.workflow import rule_job

with rule_job(snakemake) as threads:
    predict(
        checkpoint=snakemake.input.checkpoint,
        shards=list(snakemake.input.shards),
        out_csv=snakemake.output.predictions,
        train_config=dict(snakemake.params.train),
        threads=threads,
    )
