"""Snakemake entry point: split the manifest into train, val and test."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

import pandas as pd

from deepfake_ensemble.io import write_csv
from deepfake_ensemble.splits import check_splits, make_splits, split_counts
from deepfake_ensemble.workflow import logged

with logged(snakemake.log[0]) as log:
    cfg = dict(snakemake.params.split)
    manifest = pd.read_csv(snakemake.input[0], keep_default_na=False)
    splits = make_splits(
        manifest,
        ratios=tuple(cfg["ratios"]),
        split_by=cfg["split_by"],
        use_official_test=cfg["use_official_test"],
        seed=cfg["seed"],
    )
    counts = split_counts(splits)
    log.info("videos per split, dataset and label:\n%s", counts.to_string(index=False))
    print(counts.to_string(index=False))
    check_splits(splits)
    for name in ("train", "val", "test"):
        write_csv(splits[name], snakemake.output[name])
    write_csv(counts, snakemake.output.counts)
