# The six ensembles of the study (best two / smallest two / all four, hard and
# soft voting), our variants of hard voting (tie-broken, members calibrated)
# and a logistic-regression meta-learner, each fitted on validation
# predictions (cross-fitted by group) and tested on test.


rule ensemble:
    input:
        val=predictions(MODELS, ["val"]),
        test=predictions(MODELS, ["test"]),
        metrics=expand("results/metrics/{model}.json", model=MODELS),
        # groups of the validation videos (cross-fitting folds); every video
        val_split="results/splits/val.csv",
        test_split="results/splits/test.csv",
    output:
        **ensemble_files(ensemble_dir("{ensemble}")),
    log:
        f"{LOGS}/ensemble/{{ensemble}}.log",
    benchmark:
        f"{BENCHMARKS}/ensemble/{{ensemble}}.tsv"
    conda:
        "../envs/ensemble.yaml"
    params:
        models=MODELS,
        ensemble=config["ensemble"],
        evaluation=config["evaluation"],
    script:
        "../scripts/ensemble.py"
