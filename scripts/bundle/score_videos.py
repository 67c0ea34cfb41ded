"""Rule score_videos: the list of videos `snakemake score` scores."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.bundle.jobs import score_videos
from deepfake_ensemble.workflow import rule_job

with rule_job(snakemake):
    score_videos(
        score_input=snakemake.params.score_input,
        out_csv=snakemake.output.videos,
    )
