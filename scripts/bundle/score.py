"""Rule score: one row per scored video, members and ensembles."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.bundle.jobs import score
from deepfake_ensemble.workflow import rule_job

with rule_job(snakemake):
    score(
        videos_csv=snakemake.input.videos,
        batch_reports=list(snakemake.input.reports),
        predictions=dict(
            zip(snakemake.params.members, snakemake.input.predictions, strict=True)
        ),
        bundle_dir=snakemake.input.bundle,
        out_csv=snakemake.output.scores,
    )
