"""Rule fetch_weights_file: one pinned pretrained file into resources/weights/."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.train.jobs import fetch_weights_file
from deepfake_ensemble.workflow import rule_job

with rule_job(snakemake):
    fetch_weights_file(
        entry=dict(snakemake.params.entry),
        dest=snakemake.output.weights,
        # read from the config, not a param: changing the mirror must not make
        # Snakemake fetch (and retrain) again
        mirror=snakemake.config.get("weights_mirror"),
    )
