"""Snakemake entry point: the preprocessing report, summary and contact sheet."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

import pandas as pd

from deepfake_ensemble.io import write_csv
from deepfake_ensemble.preprocess import contact_sheet, write_report
from deepfake_ensemble.workflow import logged

with logged(snakemake.log[0]) as log:
    batches = [
        pd.read_csv(path, keep_default_na=False) for path in snakemake.input.reports
    ]
    report, summary = write_report(batches)
    write_csv(report, snakemake.output.report)
    write_csv(summary, snakemake.output.summary)
    log.info("preprocessing summary:\n%s", summary.to_string(index=False))
    shard_dirs = {
        path.rstrip("/").rsplit("/", 1)[-1]: path for path in snakemake.input.shards
    }
    contact_sheet(
        shard_dirs, snakemake.output.contact_sheet, seed=snakemake.params.seed
    )
