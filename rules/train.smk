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
        "../scripts/train/fetch_weights.py"


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
        "../scripts/train/fetch_weights_file.py"


# The four single detectors share one training, one prediction and one
# evaluation path; they differ only by their registry entry and config. Each
# (training set, model) pair is one job: under evaluation.protocol
# cross_dataset or leave_one_out a detector is trained once per training set
# (rules/common.smk: TRAIN_SETS), never twice for the same pair. A model's
# val predictions are written by its training job, from the validation pass
# that chose its best epoch; rule predict scores the test splits.


rule train:
    input:
        # the train and val shards of exactly the training set's datasets
        train=train_shards("train"),
        val=train_shards("val"),
        # the files it starts from (rule fetch_weights_file fetches the backbones)
        weights=train_weights,
    output:
        best=model_file("{train_set}", "{model}", "best.pt"),
        last=model_file("{train_set}", "{model}", "last.pt"),
        history=model_file("{train_set}", "{model}", "history.csv"),
        size_json=model_file("{train_set}", "{model}", "size.json"),
        start=model_file("{train_set}", "{model}", "start.json"),
        # the best epoch's scores from the validation pass that chose it
        val_predictions=prediction_file("{train_set}", "{model}", "val"),
        curve=report(
            model_file("{train_set}", "{model}", "training_curve.png"),
            caption="../report/training_curve.rst",
            category="2. Single models",
            subcategory="{model}",
            labels={
                "model": "{model}",
                "figure": "training curve (trained on {train_set})",
            },
        ),
    log:
        f"{LOGS}/train/{{train_set}}/{{model}}.log",
    benchmark:
        f"{BENCHMARKS}/train/{{train_set}}/{{model}}.tsv"
    conda:
        "../envs/train.yaml"
    # per GPU: its process and 7 loader workers (profiles/slurm/config.yaml)
    threads: train_cpus
    resources:
        # models.<model>.gpus GPUs (none with train.device: cpu) for one
        # task: the job's script starts one
        # process per GPU itself (torchrun); tasks=0 keeps the SLURM plugin
        # from asking for a task per GPU (--ntasks-per-gpu), which would start
        # the script once per GPU (docs/cluster.md, "Several GPUs per member")
        gpu=train_gpu_request,
        tasks=0,
        # sbatch --cpus-per-task (the profiles' `threads` is not resolved
        # for a rule whose threads depend on the job)
        cpus_per_task=train_cpus,
        # host memory of a GPU job (loader workers included) and its time
        # limit, longer on each retry: the member's (models.<model>.resources,
        # defaults in the schema: 32 GB, 24 h); a site overrides them in its
        # profile's set-resources
        mem_mb=job_resource("train_mem_mb"),
        runtime=job_resource("train_runtime"),
    params:
        model_config=model_config,
        train=TRAIN,
        seed=config["seed"],
        resume_dir=model_file("{train_set}", "{model}", "resume"),
    script:
        "../scripts/train/train.py"


# The contact sheet of synthesised fakes (deepfake_ensemble.train.sheet): real
# faces of the training shards beside their self-blended and face-warp fakes
# and masks, in the report where a member trains on synthesised fakes and on
# the demo (rules/common.smk: final_outputs).


rule synthesis_sheet:
    input:
        shards=[shard_dir(d, "train") for d in DATASETS],
    output:
        sheet=report(
            "results/figures/synthesis_sheet.png",
            caption="../report/synthesis_sheet.rst",
            category="2. Single models",
            labels={"model": "all", "figure": "synthesised fakes (contact sheet)"},
        ),
    log:
        f"{LOGS}/synthesis_sheet.log",
    conda:
        "../envs/train.yaml"
    params:
        n=6,
        seed=config["seed"],
    script:
        "../scripts/train/synthesis_sheet.py"


rule predict:
    input:
        checkpoint=model_file("{train_set}", "{model}", "best.pt"),
        # every test dataset's test split (val predictions come from train)
        shards=[shard_dir(d, "test") for d in TEST_DATASETS],
    output:
        predictions=prediction_file("{train_set}", "{model}", "test"),
    log:
        f"{LOGS}/predict/{{train_set}}/{{model}}/test.log",
    conda:
        "../envs/train.yaml"
    threads: 8
    resources:
        gpu=1,
        mem_mb=job_resource("predict_mem_mb"),
        runtime=job_resource("predict_runtime"),
    params:
        train=TRAIN,
    script:
        "../scripts/train/predict.py"


# The robustness stage: the members trained on clean videos score each
# degraded copy of the test set (rules/preprocess.smk, degrade_test).


use rule predict as robust_predict with:
    input:
        checkpoint=model_file(POOLED, "{model}", "best.pt"),
        shards=[robust_shard_dir("{condition}", d, "test") for d in TEST_DATASETS],
    output:
        predictions=f"{robust_dir('{condition}')}/predictions/{{model}}.csv",
    log:
        f"{LOGS}/robust_predict/{{condition}}/{{model}}.log",
    benchmark:
        f"{BENCHMARKS}/robust_predict/{{condition}}/{{model}}.tsv"
