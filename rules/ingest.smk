# The embedded synthetic demo dataset (DFDC layout), made from face photos that
# ship inside a PyPI package, so the workflow runs anywhere with no data; and
# the further demo datasets of demo.extra (another manipulation method, in
# another layout: config/demo_cross.yaml). cues.csv records which cues each
# video carries (video ids as in the manifest), for every demo dataset.


rule generate_demo:
    input:
        wheel=DEMO_WHEEL,
    output:
        metadata="results/demo/metadata.json",
        cues="results/demo/cues.csv",
        # metadata.json or videos.csv of each extra dataset, written last
        extra=demo_extra_markers(),
    log:
        f"{LOGS}/generate_demo.log",
    benchmark:
        f"{BENCHMARKS}/generate_demo.tsv"
    conda:
        "../envs/preprocess.yaml"
    # threads writing videos (the same files for any number)
    threads: 4
    params:
        demo=config["demo"],
        datasets=config["datasets"],
    script:
        "../scripts/ingest/generate_demo.py"


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
        "../scripts/ingest/ingest.py"


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
        "../scripts/ingest/split.py"
