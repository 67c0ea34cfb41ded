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
        "../scripts/cross_dataset.py"
