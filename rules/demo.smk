# The embedded synthetic demo dataset (DFDC layout), made from face photos that
# ship inside a PyPI package, so the workflow runs anywhere with no data.


rule generate_demo:
    input:
        wheel=DEMO_WHEEL,
    output:
        "results/demo/metadata.json",
    params:
        demo=config["demo"],
    log:
        f"{LOGS}/generate_demo.log",
    benchmark:
        f"{BENCHMARKS}/generate_demo.tsv"
    threads: 1
    conda:
        "../envs/preprocess.yaml"
    script:
        "../scripts/generate_demo.py"
