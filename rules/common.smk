# Configuration, constants and input functions shared by every rule file.
# Names and file layouts come from the package (deepfake_ensemble.layout), so
# the workflow, the code and the tests cannot disagree on them.

import functools
import json
import math
import os
import re
import sys

import pandas as pd
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

sys.path.insert(0, os.path.join(workflow.basedir, "src"))

from deepfake_ensemble.layout import (
    CLEAN,
    ENSEMBLE_FIT_FILES,
    ENSEMBLE_TEST_FILES,
    MEMBER_ENSEMBLES,
    SPLITS,
    demo_marker,
    ensemble_files,
    ensembles_for,
    robustness_conditions,
)
from deepfake_ensemble.config import check_config, describe_validation_error
from deepfake_ensemble.defaults import DEFAULTS
from deepfake_ensemble.errors import InputError
from deepfake_ensemble.members import (
    declared_members,
    draws_synthesis_sheet,
    enabled_members,
    ensemble_members,
    member_resource,
)
from deepfake_ensemble.protocols import POOLED, target_datasets, target_sets, train_sets


def validate_config(config, schema):
    """Validate and fill in defaults; a failure is three readable lines. Then
    the settings only some models take (deepfake_ensemble.config.check_config):
    a failure is one line naming the key."""
    try:
        validate(config, schema=schema)
    except WorkflowError as exc:
        cause = exc.__context__  # the jsonschema ValidationError
        if not hasattr(cause, "absolute_path"):
            raise
        raise WorkflowError(describe_validation_error(cause)) from None
    try:
        check_config(config)
    except InputError as exc:
        raise WorkflowError(str(exc)) from None


validate_config(config, "../config/schema/config.schema.yaml")

# the members (config key models): the study's four unless disabled, then
# the members declared with kind timm or module (deepfake_ensemble.members);
# every single-model rule, the summary, the matrix and the bundle take them
MODELS = enabled_members(config["models"])
# the members the ensembles combine: the study's detectors among MODELS
# (when at least two are), so that declaring members leaves the study's
# ensembles as they were
ENSEMBLE_MEMBERS = ensemble_members(MODELS)
# the calibrated hard-voting variants exist unless ensemble.calibration is none;
# the ensembles over every member (layout.MEMBER_ENSEMBLES) where the config
# declares members beyond the study's four
ENSEMBLES = list(ensembles_for(config["ensemble"]["calibration"], MODELS))


# the contact sheet of synthesised fakes (rule synthesis_sheet) is drawn
# where a member trains on them, and on the demo
SYNTHESIS_SHEET = draws_synthesis_sheet(config, MODELS)


def ensemble_models(name):
    """The members ensemble ``name`` chooses from: every enabled member for
    the ensembles over every member, else ENSEMBLE_MEMBERS."""
    return MODELS if name in MEMBER_ENSEMBLES else ENSEMBLE_MEMBERS


# The ensembles by the members they choose from, each family fitted by one job
# per training set (rules ensemble and ensemble_every_member): declaring a
# member adds the second family's jobs and leaves the study's as they were.
STUDY_ENSEMBLES = [e for e in ENSEMBLES if e not in MEMBER_ENSEMBLES]
EVERY_MEMBER_ENSEMBLES = [e for e in ENSEMBLES if e in MEMBER_ENSEMBLES]


def ensemble_fit_outputs(train_set, names):
    """Role -> the files of that role of the fits of ensembles ``names`` on
    ``train_set``, in their order (a fitting rule's outputs)."""
    return {
        role: [ensemble_fit_files(ensemble_dir(train_set, e))[role] for e in names]
        for role in ENSEMBLE_FIT_FILES
    }


def ensemble_test_outputs(train_set, names):
    """Role -> the files of that role of ensembles ``names`` applied to every
    test set, ensemble by ensemble, test set by test set within it (an
    applying rule's outputs)."""
    return {
        role: [
            ensemble_test_file(train_set, e, t, role) for e in names for t in TEST_SETS
        ]
        for role in ENSEMBLE_TEST_FILES
    }


LOGS = "results/logs"
BENCHMARKS = "results/benchmarks"


def configure_protocol():
    """Training sets (name -> datasets) and test sets (name -> datasets) of
    evaluation.protocol (deepfake_ensemble.protocols)."""
    protocol = config["evaluation"]["protocol"]
    datasets = [d["name"] for d in config["datasets"]]
    try:
        return (
            protocol,
            datasets,
            train_sets(protocol, datasets),
            target_sets(protocol, datasets),
        )
    except InputError as exc:
        raise WorkflowError(str(exc)) from None


# PROTOCOL: pooled | cross_dataset | leave_one_out; DATASETS: names, in config
# order; TRAIN_SETS / TEST_SETS: name -> the datasets it holds (pooled: one
# set "pooled" each); TEST_DATASETS: every dataset some test set holds
PROTOCOL, DATASETS, TRAIN_SETS, TEST_SETS = configure_protocol()
TEST_DATASETS = list(target_datasets(TEST_SETS))
# the evaluation settings the rules' code uses (the protocol and the
# robustness stage shape the DAG; left out, they rerun no evaluation job)
EVALUATION = {
    k: v for k, v in config["evaluation"].items() if k not in ("protocol", "robustness")
}
# the training settings the rules pass on: train.augment only when enabled,
# so that runs made without it keep their params (and are not rerun)
TRAIN = {
    k: v
    for k, v in config["train"].items()
    if k != "augment" or config["train"]["augment"]["enabled"]
}
# what the bundle records of it (the protocol too)
BUNDLE_EVALUATION = {k: v for k, v in config["evaluation"].items() if k != "robustness"}


def configure_robustness():
    """The conditions (perturbation-severity) of evaluation.robustness and
    whether the default target builds them (only under the pooled protocol)."""
    cfg = config["evaluation"]["robustness"]
    if cfg["enabled"] and PROTOCOL != POOLED:
        raise WorkflowError(
            "evaluation.robustness.enabled needs evaluation.protocol pooled, "
            f"not {PROTOCOL}"
        )
    try:
        return cfg, robustness_conditions(cfg)
    except InputError as exc:
        raise WorkflowError(str(exc)) from None


# ROBUSTNESS: its config; CONDITIONS: the degraded copies of the test set
ROBUSTNESS, CONDITIONS = configure_robustness()


def repo_path(path):
    """A path from the config: relative to the working directory when it
    exists there, else to the workflow's own folder (resources/ ships there)."""
    if os.path.isabs(path) or os.path.exists(path):
        return path
    return os.path.join(workflow.basedir, path)


DEMO_WHEEL = repo_path(config["demo"]["wheel"])


def _one_of(names):
    return "|".join(re.escape(n) for n in names)


wildcard_constraints:
    split="|".join(SPLITS),
    batch=r"\d{5}",
    model=_one_of(declared_members(config["models"])),
    dataset=_one_of(DATASETS),
    train_set=_one_of(TRAIN_SETS),
    target=_one_of(TEST_SETS),
    condition=_one_of(CONDITIONS) if CONDITIONS else "(?!)",


# -- paths: every rule file names its files through these ---------------------
# results/shards/{dataset}/{split}                 shards of one dataset's split
# results/models/{train_set}/{model}/              a detector trained on a train set
# results/predictions/{train_set}/{model}/{split}.csv   val: the train set's val
#                                                  split (written by training);
#                                                  test: every test dataset
# results/metrics/{train_set}/{target}/{model}.json     one cell of the matrix
# results/ensembles/{train_set}/{ensemble}/        fitted on the train set's val
# results/ensembles/{train_set}/{ensemble}/test/{target}/   applied to a test set
# (arguments may be wildcards: shard_dir("{dataset}", "{split}"))


def shard_dir(dataset, split):
    return f"results/shards/{dataset}/{split}"


def batch_report(dataset, split, batch):
    return f"results/preprocess/{dataset}/{split}/batch-{batch}.csv"


def model_file(train_set, model, name):
    return f"results/models/{train_set}/{model}/{name}"


def model_files(train_set, name, models=None):
    """One file of every (enabled) model trained on ``train_set``."""
    return [model_file(train_set, m, name) for m in (models or MODELS)]


def prediction_file(train_set, model, split):
    return f"results/predictions/{train_set}/{model}/{split}.csv"


def predictions(train_set, split, models=None):
    return [prediction_file(train_set, m, split) for m in (models or MODELS)]


def metrics_file(train_set, target, model):
    return f"results/metrics/{train_set}/{target}/{model}.json"


def ensemble_dir(train_set, name):
    return f"results/ensembles/{train_set}/{name}"


def ensemble_test_dir(train_set, name, target):
    return f"{ensemble_dir(train_set, name)}/test/{target}"


def ensemble_fit_files(out_dir):
    """Role -> file of an ensemble's fit (layout.ENSEMBLE_FIT_FILES)."""
    return {role: f"{out_dir}/{name}" for role, name in ENSEMBLE_FIT_FILES.items()}


def ensemble_test_file(train_set, name, target, role):
    """One file of an ensemble applied to a test set (layout.ENSEMBLE_TEST_FILES)."""
    test_dir = ensemble_test_dir(train_set, name, target)
    return f"{test_dir}/{ENSEMBLE_TEST_FILES[role]}"


def robust_dir(condition):
    """A degraded copy of the test set: test.csv (the split list with the
    copies' paths), videos/, preprocess/, shards/, predictions/."""
    return f"results/robustness/{condition}"


def robust_shard_dir(condition, dataset, split):
    return f"{robust_dir(condition)}/shards/{dataset}/{split}"


def robust_batch_reports(wildcards):
    """The batch reports of one dataset's degraded test videos (as many
    batches as its clean test videos have)."""
    return [
        f"{robust_dir(wildcards.condition)}/preprocess/{wildcards.dataset}/"
        f"{wildcards.split}/batch-{batch:05d}.csv"
        for batch in range(n_batches(wildcards.dataset, wildcards.split))
    ]


# the files of an ensemble's fit the robustness stage applies
ROBUSTNESS_FIT_ROLES = ["members", "weights", "val_frames", "val_videos"]
ROBUSTNESS_OUTPUTS = [
    "results/robustness.csv",
    "results/robustness.md",
    "results/robustness_drop.csv",
    "results/robustness_tests.csv",
    "results/figures/robustness.png",
]


def final_outputs():
    """Everything `snakemake` builds by default: under the pooled protocol the
    summary (and the bundle), else the cross-dataset matrix; the metrics of
    every single model on every test set under both."""
    out = [
        "results/preprocess/report.csv",
        *[
            metrics_file(t, target, m)
            for t in TRAIN_SETS
            for target in TEST_SETS
            for m in MODELS
        ],
    ]
    if SYNTHESIS_SHEET:
        out.append("results/figures/synthesis_sheet.png")
    if PROTOCOL == POOLED:
        return [
            "results/summary.csv",
            "results/summary.md",
            *out,
            # the trained members and ensembles, for scoring new videos
            "results/bundle",
            *(ROBUSTNESS_OUTPUTS if ROBUSTNESS["enabled"] else []),
        ]
    return ["results/cross_dataset.csv", "results/cross_dataset.md", *out]


def demo_extra_markers():
    """The files that mark the extra demo datasets (demo.extra) complete."""
    return [
        demo_marker(x["root"], x.get("layout", "csv")) for x in config["demo"]["extra"]
    ]


def ingest_inputs(wildcards):
    """The demo dataset is generated first when enabled; real roots are read in place."""
    if config["demo"]["generate"]:
        return ["results/demo/metadata.json", *demo_extra_markers()]
    return []


#: keys of a model's block added after models were trained, left out of its
#: params at their default (filled in by the validation), as before the key
#: existed, so that the models trained then keep their params and are not rerun
LATER_MODEL_KEYS = ("fakes", "gpus", "sync_batchnorm")


def model_config(wildcards):
    """The config overrides of one detector (the registry holds the study's
    defaults), without the keys of LATER_MODEL_KEYS at their default."""
    block = dict(config["models"].get(wildcards.model, {}))
    for key in LATER_MODEL_KEYS:
        if key in block and block[key] == DEFAULTS[f"models.<model>.{key}"]:
            del block[key]
    # job resources are no training setting (job_resource)
    block.pop("resources", None)
    return block


def train_gpus(wildcards):
    """The processes (GPUs on CUDA) of one model's training job."""
    return int(
        config["models"].get(wildcards.model, {}).get("gpus")
        or DEFAULTS["models.<model>.gpus"]
    )


def train_cpus(wildcards):
    """A training job's CPUs: per GPU, its process and 7 loader workers."""
    return 8 * train_gpus(wildcards)


def train_gpu_request(wildcards):
    """The GPUs a training job asks for: its processes, none where the
    config trains on the CPU (``train.device: cpu``)."""
    if config["train"].get("device", DEFAULTS["train.device"]) == "cpu":
        return 0
    return train_gpus(wildcards)


def job_resource(key):
    """Resource function of rules train and predict: the member's own
    (models.<model>.resources.<key>, deepfake_ensemble.members.member_resource;
    runtimes times the attempt)."""

    def resource(wildcards, attempt):
        return member_resource(config["models"], wildcards.model, key, attempt)

    return resource


@functools.lru_cache(maxsize=None)
def _videos_per_dataset(split_csv, mtime):
    table = pd.read_csv(split_csv, usecols=["dataset"], dtype=str)
    return table["dataset"].value_counts().to_dict()


def n_batches(dataset, split):
    """Number of preprocessing batch jobs of one dataset's split, known once
    the split exists (each batch holds videos of one dataset only)."""
    split_csv = checkpoints.split.get().output[split]
    counts = _videos_per_dataset(split_csv, os.path.getmtime(split_csv))
    n_videos = counts.get(dataset, 0)
    return max(1, math.ceil(n_videos / config["preprocess"]["videos_per_job"]))


def batch_reports(wildcards):
    """The batch reports of one dataset's split (input of its shard packing)."""
    return [
        batch_report(wildcards.dataset, wildcards.split, f"{batch:05d}")
        for batch in range(n_batches(wildcards.dataset, wildcards.split))
    ]


def all_batch_reports(wildcards):
    return [
        batch_report(dataset, split, f"{batch:05d}")
        for dataset in DATASETS
        for split in SPLITS
        for batch in range(n_batches(dataset, split))
    ]


def train_shards(split):
    """Input function: the shard folders of ``split`` of the training set's
    datasets (a training job reads exactly these)."""

    def shards(wildcards):
        return [shard_dir(d, split) for d in TRAIN_SETS[wildcards.train_set]]

    return shards


def all_ensemble_files(wildcards):
    """Every file of every ensemble trained on the pooled set and tested on
    the pooled test set, named ``<ensemble>_<role>`` (summary input)."""
    return {
        f"{name}_{role}": path
        for name in ENSEMBLES
        for role, path in ensemble_files(
            ensemble_dir(POOLED, name), ensemble_test_dir(POOLED, name, POOLED)
        ).items()
    }


# -- pretrained weights (rules/train.smk fetches them, rule train reads them) ---
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


def demo_cue_table(wildcards):
    """The demo's ground truth per cue (summary input), when the demo is used."""
    if config["demo"]["generate"]:
        return {"cues": "results/demo/cues.csv"}
    return {}


# -- the bundle and scoring new videos (rules/bundle.smk) ---------------------

BUNDLE_ENSEMBLE_ROLES = ["members", "weights", "metrics"]


def bundle_ensemble_files(wildcards):
    """The JSON files of every ensemble, named ``<ensemble>_<role>``."""
    return {
        f"{name}_{role}": path
        for name in ENSEMBLES
        for role, path in ensemble_files(
            ensemble_dir(POOLED, name), ensemble_test_dir(POOLED, name, POOLED)
        ).items()
        if role in BUNDLE_ENSEMBLE_ROLES
    }


SCORE_BUNDLE = config["score_bundle"]


def score_input_files(wildcards):
    """The folders, lists and files of score_input that exist (inputs of
    score_videos; a name that does not exist is reported as unreadable)."""
    value = config.get("score_input")
    if not value:
        raise WorkflowError(
            "nothing to score: set score_input, e.g. "
            "`snakemake score --config score_input=FOLDER_OR_LIST`"
        )
    items = [value] if isinstance(value, str) else list(value)
    # braces would read as wildcards
    return [p.replace("{", "{{").replace("}", "}}") for p in items if os.path.exists(p)]


def score_batch_reports(wildcards):
    """The preprocessing batch reports of the videos to score."""
    from deepfake_ensemble.bundle.score import batch_count

    videos = checkpoints.score_videos.get().output.videos
    n_videos = len(pd.read_csv(videos, usecols=["video_id"]))
    n = batch_count(n_videos, config["preprocess"]["videos_per_job"])
    return expand("results/score/preprocess/batch-{batch:05d}.csv", batch=range(n))


def score_members():
    """The bundle's members (those of this run until the bundle exists)."""
    index = os.path.join(SCORE_BUNDLE, "bundle.json")
    if os.path.isfile(index):
        with open(index) as handle:
            return list(json.load(handle)["members"])
    return MODELS


SCORE_MEMBERS = score_members()
