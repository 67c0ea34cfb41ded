"""Rule ensemble_test: every fitted ensemble of one training set applied to
every test set."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.layout import ENSEMBLE_FIT_FILES
from deepfake_ensemble.evaluate.jobs import ensemble_test
from deepfake_ensemble.workflow import rule_job

models = list(snakemake.params.models)
names = list(snakemake.params.ensembles)
test_sets = {name: list(ds) for name, ds in snakemake.params.test_sets.items()}
# the outputs list every ensemble's files, test set by test set within it
metrics = iter(snakemake.output.metrics)
with rule_job(snakemake):
    ensemble_test(
        fit_files={
            name: {role: snakemake.input[role][i] for role in ENSEMBLE_FIT_FILES}
            for i, name in enumerate(names)
        },
        test_csvs=dict(zip(models, snakemake.input.test, strict=True)),
        out_dirs={
            name: {target: Path(next(metrics)).parent for target in test_sets}
            for name in names
        },
        test_sets=test_sets,
        val_split=snakemake.input.val_split,
        test_split=snakemake.input.test_split,
        evaluation=dict(snakemake.params.evaluation),
        train_datasets=list(snakemake.params.train_datasets),
    )
