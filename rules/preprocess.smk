# Frame sampling and face cropping, a batch of videos per job (each video is
# processed, cached and reported on its own), packed into HDF5 shards per split.


rule preprocess_batch:
    input:
        "results/splits/{split}.csv",
    output:
        "results/preprocess/{split}/batch-{batch}.csv",
    params:
        preprocess=config["preprocess"],
        cache_dir="results/faces",
    log:
        f"{LOGS}/preprocess/{{split}}/batch-{{batch}}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    group:
        "preprocess"
    conda:
        "../envs/preprocess.yaml"
    script:
        "../scripts/preprocess_batch.py"


rule pack_shards:
    input:
        batch_reports,
    output:
        directory("results/shards/{split}"),
    params:
        preprocess=config["preprocess"],
    log:
        f"{LOGS}/pack_shards/{{split}}.log",
    benchmark:
        f"{BENCHMARKS}/pack_shards/{{split}}.tsv"
    resources:
        mem_mb=4000,
        runtime=240,
    conda:
        "../envs/preprocess.yaml"
    script:
        "../scripts/pack_shards.py"


rule preprocess_report:
    input:
        reports=all_batch_reports,
        shards=expand("results/shards/{split}", split=SPLITS),
    output:
        report="results/preprocess/report.csv",
        summary=report(
            "results/preprocess/summary.csv",
            caption="../report/preprocess.rst",
            category="1. Data",
            labels={"table": "preprocessing summary"},
        ),
        contact_sheet=report(
            "results/preprocess/contact_sheet.png",
            caption="../report/contact_sheet.rst",
            category="1. Data",
            labels={"figure": "sampled face and eye crops"},
        ),
    params:
        seed=config["seed"],
    log:
        f"{LOGS}/preprocess_report.log",
    conda:
        "../envs/preprocess.yaml"
    script:
        "../scripts/preprocess_report.py"
