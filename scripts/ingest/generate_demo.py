"""Rule generate_demo: the synthetic demo dataset(s) and their cue table."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.ingest.jobs import generate_demo
from deepfake_ensemble.workflow import rule_job

with rule_job(snakemake) as threads:
    generate_demo(
        wheel=snakemake.input.wheel,
        metadata=snakemake.output.metadata,
        demo=dict(snakemake.params.demo),
        cues=snakemake.output.cues,
        datasets=[dict(d) for d in snakemake.params.datasets],
        extra_markers=list(snakemake.output.extra),
        threads=threads,
    )
