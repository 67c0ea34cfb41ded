# The four single detectors share one training, one prediction and one
# evaluation path; they differ only by their registry entry and config.


rule train:
    input:
        train="results/shards/train",
        val="results/shards/val",
        # the files it starts from (rules/weights.smk fetches the backbones)
        weights=train_weights,
    output:
        best="results/models/{model}/best.pt",
        last="results/models/{model}/last.pt",
        history="results/models/{model}/history.csv",
        size_json="results/models/{model}/size.json",
        start="results/models/{model}/start.json",
        curve=report(
            "results/models/{model}/training_curve.png",
            caption="../report/training_curve.rst",
            category="2. Single models",
            subcategory="{model}",
            labels={"model": "{model}", "figure": "training curve"},
        ),
    log:
        f"{LOGS}/train/{{model}}.log",
    benchmark:
        f"{BENCHMARKS}/train/{{model}}.tsv"
    conda:
        "../envs/train.yaml"
    threads: 8
    resources:
        gpu=1,
        # host memory of a GPU job (loader workers included); the one place
        # it is set: a site overrides it in its profile's set-resources
        mem_mb=32000,
        runtime=1440,
    params:
        model_config=model_config,
        train=config["train"],
        seed=config["seed"],
        resume_dir="results/models/{model}/resume",
    script:
        "../scripts/train.py"


rule predict:
    input:
        checkpoint="results/models/{model}/best.pt",
        shards="results/shards/{split}",
    output:
        predictions="results/predictions/{model}/{split}.csv",
    log:
        f"{LOGS}/predict/{{model}}/{{split}}.log",
    conda:
        "../envs/train.yaml"
    threads: 8
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=120,
    params:
        train=config["train"],
    script:
        "../scripts/predict.py"
