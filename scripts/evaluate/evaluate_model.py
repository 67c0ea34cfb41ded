"""Rule evaluate_model: metrics and ROC curves of one detector trained on one
training set, in every cell of its row (each test set)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.evaluate.jobs import evaluate_model
from deepfake_ensemble.workflow import rule_job

test_sets = {name: list(ds) for name, ds in snakemake.params.test_sets.items()}
with rule_job(snakemake):
    evaluate_model(
        model=snakemake.wildcards.model,
        val_csv=snakemake.input.val,
        test_csv=snakemake.input.test,
        size_json=snakemake.input.size_json,
        out_jsons=dict(zip(test_sets, snakemake.output.metrics, strict=True)),
        out_rocs=dict(zip(test_sets, snakemake.output.roc, strict=True)),
        val_split=snakemake.input.val_split,
        test_split=snakemake.input.test_split,
        evaluation=dict(snakemake.params.evaluation),
        train_datasets=list(snakemake.params.train_datasets),
        test_sets=test_sets,
        train_set=snakemake.wildcards.train_set,
    )
