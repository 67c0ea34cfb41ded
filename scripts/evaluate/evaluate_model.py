"""Rule evaluate_model: metrics and ROC curve of one detector in one cell
(training set, test set)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.evaluate.jobs import evaluate_model
from deepfake_ensemble.workflow import rule_job

with rule_job(snakemake):
    evaluate_model(
        model=snakemake.wildcards.model,
        val_csv=snakemake.input.val,
        test_csv=snakemake.input.test,
        size_json=snakemake.input.size_json,
        out_json=snakemake.output.metrics,
        out_roc=snakemake.output.roc,
        val_split=snakemake.input.val_split,
        test_split=snakemake.input.test_split,
        evaluation=dict(snakemake.params.evaluation),
        train_datasets=list(snakemake.params.train_datasets),
        test_datasets=list(snakemake.params.test_datasets),
        cell=f"trained on {snakemake.wildcards.train_set}, "
        f"tested on {snakemake.wildcards.target}",
    )
