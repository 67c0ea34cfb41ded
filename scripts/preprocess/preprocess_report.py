"""Rule preprocess_report: per-video report, summary, contact sheet."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.preprocess.jobs import preprocess_report
from deepfake_ensemble.workflow import rule_job

with rule_job(snakemake):
    preprocess_report(
        batch_reports=list(snakemake.input.reports),
        shard_dirs=list(snakemake.input.shards),
        outputs=dict(snakemake.output.items()),
        seed=snakemake.params.seed,
    )
