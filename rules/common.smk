# Configuration, constants and input functions shared by every rule file.
# Names and file layouts come from the package (deepfake_ensemble.catalog), so
# the workflow, the code and the tests cannot disagree on them.

import math
import os
import sys

import pandas as pd
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

sys.path.insert(0, os.path.join(workflow.basedir, "src"))

from deepfake_ensemble.catalog import (
    ENSEMBLE_NAMES,
    MODEL_NAMES,
    SPLITS,
    ensemble_files,
    ensembles_for,
)
from deepfake_ensemble.config import describe_validation_error


def validate_config(config, schema):
    """Validate and fill in defaults; a failure is three readable lines."""
    try:
        validate(config, schema=schema)
    except WorkflowError as exc:
        cause = exc.__context__  # the jsonschema ValidationError
        if not hasattr(cause, "absolute_path"):
            raise
        raise WorkflowError(describe_validation_error(cause)) from None


validate_config(config, "../config/schema/config.schema.yaml")

MODELS = [m for m in MODEL_NAMES if config["models"].get(m, {}).get("enabled", True)]
# the calibrated hard-voting variants exist unless ensemble.calibration is none
ENSEMBLES = list(ensembles_for(config["ensemble"]["calibration"]))
LOGS = "results/logs"
BENCHMARKS = "results/benchmarks"


def repo_path(path):
    """A path from the config: relative to the working directory when it
    exists there, else to the workflow's own folder (resources/ ships there)."""
    if os.path.isabs(path) or os.path.exists(path):
        return path
    return os.path.join(workflow.basedir, path)


DEMO_WHEEL = repo_path(config["demo"]["wheel"])


wildcard_constraints:
    split="|".join(SPLITS),
    batch=r"\d{5}",
    model="|".join(MODEL_NAMES),
    ensemble="|".join(ENSEMBLE_NAMES),


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


def ensemble_dir(name):
    return f"results/ensembles/{name}"


def all_ensemble_files(wildcards):
    """Every file of every ensemble, named ``<ensemble>_<role>`` (summary input)."""
    return {
        f"{name}_{role}": path
        for name in ENSEMBLES
        for role, path in ensemble_files(ensemble_dir(name)).items()
    }


# -- pretrained weights (rules/weights.smk fetches them, rule train reads them) --
from deepfake_ensemble.errors import InputError
from deepfake_ensemble.pretrained import fetchable, load_catalog, resolve_model_starts


def configure_weights():
    """The catalogue (shipped + config key weights_catalog) and model -> the
    weights files it starts from; checks models.*.weights/pretrained and fills
    in pretrained's default (required when weights are set, else none)."""
    try:
        catalog = load_catalog(config.get("weights_catalog"))
        return catalog, resolve_model_starts(config, MODELS, catalog)
    except InputError as exc:
        raise WorkflowError(str(exc)) from None


WEIGHTS_CATALOG, MODEL_WEIGHTS = configure_weights()
FETCHED_WEIGHTS = sorted(
    {
        os.path.normpath(path)
        for model in MODELS
        for path in MODEL_WEIGHTS[model]
        if fetchable(path, WEIGHTS_CATALOG)
    }
)


def train_weights(wildcards):
    """The weights files training of one model reads (inputs of rule train;
    rule fetch_weights_file makes those of the catalogue; the authors'
    checkpoints must be in place). With `pretrained: optional` a missing file
    that cannot be fetched is left out (training warns)."""
    files = MODEL_WEIGHTS.get(wildcards.model, [])
    if config["models"].get(wildcards.model, {}).get("pretrained") == "optional":
        files = [f for f in files if os.path.exists(f) or fetchable(f, WEIGHTS_CATALOG)]
    return [os.path.normpath(f) for f in files]
