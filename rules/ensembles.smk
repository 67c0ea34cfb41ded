# The six stacked ensembles of the study plus a logistic-regression
# meta-learner, each fitted on validation predictions and tested on test.


rule ensemble:
    input:
        val=predictions(MODELS, ["val"]),
        test=predictions(MODELS, ["test"]),
        metrics=expand("results/metrics/{model}.json", model=MODELS),
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
    script:
        "../scripts/ensemble.py"
