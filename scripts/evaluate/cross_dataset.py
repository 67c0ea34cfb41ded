"""Rule cross_dataset: the matrix of every training set and test set."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from deepfake_ensemble.evaluate.jobs import cross_dataset
from deepfake_ensemble.workflow import rule_job

p = snakemake.params
single = [tuple(k) for k in p.single_keys]  # (training set, model)
fitted = [tuple(k) for k in p.ensemble_keys]  # (training set, ensemble)
applied = [tuple(k) for k in p.test_keys]  # (training set, ensemble, test set)
with rule_job(snakemake):
    cross_dataset(
        protocol=p.protocol,
        train_sets={t: list(ds) for t, ds in p.train_sets.items()},
        test_sets={s: list(ds) for s, ds in p.test_sets.items()},
        val_csvs=dict(zip(single, snakemake.input.val, strict=True)),
        test_csvs=dict(zip(single, snakemake.input.test, strict=True)),
        members_jsons=dict(zip(fitted, snakemake.input.members, strict=True)),
        val_frames=dict(zip(fitted, snakemake.input.val_frames, strict=True)),
        test_frames=dict(zip(applied, snakemake.input.test_frames, strict=True)),
        val_split=snakemake.input.val_split,
        test_split=snakemake.input.test_split,
        outputs={k: snakemake.output[k] for k in ("csv", "md", "drop", "members")},
        heatmaps=dict(zip(p.names, snakemake.output.heatmaps, strict=True)),
        cfg=dict(p.ensemble),
        evaluation=dict(p.evaluation),
    )
