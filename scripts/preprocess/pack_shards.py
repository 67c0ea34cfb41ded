"""Rule pack_shards: the HDF5 shards of one dataset's split."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.preprocess.jobs import pack_split_shards
from deepfake_ensemble.workflow import rule_job

with rule_job(snakemake):
    pack_split_shards(
        batch_reports=list(snakemake.input.reports),
        shard_dir=snakemake.output.shards,
        split=snakemake.wildcards.split,
        cfg=dict(snakemake.params.preprocess),
    )
