"""Rule score_shards: the faces of the videos to score in HDF5 shards."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.bundle.jobs import score_shards
from deepfake_ensemble.workflow import rule_job

with rule_job(snakemake):
    score_shards(
        batch_reports=list(snakemake.input.reports),
        bundle_dir=snakemake.input.bundle,
        shard_dir=snakemake.output.shards,
        cfg=dict(snakemake.params.preprocess),
    )
