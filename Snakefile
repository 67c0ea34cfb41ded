# Deepfake-detection ensembles: a reproduction, and extension, of
# "Stronger Together? An Ensemble of CNNs for Deepfakes Detection".
#
# dataset roots -> manifest -> splits -> preprocessing batches -> HDF5 shards
#   -> four single detectors (pretrained weights fetched and checked, train,
#      predict, evaluate) -> thirteen ensembles (fitted on validation, applied
#      to test)
#   -> summary table and HTML report (snakemake --report results/report.html)
#   -> a checked bundle of them (results/bundle) that scores new videos:
#      deepfake-ensemble score, or snakemake score --config score_input=...
#
# evaluation.protocol: pooled (the study's: one training set of every dataset)
# or cross_dataset / leave_one_out (a training set per dataset, or per dataset
# left out; every model is tested on every dataset: results/cross_dataset.*).
#
# Read rules/common.smk first: configuration, input functions, targets. Each
# rule file rules/<stage>.smk is one stage (ingest, preprocess, train,
# evaluate, bundle); its rules run scripts/<stage>/<rule>.py, which calls one
# function of src/deepfake_ensemble/<stage>/jobs.py.

import os

from snakemake.utils import min_version

min_version("9.0")


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


report: "report/workflow.rst"


include: "rules/snakemake_patches.smk"
include: "rules/common.smk"


rule all:
    default_target: True
    input:
        final_outputs(),


include: "rules/ingest.smk"
include: "rules/preprocess.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/bundle.smk"
