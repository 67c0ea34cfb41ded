"""Snakemake entry point: the summary table and figures."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))


from deepfake_ensemble.stages import summary_stage
from deepfake_ensemble.workflow import logged

with logged(snakemake.log[0]):
    models = list(snakemake.params.models)
    ensembles = list(snakemake.params.ensembles)
    summary_stage(
        val_csvs=dict(zip(models, snakemake.input.val, strict=True)),
        test_csvs=dict(zip(models, snakemake.input.test, strict=True)),
        checkpoints=dict(zip(models, snakemake.input.checkpoints, strict=True)),
        histories=dict(zip(models, snakemake.input.histories, strict=True)),
        ensemble_dirs={
            name: Path(path).parent
            for name, path in zip(ensembles, snakemake.input.ensembles, strict=True)
        },
        config=dict(snakemake.params.ensemble),
        outputs=dict(snakemake.output.items()),
    )
