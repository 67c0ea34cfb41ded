"""Snakemake entry point: list every video of the configured datasets."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from deepfake_ensemble.ingest import build_manifest
from deepfake_ensemble.io import write_csv
from deepfake_ensemble.workflow import logged

with logged(snakemake.log[0]) as log:
    manifest = build_manifest([dict(d) for d in snakemake.params.datasets])
    write_csv(manifest, snakemake.output[0])
    log.info(
        "manifest: %d videos\n%s",
        len(manifest),
        manifest.groupby(["dataset", "label"]).size().to_string(),
    )
