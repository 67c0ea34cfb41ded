"""Rule robustness: every member and ensemble on the degraded test sets."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.evaluate.jobs import robustness
from deepfake_ensemble.layout import CLEAN
from deepfake_ensemble.workflow import rule_job

with rule_job(snakemake):
    p, i = snakemake.params, snakemake.input
    models, roles = list(p.models), list(p.fit_roles)
    degraded = iter(i.degraded)
    test_csvs = {CLEAN: dict(zip(models, i.clean, strict=True))}
    for condition in p.conditions:
        test_csvs[condition] = {m: next(degraded) for m in models}
    fits = iter(i.fits)
    robustness(
        val_csvs=dict(zip(models, i.val, strict=True)),
        test_csvs=test_csvs,
        fits={e: {r: next(fits) for r in roles} for e in p.ensembles},
        datasets=list(p.datasets),
        val_split=i.val_split,
        test_split=i.test_split,
        outputs=dict(snakemake.output.items()),
        cfg=dict(p.ensemble),
        evaluation=dict(p.evaluation),
    )
