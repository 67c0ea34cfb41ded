# Metrics of each single detector in each cell of the matrix (training set,
# test set): on the test set's split lists and on its training set's
# validation split (every video of a split counts, with its group); one job
# per detector and training set covers every test set.


rule evaluate_model:
    input:
        val=prediction_file("{train_set}", "{model}", "val"),
        test=prediction_file("{train_set}", "{model}", "test"),
        size_json=model_file("{train_set}", "{model}", "size.json"),
        # every video of the split counts (no face: the evaluation.no_face policy)
        val_split="results/splits/val.csv",
        test_split="results/splits/test.csv",
    output:
        metrics=[metrics_file("{train_set}", t, "{model}") for t in TEST_SETS],
        roc=[
            report(
                f"results/metrics/{{train_set}}/{t}/{{model}}_roc.png",
                caption="../report/roc_model.rst",
                category="2. Single models",
                subcategory="{model}",
                labels={
                    "model": "{model}",
                    "figure": f"ROC curve (trained on {{train_set}}, tested on {t})",
                },
            )
            for t in TEST_SETS
        ],
    log:
        f"{LOGS}/evaluate_model/{{train_set}}/{{model}}.log",
    conda:
        "../envs/ensemble.yaml"
    params:
        evaluation=EVALUATION,
        train_datasets=lambda wildcards: TRAIN_SETS[wildcards.train_set],
        test_sets=TEST_SETS,
    script:
        "../scripts/evaluate/evaluate_model.py"


# The six ensembles of the study (best two / smallest two / all four, hard and
# soft voting), our variants of hard voting (tie-broken, members calibrated)
# and a logistic-regression meta-learner, over the study's four. Rule ensemble
# fits every one of them on the validation predictions of one training set
# (cross-fitted by group) and reads nothing of any test split; rule
# ensemble_test applies the fits, as written to weights.json, to every test
# set. A fit takes seconds next to a detector's training, so one job fits them
# all (each fit reads its own members' predictions and seeds its own
# generator: it does not depend on the others). On a cluster the two are one
# job (group `ensemble`): a training set's fits and their application are
# submitted together instead of queueing twice (profiles/slurm/config.yaml).
# Either way the fit reads no test file; run locally, the group changes nothing.


rule ensemble:
    input:
        val=predictions("{train_set}", "val", ENSEMBLE_MEMBERS),
        sizes=model_files("{train_set}", "size.json", ENSEMBLE_MEMBERS),
        # groups of the validation videos (cross-fitting folds); every video
        val_split="results/splits/val.csv",
    output:
        **ensemble_fit_outputs("{train_set}", STUDY_ENSEMBLES),
    log:
        f"{LOGS}/ensemble/{{train_set}}.log",
    benchmark:
        f"{BENCHMARKS}/ensemble/{{train_set}}.tsv"
    group:
        "ensemble"
    conda:
        "../envs/ensemble.yaml"
    params:
        models=ENSEMBLE_MEMBERS,
        members={e: ensemble_models(e) for e in STUDY_ENSEMBLES},
        ensemble=config["ensemble"],
        evaluation=EVALUATION,
        train_datasets=lambda wildcards: TRAIN_SETS[wildcards.train_set],
    script:
        "../scripts/evaluate/ensemble.py"


rule ensemble_test:
    input:
        **ensemble_fit_outputs("{train_set}", STUDY_ENSEMBLES),
        test=predictions("{train_set}", "test", ENSEMBLE_MEMBERS),
        val_split="results/splits/val.csv",
        test_split="results/splits/test.csv",
    output:
        **ensemble_test_outputs("{train_set}", STUDY_ENSEMBLES),
    log:
        f"{LOGS}/ensemble_test/{{train_set}}.log",
    group:
        "ensemble"
    conda:
        "../envs/ensemble.yaml"
    params:
        models=ENSEMBLE_MEMBERS,
        ensembles=STUDY_ENSEMBLES,
        test_sets=TEST_SETS,
        evaluation=EVALUATION,
        train_datasets=lambda wildcards: TRAIN_SETS[wildcards.train_set],
    script:
        "../scripts/evaluate/ensemble_test.py"


# Where the config declares members beyond the study's four: the ensembles
# over every member (best three / all, hard and soft voting, stacked:
# layout.MEMBER_ENSEMBLES), fitted and applied by jobs of their own, so that
# declaring a member leaves the study's ensemble jobs as they were.
if EVERY_MEMBER_ENSEMBLES:

    use rule ensemble as ensemble_every_member with:
        input:
            val=predictions("{train_set}", "val"),
            sizes=model_files("{train_set}", "size.json"),
            val_split="results/splits/val.csv",
        output:
            **ensemble_fit_outputs("{train_set}", EVERY_MEMBER_ENSEMBLES),
        log:
            f"{LOGS}/ensemble_every_member/{{train_set}}.log",
        benchmark:
            f"{BENCHMARKS}/ensemble_every_member/{{train_set}}.tsv"
        params:
            models=MODELS,
            members={e: ensemble_models(e) for e in EVERY_MEMBER_ENSEMBLES},
            ensemble=config["ensemble"],
            evaluation=EVALUATION,
            train_datasets=lambda wildcards: TRAIN_SETS[wildcards.train_set],

    use rule ensemble_test as ensemble_every_member_test with:
        input:
            **ensemble_fit_outputs("{train_set}", EVERY_MEMBER_ENSEMBLES),
            test=predictions("{train_set}", "test"),
            val_split="results/splits/val.csv",
            test_split="results/splits/test.csv",
        output:
            **ensemble_test_outputs("{train_set}", EVERY_MEMBER_ENSEMBLES),
        log:
            f"{LOGS}/ensemble_every_member_test/{{train_set}}.log",
        params:
            models=MODELS,
            ensembles=EVERY_MEMBER_ENSEMBLES,
            test_sets=TEST_SETS,
            evaluation=EVALUATION,
            train_datasets=lambda wildcards: TRAIN_SETS[wildcards.train_set],


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
        "../scripts/evaluate/summarize.py"


# The cross-dataset matrix (evaluation.protocol cross_dataset or
# leave_one_out): every detector and ensemble, trained on each training set
# and tested on each test set; the in-domain / cross-domain drop; and whether
# an ensemble generalises better than its best member.

CROSS_NAMES = [*MODELS, *ENSEMBLES]


rule cross_dataset:
    input:
        val=[prediction_file(t, m, "val") for t in TRAIN_SETS for m in MODELS],
        test=[prediction_file(t, m, "test") for t in TRAIN_SETS for m in MODELS],
        members=[
            ensemble_fit_files(ensemble_dir(t, e))["members"]
            for t in TRAIN_SETS
            for e in ENSEMBLES
        ],
        val_frames=[
            ensemble_fit_files(ensemble_dir(t, e))["val_frames"]
            for t in TRAIN_SETS
            for e in ENSEMBLES
        ],
        test_frames=[
            ensemble_test_file(t, e, s, "test_frames")
            for t in TRAIN_SETS
            for e in ENSEMBLES
            for s in TEST_SETS
        ],
        val_split="results/splits/val.csv",
        test_split="results/splits/test.csv",
    output:
        csv=report(
            "results/cross_dataset.csv",
            caption="../report/cross_dataset.rst",
            category="5. Cross-dataset",
            labels={"item": "matrix: train set x test set x detector/ensemble"},
        ),
        md=report(
            "results/cross_dataset.md",
            caption="../report/cross_summary.rst",
            category="5. Cross-dataset",
            labels={"item": "summary: does the ensemble generalise better?"},
        ),
        drop=report(
            "results/cross_dataset_drop.csv",
            caption="../report/cross_drop.rst",
            category="5. Cross-dataset",
            labels={"item": "in-domain AUC, cross-domain AUC, drop (ranked)"},
        ),
        members=report(
            "results/cross_dataset_members.csv",
            caption="../report/cross_members.rst",
            category="5. Cross-dataset",
            labels={"item": "ensembles against their best member"},
        ),
        heatmaps=[
            report(
                f"results/figures/cross_dataset/{name}.png",
                caption="../report/cross_heatmap.rst",
                category="5. Cross-dataset",
                labels={"item": f"heatmap: {name}"},
            )
            for name in CROSS_NAMES
        ],
    log:
        f"{LOGS}/cross_dataset.log",
    conda:
        "../envs/ensemble.yaml"
    params:
        protocol=PROTOCOL,
        train_sets=TRAIN_SETS,
        test_sets=TEST_SETS,
        names=CROSS_NAMES,
        single_keys=[[t, m] for t in TRAIN_SETS for m in MODELS],
        ensemble_keys=[[t, e] for t in TRAIN_SETS for e in ENSEMBLES],
        test_keys=[[t, e, s] for t in TRAIN_SETS for e in ENSEMBLES for s in TEST_SETS],
        ensemble=config["ensemble"],
        evaluation=EVALUATION,
    script:
        "../scripts/evaluate/cross_dataset.py"


# The robustness stage (evaluation.robustness): every member and ensemble on
# each degraded copy of the test set, the ensembles applied with the weights
# and thresholds fitted on clean validation (nothing refitted); the AUC drop
# from clean, and whether the chosen ensemble's drop is smaller than its best
# member's.


rule robustness:
    input:
        val=predictions(POOLED, "val"),
        clean=predictions(POOLED, "test"),
        degraded=[
            f"{robust_dir(c)}/predictions/{m}.csv" for c in CONDITIONS for m in MODELS
        ],
        fits=[
            ensemble_fit_files(ensemble_dir(POOLED, e))[role]
            for e in ENSEMBLES
            for role in ROBUSTNESS_FIT_ROLES
        ],
        val_split="results/splits/val.csv",
        test_split="results/splits/test.csv",
    output:
        csv=report(
            "results/robustness.csv",
            caption="../report/robustness.rst",
            category="6. Robustness",
            labels={"item": "AUC per detector/ensemble x perturbation x severity"},
        ),
        md=report(
            "results/robustness.md",
            caption="../report/robustness.rst",
            category="6. Robustness",
            labels={"item": "summary: is the ensemble's drop smaller?"},
        ),
        drop=report(
            "results/robustness_drop.csv",
            caption="../report/robustness.rst",
            category="6. Robustness",
            labels={"item": "mean AUC drop from clean (ranked)"},
        ),
        tests=report(
            "results/robustness_tests.csv",
            caption="../report/robustness.rst",
            category="6. Robustness",
            labels={"item": "chosen ensemble vs best member: drop tests"},
        ),
        figure=report(
            "results/figures/robustness.png",
            caption="../report/robustness_figure.rst",
            category="6. Robustness",
            labels={"item": "figure: AUC against severity"},
        ),
    log:
        f"{LOGS}/robustness.log",
    benchmark:
        f"{BENCHMARKS}/robustness.tsv"
    conda:
        "../envs/ensemble.yaml"
    params:
        models=MODELS,
        ensembles=ENSEMBLES,
        conditions=CONDITIONS,
        fit_roles=ROBUSTNESS_FIT_ROLES,
        datasets=TEST_DATASETS,
        ensemble=config["ensemble"],
        evaluation=EVALUATION,
    script:
        "../scripts/evaluate/robustness.py"
