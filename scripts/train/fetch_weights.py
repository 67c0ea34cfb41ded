"""Rule fetch_weights: every configured backbone file, fetched and verified."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.train.jobs import fetch_weights
from deepfake_ensemble.workflow import rule_job

with rule_job(snakemake):
    fetch_weights(
        files=list(snakemake.input.weights),
        pins=dict(snakemake.params.pins),
        checksums=snakemake.output.checksums,
    )
