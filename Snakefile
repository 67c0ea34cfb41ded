# Deepfake-detection ensembles: a reproduction, and extension, of
# "Stronger Together? An Ensemble of CNNs for Deepfakes Detection".
#
# dataset roots -> manifest -> splits -> preprocessing batches -> HDF5 shards
#   -> four single detectors (pretrained weights fetched and checked, train,
#      predict, evaluate) -> seven ensembles
#   -> summary table and HTML report (snakemake --report results/report.html)
#
# Read rules/common.smk first: configuration, input functions, targets. Each
# rule runs scripts/<rule>.py, which calls one function of
# src/deepfake_ensemble/stages/<rule file>.py.

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


include: "rules/demo.smk"
include: "rules/ingest.smk"
include: "rules/preprocess.smk"
include: "rules/weights.smk"
include: "rules/models.smk"
include: "rules/evaluate.smk"
include: "rules/ensembles.smk"
include: "rules/summary.smk"
