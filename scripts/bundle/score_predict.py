"""Rule score_predict: frame scores of one bundled member on the videos to score."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.bundle.jobs import score_predict
from deepfake_ensemble.workflow import rule_job

with rule_job(snakemake) as threads:
    score_predict(
        bundle_dir=snakemake.input.bundle,
        model=snakemake.wildcards.model,
        shards=snakemake.input.shards,
        out_csv=snakemake.output.predictions,
        train_config=dict(snakemake.params.train),
        threads=threads,
    )
