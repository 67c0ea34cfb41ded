"""Rule preprocess_batch: frames and face crops of one batch of videos."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.preprocess.jobs import preprocess_batch
from deepfake_ensemble.workflow import rule_job

with rule_job(snakemake):
    preprocess_batch(
        split_csv=snakemake.input.split,
        dataset=snakemake.wildcards.dataset,
        batch=int(snakemake.wildcards.batch),
        report_csv=snakemake.output.report,
        cache_dir=snakemake.params.cache_dir,
        cfg=dict(snakemake.params.preprocess),
    )
