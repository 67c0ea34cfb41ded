"""Rule split: train, val and test lists from the manifest."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.ingest.jobs import split
from deepfake_ensemble.workflow import rule_job

with rule_job(snakemake):
    split(
        manifest=snakemake.input.manifest,
        outputs=dict(snakemake.output.items()),
        cfg=dict(snakemake.params.split),
    )
