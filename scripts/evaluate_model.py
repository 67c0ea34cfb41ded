"""Snakemake entry point: metrics and ROC curve of one single detector."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from deepfake_ensemble.stages import evaluate_stage
from deepfake_ensemble.workflow import logged

with logged(snakemake.log[0]):
    evaluate_stage(
        model=snakemake.wildcards.model,
        val_csv=snakemake.input.val,
        test_csv=snakemake.input.test,
        checkpoint=snakemake.input.checkpoint,
        out_json=snakemake.output.metrics,
        out_roc=snakemake.output.roc,
    )
