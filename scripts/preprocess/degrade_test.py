"""Rule degrade_test: one degraded copy of the test videos (robustness stage)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.preprocess.jobs import degrade_test
from deepfake_ensemble.workflow import rule_job

with rule_job(snakemake):
    degrade_test(
        split_csv=snakemake.input.split,
        out_csv=snakemake.output.split,
        video_dir=snakemake.output.videos,
        condition=snakemake.wildcards.condition,
        seed=int(snakemake.params.seed),
    )
