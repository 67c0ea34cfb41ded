# Metrics of each single detector in each cell of the matrix (training set,
# test set): on the test set's split lists and on its training set's
# validation split (every video of a split counts, with its group).


rule evaluate_model:
    input:
        val=prediction_file("{train_set}", "{model}", "val"),
        test=prediction_file("{train_set}", "{model}", "test"),
        size_json=model_file("{train_set}", "{model}", "size.json"),
        # every video of the split counts (no face: the evaluation.no_face policy)
        val_split="results/splits/val.csv",
        test_split="results/splits/test.csv",
    output:
        metrics=metrics_file("{train_set}", "{target}", "{model}"),
        roc=report(
            "results/metrics/{train_set}/{target}/{model}_roc.png",
            caption="../report/roc_model.rst",
            category="2. Single models",
            subcategory="{model}",
            labels={
                "model": "{model}",
                "figure": "ROC curve (trained on {train_set}, tested on {target})",
            },
        ),
    log:
        f"{LOGS}/evaluate_model/{{train_set}}/{{target}}/{{model}}.log",
    conda:
        "../envs/ensemble.yaml"
    params:
        evaluation=EVALUATION,
        train_datasets=lambda wildcards: TRAIN_SETS[wildcards.train_set],
        test_datasets=lambda wildcards: TEST_SETS[wildcards.target],
    script:
        "../scripts/evaluate_model.py"
