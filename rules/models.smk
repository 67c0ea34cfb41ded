# The four single detectors share one training, one prediction and one
# evaluation path; they differ only by their registry entry and config.


rule train:
    input:
        train="results/shards/train",
        val="results/shards/val",
    output:
        best="results/models/{model}/best.pt",
        last="results/models/{model}/last.pt",
        history="results/models/{model}/history.csv",
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
        mem_mb=16000,
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
        "results/predictions/{model}/{split}.csv",
    log:
        f"{LOGS}/predict/{{model}}/{{split}}.log",
    conda:
        "../envs/train.yaml"
    threads: 8
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=120,
    params:
        train=config["train"],
    script:
        "../scripts/predict.py"


rule evaluate_model:
    input:
        val="results/predictions/{model}/val.csv",
        test="results/predictions/{model}/test.csv",
        checkpoint="results/models/{model}/best.pt",
    output:
        metrics="results/metrics/{model}.json",
        roc=report(
            "results/metrics/{model}_roc.png",
            caption="../report/roc_model.rst",
            category="2. Single models",
            subcategory="{model}",
            labels={"model": "{model}", "figure": "ROC curve (test)"},
        ),
    log:
        f"{LOGS}/evaluate_model/{{model}}.log",
    conda:
        "../envs/ensemble.yaml"
    script:
        "../scripts/evaluate_model.py"
