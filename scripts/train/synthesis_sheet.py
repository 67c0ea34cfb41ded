"""Rule synthesis_sheet: real training faces beside the fakes synthesised
from them and their masks (the report's contact sheet)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.train.jobs import synthesis_sheet
from deepfake_ensemble.workflow import rule_job

with rule_job(snakemake):
    synthesis_sheet(
        list(snakemake.input.shards),
        snakemake.output.sheet,
        n=int(snakemake.params.n),
        seed=int(snakemake.params.seed),
    )
