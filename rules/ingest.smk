# Dataset roots -> one manifest -> train/val/test splits.


rule ingest:
    input:
        ingest_inputs,
    output:
        manifest="results/manifest/videos.csv",
    log:
        f"{LOGS}/ingest.log",
    conda:
        "../envs/preprocess.yaml"
    params:
        datasets=config["datasets"],
    script:
        "../scripts/ingest.py"


checkpoint split:
    input:
        manifest="results/manifest/videos.csv",
    output:
        train="results/splits/train.csv",
        val="results/splits/val.csv",
        test="results/splits/test.csv",
        counts=report(
            "results/splits/counts.csv",
            caption="../report/splits.rst",
            category="1. Data",
            labels={"table": "videos per split"},
        ),
        dropped="results/splits/dropped.csv",
        overlap=report(
            "results/splits/identity_overlap.csv",
            caption="../report/identity_overlap.rst",
            category="1. Data",
            labels={"table": "identity overlap of the test fakes"},
        ),
    log:
        f"{LOGS}/split.log",
    conda:
        "../envs/preprocess.yaml"
    params:
        split=config["split"],
    script:
        "../scripts/split.py"
