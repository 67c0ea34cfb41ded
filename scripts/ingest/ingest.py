"""Rule ingest: every video of the configured datasets, in one manifest."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.ingest.jobs import ingest
from deepfake_ensemble.workflow import rule_job

with rule_job(snakemake):
    ingest(
        datasets=list(snakemake.params.datasets),
        manifest=snakemake.output.manifest,
    )
