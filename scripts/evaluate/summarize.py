"""Rule summarize: the summary table and figures."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.layout import ENSEMBLE_FILES
from deepfake_ensemble.evaluate.jobs import summarize
from deepfake_ensemble.workflow import rule_job

models = list(snakemake.params.models)
names = list(snakemake.params.ensembles)
with rule_job(snakemake):
    summarize(
        val_csvs=dict(zip(models, snakemake.input.val, strict=True)),
        test_csvs=dict(zip(models, snakemake.input.test, strict=True)),
        sizes=dict(zip(models, snakemake.input.sizes, strict=True)),
        histories=dict(zip(models, snakemake.input.histories, strict=True)),
        starts=dict(zip(models, snakemake.input.starts, strict=True)),
        ensembles={
            name: {role: snakemake.input[f"{name}_{role}"] for role in ENSEMBLE_FILES}
            for name in names
        },
        cfg=dict(snakemake.params.ensemble),
        splits={"val": snakemake.input.val_split, "test": snakemake.input.test_split},
        evaluation=dict(snakemake.params.evaluation),
        cues=snakemake.input.get("cues"),
        outputs=dict(snakemake.output.items()),
    )
