"""Rule score_preprocess: frames and face crops of one batch of videos to score."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.bundle.jobs import score_preprocess
from deepfake_ensemble.workflow import rule_job

with rule_job(snakemake):
    score_preprocess(
        videos_csv=snakemake.input.videos,
        bundle_dir=snakemake.input.bundle,
        batch=int(snakemake.wildcards.batch),
        report_csv=snakemake.output.report,
        cache_dir=snakemake.params.cache_dir,
        cfg=dict(snakemake.params.preprocess),
    )
