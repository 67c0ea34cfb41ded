# Frame sampling and face cropping, a batch of videos of one dataset per job
# (each video is processed, cached and reported on its own), packed into HDF5
# shards per dataset and split, so that a training set reads exactly the
# shards of its datasets.


rule preprocess_batch:
    input:
        split="results/splits/{split}.csv",
    output:
        report=batch_report("{dataset}", "{split}", "{batch}"),
    log:
        f"{LOGS}/preprocess/{{dataset}}/{{split}}/batch-{{batch}}.log",
    group:
        "preprocess"
    conda:
        "../envs/preprocess.yaml"
    threads: 1
    resources:
        # peak RSS of one job on a 20 s 720p clip: 305 MB
        # (benchmarks/job_memory.py); headroom for 1080p and longer videos
        mem_mb=800,
        runtime=120,
    params:
        preprocess=config["preprocess"],
        cache_dir="results/faces",
    script:
        "../scripts/preprocess/preprocess_batch.py"


rule pack_shards:
    input:
        reports=batch_reports,
    output:
        shards=directory(shard_dir("{dataset}", "{split}")),
    log:
        f"{LOGS}/pack_shards/{{dataset}}/{{split}}.log",
    benchmark:
        f"{BENCHMARKS}/pack_shards/{{dataset}}/{{split}}.tsv"
    conda:
        "../envs/preprocess.yaml"
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        preprocess=config["preprocess"],
    script:
        "../scripts/preprocess/pack_shards.py"


rule preprocess_report:
    input:
        reports=all_batch_reports,
        shards=[shard_dir(d, s) for d in DATASETS for s in SPLITS],
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
    log:
        f"{LOGS}/preprocess_report.log",
    conda:
        "../envs/preprocess.yaml"
    params:
        seed=config["seed"],
    script:
        "../scripts/preprocess/preprocess_report.py"


# The robustness stage (evaluation.robustness): each condition (a perturbation
# at a severity) is a degraded copy of the test videos, preprocessed with the
# same settings and rules' code as the clean ones (the per-video cache is
# keyed by the file, so copies never hit the clean videos' entries).


rule degrade_test:
    input:
        split="results/splits/test.csv",
    output:
        split=f"{robust_dir('{condition}')}/test.csv",
        videos=directory(f"{robust_dir('{condition}')}/videos"),
    log:
        f"{LOGS}/degrade_test/{{condition}}.log",
    benchmark:
        f"{BENCHMARKS}/degrade_test/{{condition}}.tsv"
    conda:
        "../envs/preprocess.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        seed=ROBUSTNESS["seed"],
    script:
        "../scripts/preprocess/degrade_test.py"


use rule preprocess_batch as robust_preprocess with:
    input:
        split=f"{robust_dir('{condition}')}/test.csv",
    output:
        report=f"{robust_dir('{condition}')}/preprocess/{{dataset}}/{{split}}/batch-{{batch}}.csv",
    log:
        f"{LOGS}/robust_preprocess/{{condition}}/{{dataset}}/{{split}}/batch-{{batch}}.log",
    benchmark:
        f"{BENCHMARKS}/robust_preprocess/{{condition}}/{{dataset}}/{{split}}/batch-{{batch}}.tsv"


use rule pack_shards as robust_shards with:
    input:
        reports=robust_batch_reports,
    output:
        shards=directory(robust_shard_dir("{condition}", "{dataset}", "{split}")),
    log:
        f"{LOGS}/robust_shards/{{condition}}/{{dataset}}/{{split}}.log",
    benchmark:
        f"{BENCHMARKS}/robust_shards/{{condition}}/{{dataset}}/{{split}}.tsv"
