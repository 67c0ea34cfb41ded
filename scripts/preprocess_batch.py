"""Snakemake entry point: sample frames and crop faces for one batch of videos."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

import pandas as pd

from deepfake_ensemble.io import write_csv
from deepfake_ensemble.preprocess import run_batch
from deepfake_ensemble.workflow import limit_threads, logged

with logged(snakemake.log[0]) as log:
    limit_threads(snakemake.threads)
    cfg = dict(snakemake.params.preprocess)
    split = pd.read_csv(snakemake.input[0], keep_default_na=False)
    batch = int(snakemake.wildcards.batch)
    size = cfg["videos_per_job"]
    videos = split.iloc[batch * size : (batch + 1) * size]
    report = run_batch(videos, snakemake.params.cache_dir, cfg, progress=True)
    write_csv(report, snakemake.output[0])
    log.info("batch %d: %s", batch, report["status"].value_counts().to_dict())
