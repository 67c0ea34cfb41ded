# Pretrained weights: the backbone files the configured models start from.
# Fetched once, on the machine Snakemake runs on (local rules: compute nodes
# often have no internet access), each checked against the SHA-256 pinned in
# deepfake_ensemble.pretrained; training jobs only read them (inputs of rule
# train, see train_weights in rules/common.smk). `snakemake fetch_weights`
# fetches them all ahead of a run.

import re

from deepfake_ensemble.pretrained import CHECKSUMS_NAME, WEIGHTS_DIR


localrules:
    fetch_weights,
    fetch_weights_file,


rule fetch_weights:
    input:
        weights=FETCHED_WEIGHTS,
    output:
        checksums=f"{WEIGHTS_DIR}/{CHECKSUMS_NAME}",
    log:
        f"{LOGS}/fetch_weights.log",
    conda:
        "../envs/train.yaml"
    params:
        pins={
            os.path.basename(f): WEIGHTS_CATALOG[os.path.basename(f)].sha256
            for f in FETCHED_WEIGHTS
        },
    script:
        "../scripts/fetch_weights.py"


rule fetch_weights_file:
    output:
        weights=f"{WEIGHTS_DIR}/{{weights_file}}",
    log:
        f"{LOGS}/fetch_weights/{{weights_file}}.log",
    wildcard_constraints:
        weights_file="|".join(re.escape(name) for name in WEIGHTS_CATALOG),
    conda:
        "../envs/train.yaml"
    params:
        entry=lambda wildcards: WEIGHTS_CATALOG[wildcards.weights_file].as_dict(),
    script:
        "../scripts/fetch_weights_file.py"
