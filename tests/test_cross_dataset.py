"""Cross-dataset generalisation (evaluation.protocol): the training sets and
test sets of each protocol, the DAG they make (one training job per training
set and model, no test split upstream of any training or ensemble fit), the
matrix and its statistics, the second demo dataset, and the tiny two-dataset
demo end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import CI_CONFIG, ROOT, SNAKEMAKE_ENV, demo_threads, snakemake

from deepfake_ensemble.errors import InputError
from deepfake_ensemble.evaluate import cross_dataset as crossdomain
from deepfake_ensemble.ingest.synthetic import synthetic_manifest, write_split_tree
from deepfake_ensemble.layout import ENSEMBLE_NAMES, MODEL_NAMES
from deepfake_ensemble.protocols import (
    cells,
    in_domain,
    target_datasets,
    target_sets,
    train_sets,
)

DATASETS = ["celebdf", "dfd", "dfdc"]


# ---------------------------------------------------------------- protocols


def test_protocols_name_training_and_test_sets():
    assert train_sets("pooled", DATASETS) == {"pooled": tuple(DATASETS)}
    assert target_sets("pooled", DATASETS) == {"pooled": tuple(DATASETS)}
    assert train_sets("cross_dataset", DATASETS) == {d: (d,) for d in DATASETS}
    assert target_sets("cross_dataset", DATASETS) == {d: (d,) for d in DATASETS}
    assert train_sets("leave_one_out", DATASETS) == {
        "without_celebdf": ("dfd", "dfdc"),
        "without_dfd": ("celebdf", "dfdc"),
        "without_dfdc": ("celebdf", "dfd"),
    }
    assert target_datasets(target_sets("leave_one_out", DATASETS)) == tuple(DATASETS)
    loo = cells(
        train_sets("leave_one_out", DATASETS), target_sets("leave_one_out", DATASETS)
    )
    # each training set has exactly one cross-domain target: the one left out
    assert [(t, s) for t, s, inside in loo if not inside] == [
        (f"without_{d}", d) for d in DATASETS
    ]
    assert in_domain(("a", "b"), ("a",)) and not in_domain(("a",), ("a", "b"))


@pytest.mark.parametrize("protocol", ["cross_dataset", "leave_one_out"])
def test_cross_protocols_need_two_datasets(protocol):
    with pytest.raises(InputError, match="at least two datasets"):
        train_sets(protocol, ["only"])
    with pytest.raises(InputError, match="not one of"):
        train_sets("pooled_", DATASETS)


# ---------------------------------------------------------------- the DAG


def dag_of(workdir: Path, protocol: str) -> list[dict]:
    """The planned jobs (tests/dag_jobs.py) of three datasets under
    ``protocol``, from a synthetic manifest and split."""
    manifest = pd.concat(
        [synthetic_manifest(60, d) for d in DATASETS], ignore_index=True
    )
    write_split_tree(workdir, manifest, seed=1)
    overlay = workdir / "overlay.yaml"
    overlay.write_text(
        "demo: {generate: false}\n"
        "datasets:\n"
        + "".join(
            f"  - {{name: {d}, layout: dfdc, root: /data/{d}}}\n" for d in DATASETS
        )
        + f"evaluation: {{protocol: {protocol}}}\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "dag_jobs.py"),
            str(workdir),
            str(ROOT / "config" / "config.yaml"),
            str(overlay),
        ],
        capture_output=True,
        text=True,
        env=SNAKEMAKE_ENV,
        timeout=600,
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def ancestors(jobs: list[dict], job: dict) -> list[dict]:
    """``job`` and every job it depends on, directly or not."""
    by_id = {j["id"]: j for j in jobs}
    seen, todo = {job["id"]}, [job["id"]]
    while todo:
        for dep in by_id[todo.pop()]["deps"]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return [by_id[i] for i in sorted(seen)]


def is_test_file(dataset: str, path: str) -> bool:
    """Whether ``path`` holds (or derives from) test videos of ``dataset``:
    its test shards and batches, the test split list, test predictions (they
    cover every test dataset), ensembles applied to a test set, metrics."""
    return (
        path.startswith(
            (f"results/shards/{dataset}/test", f"results/preprocess/{dataset}/test/")
        )
        or path == "results/splits/test.csv"
        or (path.startswith("results/predictions/") and path.endswith("/test.csv"))
        or (path.startswith("results/ensembles/") and "/test/" in path)
        or path.startswith("results/metrics/")
    )


EXPECTED_TRAIN_SETS = {
    "pooled": {"pooled": DATASETS},
    "cross_dataset": {d: [d] for d in DATASETS},
    "leave_one_out": {
        f"without_{d}": [x for x in DATASETS if x != d] for d in DATASETS
    },
}


@pytest.mark.parametrize("protocol", ["pooled", "cross_dataset", "leave_one_out"])
def test_dag_trains_each_pair_once_and_never_reads_a_target_test_split(
    protocol, tmp_path
):
    jobs = dag_of(tmp_path, protocol)
    expected = EXPECTED_TRAIN_SETS[protocol]
    train = [j for j in jobs if j["rule"] == "train"]
    # 3 x 4 for cross_dataset and leave_one_out, 1 x 4 pooled; none twice
    assert len(train) == len(expected) * len(MODEL_NAMES)
    assert sorted(
        (j["wildcards"]["train_set"], j["wildcards"]["model"]) for j in train
    ) == sorted((t, m) for t in expected for m in MODEL_NAMES)
    for j in train:
        datasets = expected[j["wildcards"]["train_set"]]
        # its declared inputs are exactly the data it reads
        assert set(j["input"]) == {
            f"results/shards/{d}/{s}" for d in datasets for s in ("train", "val")
        }
    # one job per training set fits every ensemble
    fits = [j for j in jobs if j["rule"] == "ensemble"]
    assert len(fits) == len(expected)
    for job in fits:
        assert list(job["members"]) == list(ENSEMBLE_NAMES)
        assert {
            f"results/ensembles/{job['wildcards']['train_set']}/{name}/members.json"
            for name in ENSEMBLE_NAMES
        } <= set(job["output"])
    targets = [d for d in DATASETS] if protocol != "pooled" else ["pooled"]
    n_out_of_domain = 0
    for job in train + fits:
        t = job["wildcards"]["train_set"]
        upstream = ancestors(jobs, job)
        files = {f for j in upstream for f in j["input"]}
        # no test split of any dataset upstream of a training or an ensemble fit
        assert not [f for f in files if any(is_test_file(d, f) for d in DATASETS)]
        # in particular not of the targets it is evaluated on out of domain,
        # and those evaluations exist: the edge check above is not vacuous
        for target in targets:
            if target == "pooled" or target in expected[t]:
                continue
            assert not [f for f in files if is_test_file(target, f)]
            if job["rule"] == "train":
                model = job["wildcards"]["model"]
                # one evaluation job per training set and model, every target
                evaluation = [
                    j
                    for j in jobs
                    if j["rule"] == "evaluate_model"
                    and j["wildcards"] == {"train_set": t, "model": model}
                ]
                assert len(evaluation) == 1
                assert (
                    f"results/metrics/{t}/{target}/{model}.json"
                    in (evaluation[0]["output"])
                )
                assert job in ancestors(jobs, evaluation[0])
                n_out_of_domain += 1
                assert f"results/shards/{target}/test" in {
                    f for j in ancestors(jobs, evaluation[0]) for f in j["input"]
                }
            else:
                applied = [
                    j
                    for j in jobs
                    if j["rule"] == "ensemble_test"
                    and j["wildcards"] == job["wildcards"]
                ]
                assert len(applied) == 1 and job["id"] in applied[0]["deps"]
                for name in job["members"]:
                    assert (
                        f"results/ensembles/{t}/{name}/test/{target}/metrics.json"
                        in applied[0]["output"]
                    )
                    n_out_of_domain += 1
    if protocol == "pooled":
        assert n_out_of_domain == 0
    else:
        # cross_dataset: 2 foreign targets per training set; leave_one_out: 1
        per_set = 2 if protocol == "cross_dataset" else 1
        assert n_out_of_domain == per_set * len(expected) * (
            len(MODEL_NAMES) + len(ENSEMBLE_NAMES)
        )
    # preprocessing: one batch job per dataset, split and batch, never twice
    batches = [j["output"][0] for j in jobs if j["rule"] == "preprocess_batch"]
    assert len(batches) == len(set(batches)) == 3 * 5
    gpu = [j for j in jobs if j["rule"] in ("train", "predict")]
    # train (which writes the val predictions) and predict on test
    assert len(gpu) == 2 * len(train)
    assert all(
        j["output"][0].endswith("/test.csv") for j in gpu if j["rule"] == "predict"
    )


# ---------------------------------------------------------------- the matrix


def _frames(ids, labels, scores):
    return pd.DataFrame(
        {"video_id": ids, "frame_index": 0, "label": labels, "score": scores}
    )


def _split(ids, labels, groups):
    return pd.DataFrame(
        {
            "video_id": ids,
            "label": labels,
            "group": groups,
            "dataset": [i.split("/")[0] for i in ids],
        }
    )


def toy_cells(seed: int = 0):
    """Two datasets of 40 videos (20 groups) in val and test. Detector
    ``frame`` sees a cue only dataset a has (and learns it only when trained
    on a), ``blink`` one both have; the ensemble ``mix`` averages them."""
    rng = np.random.default_rng(seed)
    out = {}
    for split in ("val", "test"):
        ids, labels, groups = [], [], []
        for ds in ("a", "b"):
            for g in range(20):
                for y in (0, 1):
                    ids.append(f"{ds}/{split}{g}_{y}")
                    labels.append(y)
                    groups.append(f"{ds}/{split}{g}")
        out[split] = (np.array(ids), np.array(labels), np.array(groups))
    scores = {}
    for t in ("a", "b"):
        entry = {}
        for name in ("frame", "blink", "mix"):
            per_split = {}
            for split in ("val", "test"):
                ids, y, _ = out[split]
                ds = np.array([i[0] for i in ids])
                # only trained on a does the frame detector learn a's cue
                learnt = 0.8 * y if t == "a" else 0.0 * y
                frame = np.where(ds == "a", learnt, 0.0) + 0.3 * rng.random(len(y))
                blink = 0.25 * y + 0.5 * rng.random(len(y))
                s = {"frame": frame, "blink": blink, "mix": (frame + blink) / 2}[name]
                per_split[split] = _frames(ids, y, np.clip(s, 0, 1))
            entry[name] = per_split
        for name, per_split in entry.items():
            scores[(t, name)] = {
                "kind": "ensemble" if name == "mix" else "single",
                "members": ["blink", "frame"] if name == "mix" else [name],
                "val": per_split["val"],
                "test": {"a": per_split["test"], "b": per_split["test"]},
            }
    splits = {s: _split(*out[s]) for s in out}
    return scores, splits


def test_matrix_drop_table_and_best_member_comparison():
    scores, splits = toy_cells()
    sets = {"a": ("a",), "b": ("b",)}
    matrix, tables, val_metrics = crossdomain.build_matrix(
        "cross_dataset",
        sets,
        sets,
        scores,
        splits["val"],
        splits["test"],
        {"bootstrap": 200, "seed": 1},
    )
    assert len(matrix) == 2 * 2 * 3
    assert matrix.groupby("name").size().eq(4).all()
    assert set(
        matrix.loc[matrix["in_domain"], "train_set"]
        + matrix.loc[matrix["in_domain"], "test_set"]
    ) == {"aa", "bb"}
    row = matrix[
        (matrix["name"] == "frame")
        & (matrix["train_set"] == "a")
        & (matrix["test_set"] == "a")
    ].iloc[0]
    assert row["video_auc"] > 0.95 and row["n_videos"] == 40 and row["n_groups"] == 20
    assert row["video_auc_ci_lo"] <= row["video_auc"] <= row["video_auc_ci_hi"]
    assert 0 <= row["accuracy_at_val_threshold"] <= 1
    # the frame cue is absent from b: its cross-domain AUC falls to chance
    cross = matrix[
        (matrix["name"] == "frame")
        & (matrix["train_set"] == "a")
        & (matrix["test_set"] == "b")
    ].iloc[0]
    assert cross["video_auc"] < 0.75
    drop = crossdomain.drop_table(matrix)
    assert list(drop["rank"]) == [1, 2, 3]
    assert drop["cross_domain_auc"].is_monotonic_decreasing
    frame = drop[drop["name"] == "frame"].iloc[0]
    assert frame["drop"] == pytest.approx(
        frame["in_domain_auc"] - frame["cross_domain_auc"]
    )
    assert frame["drop"] > 0.2
    comparisons = crossdomain.member_comparisons(
        matrix,
        tables,
        {(t, "mix"): ["blink", "frame"] for t in ("a", "b")},
        val_metrics,
        splits["test"],
        sets,
        {"bootstrap": 200, "seed": 1},
    )
    assert len(comparisons) == 4
    cross = comparisons[~comparisons["in_domain"]]
    # trained on a, the best member on a's validation is the frame detector,
    # which fails on b: the ensemble beats it there, significantly
    a_to_b = cross[cross["train_set"] == "a"].iloc[0]
    assert a_to_b["best_member"] == "frame"
    assert a_to_b["diff"] > 0 and a_to_b["verdict"] == "better"
    assert (cross["grouped_p_holm"] >= cross["grouped_p"]).all()
    # one Holm family over every ensemble's cross-domain comparisons
    np.testing.assert_allclose(
        cross["grouped_p_holm"], crossdomain.holm(list(cross["grouped_p"]))
    )
    assert cross["power"].between(0, 1).all()
    per = crossdomain.ensemble_vs_members(comparisons, drop)
    assert crossdomain.choose_best_ensemble(per) == "mix"
    text = crossdomain.answer("mix", per, comparisons)
    assert "`mix`" in text and "tested on `b`" in text
    # the yes/no is the tests': better in a cell, worse in none
    n_better = int((cross["verdict"] == "better").sum())
    assert (n_better > 0 and (cross["verdict"] != "worse").all()) == (
        "**yes**: significantly better in" in text
    )
    assert "Descriptive, untested: mean cross-domain video AUC" in text
    # where no cell differs, the answer says how many lacked the power to tell
    untold = comparisons.assign(
        verdict=np.where(comparisons["in_domain"], "better", "inconclusive")
    )
    text = crossdomain.answer("mix", per, untold)
    n_cross = int((~comparisons["in_domain"]).sum())
    assert (
        f"**not shown**: no significant difference ({n_cross} inconclusive, "
        f"too little power) in any of its {n_cross} cross-domain cell(s)"
    ) in text


# ------------------------------------------------- ensembles: fit, then apply


def member_predictions(split: str, seed: int) -> dict[str, pd.DataFrame]:
    """Frame predictions of the four detectors on 30 videos x 4 frames."""
    rng = np.random.default_rng(seed)
    out = {}
    for k, model in enumerate(MODEL_NAMES):
        rows = []
        for i in range(30):
            y, shift = i % 2, rng.normal(0, 0.7)
            for f in range(4):
                z = (0.5 + 0.4 * k) * (2 * y - 1) + shift + rng.normal(0, 0.7)
                rows.append((f"d/{split}{i:02d}", f, y, float(1 / (1 + np.exp(-z)))))
        out[model] = pd.DataFrame(
            rows, columns=["video_id", "frame_index", "label", "score"]
        )
    return out


@pytest.mark.parametrize(
    ("name", "calibration"),
    [
        ("all_hard", "platt"),
        ("best2_hard_tiebreak", "platt"),
        ("small2_hard_calibrated", "platt"),
        ("all_hard_calibrated", "isotonic"),
        ("best2_soft", "platt"),
        ("all_stacked", "platt"),
    ],
)
def test_applying_the_written_fit_gives_the_fitted_scores(name, calibration, tmp_path):
    """Rule ensemble writes the fit without seeing a test set; rule
    ensemble_test applies what was written: the same scores as fitting and
    applying in one go (exactly, but for isotonic interpolation rounding)."""
    from deepfake_ensemble.evaluate.ensemble import (
        apply_ensemble,
        build_ensemble,
        read_ensemble_fit,
        write_ensemble_fit,
    )
    from deepfake_ensemble.evaluate.metrics import evaluate
    from deepfake_ensemble.layout import ensemble_files

    val, test = member_predictions("val", 1), member_predictions("test", 2)
    metrics = {m: evaluate(df) for m, df in val.items()}
    sizes = {m: {"bytes": 100 * (i + 1), "params": i} for i, m in enumerate(val)}
    cfg = {"dirichlet_draws": 300, "seed": 1, "calibration": calibration}
    groups = {v: v for v in val["capsule"]["video_id"]}
    whole = build_ensemble(name, val, test, metrics, sizes, cfg, groups)
    fit = build_ensemble(name, val, None, metrics, sizes, cfg, groups)
    assert fit["test_frames"] is None
    write_ensemble_fit(fit, tmp_path)
    files = ensemble_files(tmp_path)
    applied = apply_ensemble(
        read_ensemble_fit(
            files["members"], files["weights"], files["val_frames"], files["val_videos"]
        ),
        test,
    )
    for role in ("test_frames", "test_videos"):
        got, want = applied[role], whole[role]
        assert list(got.columns) == list(want.columns)
        assert got["video_id"].tolist() == want["video_id"].tolist()
        if calibration == "isotonic" and name.endswith("_calibrated"):
            np.testing.assert_allclose(got["score"], want["score"], atol=1e-12)
        else:
            assert np.array_equal(got["score"].to_numpy(), want["score"].to_numpy())


# ---------------------------------------------------------------- the demo


def test_second_demo_dataset_is_another_method_layout_and_identities(tmp_path):
    from deepfake_ensemble.ingest.jobs import generate_demo
    from deepfake_ensemble.ingest.manifest import build_manifest

    wheel = ROOT / "resources/demo/insightface-2.1-py3-none-any.whl"
    demo = {
        "n_real": 6,
        "n_fake": 6,
        "duration_s": 0.5,
        "fps": 10,
        "size": 64,
        "seed": 7,
        "identity_variants": 2,
        "cues": {"artefacts": 1.0, "no_blink": 0.0},
        "extra": [
            {
                "root": str(tmp_path / "b"),
                "layout": "csv",
                "seed": 8,
                "first_variant": 2,
                "artefact_kind": "colour",
            }
        ],
    }
    datasets = [
        {"name": "a", "layout": "dfdc", "root": str(tmp_path / "a")},
        {
            "name": "b",
            "layout": "csv",
            "root": str(tmp_path / "b"),
            "csv": "videos.csv",
        },
    ]
    generate_demo(
        wheel,
        tmp_path / "a/metadata.json",
        demo,
        cues=tmp_path / "cues.csv",
        datasets=datasets,
        extra_markers=[tmp_path / "b/videos.csv"],
    )
    manifest = build_manifest(datasets)
    cues = pd.read_csv(tmp_path / "cues.csv")
    assert sorted(cues["video_id"]) == sorted(manifest["video_id"])
    assert (manifest["dataset"].value_counts() == 12).all()
    b = manifest[manifest["dataset"] == "b"]
    assert b["path"].str.contains("/b/(?:real|fake)/", regex=True).all()
    # every fake of b stays with its original's identity group
    fakes = b[b["label"] == 1]
    assert (
        fakes["group"].to_numpy()
        == b.set_index("video_id").loc[fakes["original"], "group"].to_numpy()
    ).all()
    # disjoint identity variants: no person's variant is in both datasets
    people = {
        ds: {
            g.split("/", 1)[1] for g in manifest.loc[manifest["dataset"] == ds, "group"]
        }
        for ds in ("a", "b")
    }
    assert people["a"].isdisjoint(people["b"])
    assert all(g.endswith(("-v2", "-v3")) for g in people["b"])
    assert (cues.loc[cues["label"] == 1, "artefacts"]).all()


def test_colour_swap_is_sharp_but_off_colour():
    """A colour swap is as sharp as the clean one but its face's colour
    departs from the scene's far more than a warp swap's or a clean one's."""
    from deepfake_ensemble.ingest.demo.identities import load_identities
    from deepfake_ensemble.ingest.demo.render import make_scene, render_frame
    from deepfake_ensemble.ingest.demo.swap import (
        ARTEFACT_KINDS,
        _swap_mask,
        clean_params,
        swap_face,
    )

    wheel = ROOT / "resources/demo/insightface-2.1-py3-none-any.whl"
    ids = load_identities(wheel, 1)
    gaps = {"clean": [], "warp": [], "colour": []}
    for i in range(6):
        scene = make_scene(
            np.random.default_rng(i), ids[i % len(ids)], 2, 10, 128, (1, i)
        )
        base = render_frame(scene, 0, 0.0)
        source = ids[(i + 3) % len(ids)]
        m = scene.transforms[0]
        mask = _swap_mask(scene.identity.landmarks @ m[:, :2].T + m[:, 2], 128) > 127
        for kind in gaps:
            rng = np.random.default_rng([i, 1])
            params = (
                clean_params(source, (i,))
                if kind == "clean"
                else ARTEFACT_KINDS[kind](rng, source, (i,))
            )
            out = swap_face(scene, 0, base, params)
            gaps[kind].append(
                float(np.abs(out[mask].mean(0) - base[mask].mean(0)).sum())
            )
    assert np.mean(gaps["colour"]) > 2 * max(
        np.mean(gaps["clean"]), np.mean(gaps["warp"])
    )


# ---------------------------------------------------------------- end to end

CROSS_OVERLAY = """\
demo:
  n_real: 16
  n_fake: 16
  cues: {artefacts: 0.7, no_blink: 0.5}
  extra:
    - root: results/demo_b
      layout: csv
      seed: 8
      first_variant: 6
      artefact_kind: colour
datasets:
  - {name: demo_a, layout: dfdc, root: results/demo}
  - {name: demo_b, layout: csv, root: results/demo_b, csv: videos.csv}
evaluation: {protocol: cross_dataset}
# the matrix's shape is tested, not how well the detectors learn: one short
# epoch each of the eight trainings
models:
  capsule: {epochs: 1, max_steps_per_epoch: 2}
  dsp_fwa: {epochs: 1, max_steps_per_epoch: 2}
  ictu_oculi: {epochs: 1, max_steps_per_epoch: 2}
  xception: {epochs: 1, max_steps_per_epoch: 2}
"""


@pytest.mark.slow
def test_two_dataset_demo_writes_a_two_by_two_matrix(tmp_path):
    overlay = tmp_path / "cross.yaml"
    overlay.write_text(CROSS_OVERLAY)
    snakemake(
        tmp_path,
        "--profile",
        str(ROOT / "profiles" / "default"),
        "--configfile",
        str(CI_CONFIG),
        str(overlay),
        *demo_threads(),
        "--cores",
        "2",
        timeout=3600,
    )
    res = tmp_path / "results"
    matrix = pd.read_csv(res / "cross_dataset.csv")
    names = [*MODEL_NAMES, *ENSEMBLE_NAMES]
    assert set(matrix["name"]) == set(names)
    sets = {"demo_a", "demo_b"}
    for name, g in matrix.groupby("name"):
        # a 2 x 2 matrix for every detector and ensemble
        assert len(g) == 4, name
        assert set(zip(g["train_set"], g["test_set"], strict=True)) == {
            (t, s) for t in sets for s in sets
        }
        assert (g["in_domain"] == (g["train_set"] == g["test_set"])).all()
        assert g["video_auc"].between(0, 1).all(), name
        assert g["n_videos"].gt(0).all()
        assert (res / "figures/cross_dataset" / f"{name}.png").read_bytes()[
            :4
        ] == b"\x89PNG"
    drop = pd.read_csv(res / "cross_dataset_drop.csv")
    assert sorted(drop["name"]) == sorted(names)
    assert (drop[["n_in_domain", "n_cross_domain"]] == 2).all().all()
    members = pd.read_csv(res / "cross_dataset_members.csv")
    assert len(members) == 4 * len(ENSEMBLE_NAMES)
    md = (res / "cross_dataset.md").read_text()
    assert "Does the ensemble generalise better than its best member?" in md
    # each detector was trained once per dataset, on that dataset alone
    for t in sets:
        for m in MODEL_NAMES:
            assert (res / f"models/{t}/{m}/best.pt").exists()
        assert (
            json.loads((res / f"metrics/{t}/{t}/capsule.json").read_text())["test"][
                "n_videos"
            ]
            > 0
        )
    assert not (res / "summary.csv").exists()
