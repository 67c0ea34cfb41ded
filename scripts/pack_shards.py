"""Snakemake entry point: pack a split's preprocessed videos into HDF5 shards."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

import pandas as pd

from deepfake_ensemble.preprocess import pack_shards
from deepfake_ensemble.workflow import logged

with logged(snakemake.log[0]) as log:
    report = pd.concat(
        [pd.read_csv(path, keep_default_na=False) for path in snakemake.input],
        ignore_index=True,
    )
    shards = pack_shards(
        report,
        snakemake.output[0],
        dict(snakemake.params.preprocess),
        split=snakemake.wildcards.split,
    )
    log.info("wrote %d shards to %s", len(shards), snakemake.output[0])
