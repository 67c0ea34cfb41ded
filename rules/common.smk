# Configuration, constants and input functions shared by every rule file.

import math
import os

import pandas as pd
from snakemake.utils import validate

validate(config, schema="../config/schema/config.schema.yaml")


SPLITS = ["train", "val", "test"]
ALL_MODELS = ["capsule", "dsp_fwa", "ictu_oculi", "xception"]
MODELS = [m for m in ALL_MODELS if config["models"].get(m, {}).get("enabled", True)]
ENSEMBLES = [
    "best2_hard",
    "best2_soft",
    "small2_hard",
    "small2_soft",
    "all_hard",
    "all_soft",
    "all_stacked",
]
LOGS = "results/logs"


def repo_path(path):
    """A path from the config: relative to the working directory when it
    exists there, else to the workflow's own folder (resources/ ships there)."""
    if os.path.isabs(path) or os.path.exists(path):
        return path
    return os.path.join(workflow.basedir, path)


DEMO_WHEEL = repo_path(config["demo"]["wheel"])
BENCHMARKS = "results/benchmarks"


wildcard_constraints:
    split="|".join(SPLITS),
    batch=r"\d{5}",
    model="|".join(ALL_MODELS),
    ensemble="|".join(ENSEMBLES),


def final_outputs():
    """Everything `snakemake` builds by default."""
    return [
        "results/summary.csv",
        "results/summary.md",
        "results/preprocess/report.csv",
    ]


def ingest_inputs(wildcards):
    """The demo dataset is generated first when enabled; real roots are read in place."""
    if config["demo"]["generate"]:
        return ["results/demo/metadata.json"]
    return []


def model_config(wildcards):
    """The config overrides of one detector (the registry holds the study's defaults)."""
    return config["models"].get(wildcards.model, {})


def n_batches(split):
    """Number of preprocessing batch jobs of a split, known once the split exists."""
    split_csv = checkpoints.split.get().output[split]
    n_videos = len(pd.read_csv(split_csv, usecols=["video_id"]))
    return max(1, math.ceil(n_videos / config["preprocess"]["videos_per_job"]))


def batch_reports(wildcards):
    """The batch reports of one split (input of its shard packing)."""
    return expand(
        "results/preprocess/{split}/batch-{batch:05d}.csv",
        split=wildcards.split,
        batch=range(n_batches(wildcards.split)),
    )


def all_batch_reports(wildcards):
    return [
        f"results/preprocess/{split}/batch-{batch:05d}.csv"
        for split in SPLITS
        for batch in range(n_batches(split))
    ]


def predictions(models, splits):
    return expand("results/predictions/{model}/{split}.csv", model=models, split=splits)


# Snakemake 9.x caches group jobs by their first members but merges them in
# place for --group-components; when the DAG is post-processed twice with the
# same pending jobs (on every run after the split checkpoint exists), merged
# groups were merged again and submitted twice. Drop such stale cache entries.
# (tests/test_profiles.py fails if the batching goes wrong again.)
from snakemake.jobs import GroupJobFactory as _GroupJobFactory

if not getattr(_GroupJobFactory, "_fresh_after_merge", False):
    _group_job_new = _GroupJobFactory.new

    def _fresh_group_job(self, id, jobs, resources):
        jobs = frozenset(jobs)
        cached = self.cache.get((id, jobs))
        if cached is not None and frozenset(cached.jobs) != jobs:
            del self.cache[(id, jobs)]
        return _group_job_new(self, id, jobs, resources)

    _GroupJobFactory.new = _fresh_group_job
    _GroupJobFactory._fresh_after_merge = True
