# The trained members and ensembles as one checked folder, for scoring new
# videos (`deepfake-ensemble score`, and the scoring rules below): checkpoints
# (weights only), fitted ensemble parameters and validation thresholds,
# preprocessing settings, versions, a model card and a manifest of SHA-256
# hashes.
# Input functions: rules/common.smk (bundle and scoring).


rule bundle:
    input:
        unpack(bundle_ensemble_files),
        # the models trained on the pooled training set (evaluation.protocol
        # pooled), their metrics on the pooled test set
        checkpoints=model_files(POOLED, "best.pt"),
        metrics=[metrics_file(POOLED, POOLED, m) for m in MODELS],
        # its index.json records the preprocessing the members were trained on
        # (every dataset's shards are made with the same settings)
        train_shards=shard_dir(DATASETS[0], "train"),
        summary="results/summary.csv",
        counts="results/splits/counts.csv",
    output:
        bundle=directory("results/bundle"),
    log:
        f"{LOGS}/bundle.log",
    conda:
        "../envs/train.yaml"
    params:
        models=MODELS,
        ensembles=ENSEMBLES,
        ensemble_roles=BUNDLE_ENSEMBLE_ROLES,
        split=config["split"],
        datasets=config["datasets"],
        evaluation=BUNDLE_EVALUATION,
        video_timeout_s=config["preprocess"]["video_timeout_s"],
    script:
        "../scripts/bundle/bundle.py"


# Scoring new videos with a bundle on a cluster:
#
#   snakemake score --config score_input=FOLDER_OR_LIST --profile profiles/slurm
#
# lists the videos (checkpoint score_videos), preprocesses them in the
# batches and group jobs of training (rule score_preprocess, group
# `preprocess`, the per-video cache results/faces), packs their faces into
# shards, runs each member as a GPU job and writes results/score/scores.csv:
# the table of `deepfake-ensemble score`. The bundle is score_bundle
# (results/bundle: rule bundle makes it from this run).

# Input functions and SCORE_BUNDLE: rules/common.smk (bundle and scoring).


checkpoint score_videos:
    input:
        score_input_files,
    output:
        videos="results/score/videos.csv",
    log:
        f"{LOGS}/score/score_videos.log",
    localrule: True
    conda:
        "../envs/preprocess.yaml"
    params:
        score_input=config["score_input"],
    script:
        "../scripts/bundle/score_videos.py"


rule score_preprocess:
    input:
        videos="results/score/videos.csv",
        bundle=SCORE_BUNDLE,
    output:
        report="results/score/preprocess/batch-{batch}.csv",
    log:
        f"{LOGS}/score/preprocess/batch-{{batch}}.log",
    group:
        "preprocess"
    conda:
        "../envs/preprocess.yaml"
    threads: 1
    resources:
        # as preprocess_batch (rules/preprocess.smk)
        mem_mb=800,
        runtime=120,
    params:
        preprocess=config["preprocess"],
        cache_dir="results/faces",
    script:
        "../scripts/bundle/score_preprocess.py"


rule score_shards:
    input:
        reports=score_batch_reports,
        bundle=SCORE_BUNDLE,
    output:
        shards=directory("results/score/shards"),
    log:
        f"{LOGS}/score/score_shards.log",
    conda:
        "../envs/preprocess.yaml"
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        preprocess=config["preprocess"],
    script:
        "../scripts/bundle/score_shards.py"


rule score_predict:
    input:
        bundle=SCORE_BUNDLE,
        shards="results/score/shards",
    output:
        predictions="results/score/predictions/{model}.csv",
    log:
        f"{LOGS}/score/predict/{{model}}.log",
    conda:
        "../envs/train.yaml"
    threads: 8
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=120,
    params:
        train=TRAIN,
    script:
        "../scripts/bundle/score_predict.py"


rule score:
    input:
        videos="results/score/videos.csv",
        reports=score_batch_reports,
        predictions=expand("results/score/predictions/{model}.csv", model=SCORE_MEMBERS),
        bundle=SCORE_BUNDLE,
    output:
        scores="results/score/scores.csv",
    log:
        f"{LOGS}/score/score.log",
    conda:
        "../envs/ensemble.yaml"
    params:
        members=SCORE_MEMBERS,
    script:
        "../scripts/bundle/score.py"
