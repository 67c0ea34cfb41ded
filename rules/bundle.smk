# The trained members and ensembles as one checked folder, for scoring new
# videos (`deepfake-ensemble score`, rules/score.smk): checkpoints (weights
# only), fitted ensemble parameters and validation thresholds, preprocessing
# settings, versions, a model card and a manifest of SHA-256 hashes.
# Input functions: rules/common.smk (bundle and scoring).


rule export:
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
        f"{LOGS}/export.log",
    conda:
        "../envs/train.yaml"
    params:
        models=MODELS,
        ensembles=ENSEMBLES,
        ensemble_roles=BUNDLE_ENSEMBLE_ROLES,
        split=config["split"],
        datasets=config["datasets"],
        evaluation=config["evaluation"],
        video_timeout_s=config["preprocess"]["video_timeout_s"],
    script:
        "../scripts/export.py"
