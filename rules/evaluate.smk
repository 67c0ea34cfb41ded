# Metrics of each single detector on val and test, from its predictions.


rule evaluate_model:
    input:
        val="results/predictions/{model}/val.csv",
        test="results/predictions/{model}/test.csv",
        size_json="results/models/{model}/size.json",
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
