# The six ensembles of the study (best two / smallest two / all four, hard and
# soft voting), our variants of hard voting (tie-broken, members calibrated)
# and a logistic-regression meta-learner. Rule ensemble fits each on the
# validation predictions of one training set (cross-fitted by group) and
# reads nothing of any test split; rule ensemble_test applies the fit, as
# written to weights.json, to every test set.


rule ensemble:
    input:
        val=predictions("{train_set}", "val"),
        sizes=model_files("{train_set}", "size.json"),
        # groups of the validation videos (cross-fitting folds); every video
        val_split="results/splits/val.csv",
    output:
        **ensemble_fit_files(ensemble_dir("{train_set}", "{ensemble}")),
    log:
        f"{LOGS}/ensemble/{{train_set}}/{{ensemble}}.log",
    benchmark:
        f"{BENCHMARKS}/ensemble/{{train_set}}/{{ensemble}}.tsv"
    conda:
        "../envs/ensemble.yaml"
    params:
        models=MODELS,
        ensemble=config["ensemble"],
        evaluation=EVALUATION,
        train_datasets=lambda wildcards: TRAIN_SETS[wildcards.train_set],
    script:
        "../scripts/ensemble.py"


rule ensemble_test:
    input:
        **ensemble_fit_files(ensemble_dir("{train_set}", "{ensemble}")),
        test=predictions("{train_set}", "test"),
        val_split="results/splits/val.csv",
        test_split="results/splits/test.csv",
    output:
        metrics=[
            ensemble_test_file("{train_set}", "{ensemble}", t, "metrics")
            for t in TEST_SETS
        ],
        test_frames=[
            ensemble_test_file("{train_set}", "{ensemble}", t, "test_frames")
            for t in TEST_SETS
        ],
        test_videos=[
            ensemble_test_file("{train_set}", "{ensemble}", t, "test_videos")
            for t in TEST_SETS
        ],
    log:
        f"{LOGS}/ensemble_test/{{train_set}}/{{ensemble}}.log",
    conda:
        "../envs/ensemble.yaml"
    params:
        models=MODELS,
        test_sets=TEST_SETS,
        evaluation=EVALUATION,
        train_datasets=lambda wildcards: TRAIN_SETS[wildcards.train_set],
    script:
        "../scripts/ensemble_test.py"
