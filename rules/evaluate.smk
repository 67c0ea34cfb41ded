# Metrics of each single detector on val and test, from its predictions and
# the split lists (every video of a split counts, with its group).


rule evaluate_model:
    input:
        val="results/predictions/{model}/val.csv",
        test="results/predictions/{model}/test.csv",
        size_json="results/models/{model}/size.json",
        # every video of the split counts (no face: the evaluation.no_face policy)
        val_split="results/splits/val.csv",
        test_split="results/splits/test.csv",
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
    params:
        evaluation=config["evaluation"],
    script:
        "../scripts/evaluate_model.py"
