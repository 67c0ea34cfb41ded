"""Rule ensemble_test: one fitted ensemble applied to every test set."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.layout import ENSEMBLE_FIT_FILES
from deepfake_ensemble.evaluate.jobs import ensemble_test
from deepfake_ensemble.workflow import rule_job

models = list(snakemake.params.models)
test_sets = {name: list(ds) for name, ds in snakemake.params.test_sets.items()}
with rule_job(snakemake):
    ensemble_test(
        fit_files={role: snakemake.input[role] for role in ENSEMBLE_FIT_FILES},
        test_csvs=dict(zip(models, snakemake.input.test, strict=True)),
        out_dirs={
            name: Path(path).parent
            for name, path in zip(test_sets, snakemake.output.metrics, strict=True)
        },
        test_sets=test_sets,
        val_split=snakemake.input.val_split,
        test_split=snakemake.input.test_split,
        evaluation=dict(snakemake.params.evaluation),
        train_datasets=list(snakemake.params.train_datasets),
    )
