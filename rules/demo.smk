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
        "../scripts/generate_demo.py"
