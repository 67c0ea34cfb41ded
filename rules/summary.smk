# Single models and ensembles side by side: the table, the figures and the
# answer to the study's question (evaluation.protocol pooled: trained on the
# pooled training set, tested on the pooled test set).


rule summarize:
    input:
        unpack(all_ensemble_files),
        unpack(demo_cue_table),
        val=predictions(POOLED, "val"),
        test=predictions(POOLED, "test"),
        sizes=model_files(POOLED, "size.json"),
        histories=model_files(POOLED, "history.csv"),
        starts=model_files(POOLED, "start.json"),
        val_split="results/splits/val.csv",
        test_split="results/splits/test.csv",
    output:
        csv=report(
            "results/summary.csv",
            caption="../report/summary.rst",
            category="4. Summary",
            labels={"table": "single models and ensembles"},
        ),
        md="results/summary.md",
        by_dataset=report(
            "results/summary_by_dataset.csv",
            caption="../report/by_dataset.rst",
            category="4. Summary",
            labels={"table": "per dataset"},
        ),
        roc=report(
            "results/figures/roc_all.png",
            caption="../report/roc_all.rst",
            category="4. Summary",
            labels={"figure": "ROC curves"},
        ),
        confusion=report(
            "results/figures/confusion_matrices.png",
            caption="../report/confusion.rst",
            category="4. Summary",
            labels={"figure": "confusion matrices"},
        ),
        weights=report(
            "results/figures/soft_voting_weights.png",
            caption="../report/weights.rst",
            category="3. Ensembles",
            labels={"figure": "soft-voting weights"},
        ),
        curves=report(
            "results/figures/training_curves.png",
            caption="../report/training_curve.rst",
            category="2. Single models",
            labels={"model": "all", "figure": "training curves"},
        ),
        by_cue=report(
            "results/summary_by_cue.csv",
            caption="../report/by_cue.rst",
            category="4. Summary",
            labels={"table": "detection by cue (demo)"},
        ),
        starts=report(
            "results/model_starts.csv",
            caption="../report/model_starts.rst",
            category="2. Single models",
            labels={"model": "all", "figure": "start-up table (weights loaded)"},
        ),
    log:
        f"{LOGS}/summarize.log",
    conda:
        "../envs/ensemble.yaml"
    params:
        models=MODELS,
        ensembles=ENSEMBLES,
        ensemble=config["ensemble"],
        evaluation=EVALUATION,
    script:
        "../scripts/summarize.py"
