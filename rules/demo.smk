# The embedded synthetic demo dataset (DFDC layout), made from face photos that
# ship inside a PyPI package, so the workflow runs anywhere with no data.
# cues.csv records which cues each video carries (video ids as in the manifest).


rule generate_demo:
    input:
        wheel=DEMO_WHEEL,
    output:
        metadata="results/demo/metadata.json",
        cues="results/demo/cues.csv",
    log:
        f"{LOGS}/generate_demo.log",
    benchmark:
        f"{BENCHMARKS}/generate_demo.tsv"
    conda:
        "../envs/preprocess.yaml"
    threads: 1
    params:
        demo=config["demo"],
        datasets=config["datasets"],
    script:
        "../scripts/generate_demo.py"
