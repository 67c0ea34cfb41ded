# The six stacked ensembles of the study plus a logistic-regression
# meta-learner, each fitted on validation predictions and tested on test.


rule ensemble:
    input:
        val=predictions(MODELS, ["val"]),
        test=predictions(MODELS, ["test"]),
        metrics=expand("results/metrics/{model}.json", model=MODELS),
        checkpoints=expand("results/models/{model}/best.pt", model=MODELS),
    output:
        metrics="results/ensembles/{ensemble}/metrics.json",
        members="results/ensembles/{ensemble}/members.json",
        weights="results/ensembles/{ensemble}/weights.json",
        test_frames="results/ensembles/{ensemble}/test_frames.csv",
        test_videos="results/ensembles/{ensemble}/test_videos.csv",
        val_frames="results/ensembles/{ensemble}/val_frames.csv",
        val_videos="results/ensembles/{ensemble}/val_videos.csv",
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
