"""Scoring new videos with a bundle: fitted ensembles as plain parameters, the
video list, the score table and its no-face policy, and, on the CI-sized demo
run, `deepfake-ensemble score` and `snakemake score` against the workflow's
own test predictions."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import CI_CONFIG, ROOT, SNAKEMAKE_ENV, snakemake
from helpers_media import numbered_video

from deepfake_ensemble.bundle.archive import Bundle
from deepfake_ensemble.bundle.score import list_videos, score_table
from deepfake_ensemble.errors import InputError
from deepfake_ensemble.evaluate.ensemble import (
    build_ensemble,
    calibrate,
    calibrate_params,
    calibrator_params,
    ensemble_video_scores,
    fit_calibrator,
    write_ensemble_outputs,
)
from deepfake_ensemble.evaluate.metrics import evaluate, video_scores
from deepfake_ensemble.io import read_json
from deepfake_ensemble.layout import ALL_ENSEMBLES
from deepfake_ensemble.predictions import read_predictions

MODELS = ("capsule", "dsp_fwa", "ictu_oculi", "xception")
SIZES = {
    "capsule": {"bytes": 3_000_000, "params": 2_800_000},
    "dsp_fwa": {"bytes": 94_000_000, "params": 23_000_000},
    "ictu_oculi": {"bytes": 3_000_000, "params": 2_700_000},
    "xception": {"bytes": 83_000_000, "params": 20_800_000},
}
STRENGTH = {"capsule": 1.0, "dsp_fwa": 0.3, "ictu_oculi": 0.5, "xception": 2.0}
CLI = Path(sys.executable).parent / "deepfake-ensemble"


def synthetic(split: str, n_videos: int = 30, n_frames: int = 4, seed: int = 0):
    """Member frame predictions; a model's strength pushes fakes up."""
    vids = [f"demo/{split}_{i:03d}" for i in range(n_videos)]
    labels = np.arange(n_videos) % 2
    out = {}
    for k, model in enumerate(MODELS):
        r = np.random.default_rng(seed * 100 + k)
        rows = []
        for vid, y in zip(vids, labels, strict=True):
            shift = r.normal(0, 0.7)
            for f in range(n_frames):
                z = STRENGTH[model] * (2 * y - 1) + shift + r.normal(0, 0.7)
                rows.append((vid, f * 5, int(y), float(1 / (1 + np.exp(-z)))))
        out[model] = pd.DataFrame(
            rows, columns=["video_id", "frame_index", "label", "score"]
        )
    return out


# ---------------------------------------------------- fitted ensembles as JSON


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_plain_calibrators_give_scikit_learns_probabilities(method):
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    s = np.clip(0.3 + 0.35 * y + rng.normal(0, 0.2, 300), 0, 1)
    cal = fit_calibrator(s, y, method)
    params = json.loads(json.dumps(calibrator_params(cal)))
    new = np.concatenate([[0.0, 1e-9, 0.5, 1.0], rng.uniform(0, 1, 500)])
    np.testing.assert_allclose(
        calibrate_params(params, new), calibrate(cal, new), rtol=0, atol=1e-12
    )


@pytest.fixture(scope="module")
def member_preds():
    val = synthetic("val", seed=1)
    test = synthetic("test", seed=2)
    return val, test, {m: evaluate(df) for m, df in val.items()}


@pytest.mark.parametrize("name", list(ALL_ENSEMBLES))
def test_written_parameters_reproduce_the_ensembles_test_scores(
    name, member_preds, tmp_path
):
    """What the ensemble rule writes (JSON only) gives its own test scores:
    frame rule then video mean, and the @video variant."""
    val, test, val_metrics = member_preds
    cfg = {"dirichlet_draws": 200, "seed": 1, "calibration": "platt"}
    result = build_ensemble(name, val, test, val_metrics, SIZES, cfg)
    write_ensemble_outputs(result, tmp_path)
    members = read_json(tmp_path / "members.json")
    weights = read_json(tmp_path / "weights.json")
    fitted = {
        "method": members["method"],
        "members": members["members"],
        "weights": weights["weights"],
        "meta": weights["meta"],
    }
    # the members' predictions shuffled: alignment is by (video, frame)
    shuffled = {m: df.sample(frac=1, random_state=0) for m, df in test.items()}
    got = ensemble_video_scores(fitted, shuffled).set_index("video_id")
    frame = video_scores(read_predictions(tmp_path / "test_frames.csv"))
    video = read_predictions(tmp_path / "test_videos.csv")
    np.testing.assert_allclose(
        got.loc[frame["video_id"], "frame"], frame["score"], rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(
        got.loc[video["video_id"], "video"], video["score"], rtol=0, atol=1e-12
    )


# ---------------------------------------------------------------- video lists


def test_list_videos_from_folders_lists_and_files(tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / ".hidden").mkdir()
    for name in ("b.mp4", "a.MOV", "sub/c.mkv", ".x.mp4", ".hidden/d.mp4", "notes.txt"):
        (folder / name).write_bytes(b"x")
    (tmp_path / "list.txt").write_text(
        "# videos\n\nin/b.mp4\n/abs/missing.mp4\nin/sub/c.mkv\n"
    )
    got = list_videos([str(folder)])
    assert got["video_id"].tolist() == [
        os.path.join(str(folder), n) for n in ("a.MOV", "b.mp4", "sub/c.mkv")
    ]
    assert all(os.path.isabs(p) for p in got["path"])
    # a list: names as written, relative to the list; a file named twice once
    got = list_videos([str(tmp_path / "list.txt"), str(folder / "b.mp4")])
    assert got["video_id"].tolist() == [
        "in/b.mp4",
        "/abs/missing.mp4",
        "in/sub/c.mkv",
    ]
    assert got["path"].iloc[0] == str(folder / "b.mp4")
    # any file given by name is a video, whatever its name says
    odd = tmp_path / "it's {a} $(x).dat"
    odd.write_bytes(b"")
    assert list_videos(str(odd))["video_id"].tolist() == [str(odd)]


# ---------------------------------------------------------------- score table


def _bundle(no_face: str = "score") -> Bundle:
    index = {
        "members": {
            "capsule": {"checkpoint": "models/capsule.pt", "threshold": 0.6},
            "xception": {"checkpoint": "models/xception.pt", "threshold": None},
        },
        "preprocess": {},
        "evaluation": {"no_face": no_face, "no_face_score": 0.5},
    }
    ensembles = {
        "best2_soft": {
            "name": "best2_soft",
            "method": "soft",
            "members": ["capsule", "xception"],
            "weights": {
                "frame": {"capsule": 0.25, "xception": 0.75},
                "video": {"capsule": 1.0, "xception": 0.0},
            },
            "meta": None,
            "thresholds": {"frame": 0.4, "video": None},
        }
    }
    return Bundle(Path("unused"), {}, index, ensembles)


def _report(rows):
    return pd.DataFrame(
        rows,
        columns=[
            "video_id",
            "status",
            "reason",
            "frames_sampled",
            "faces_found",
            "seconds",
        ],
    )


@pytest.mark.parametrize("policy", ["score", "exclude"])
def test_score_table_scores_decisions_and_the_no_face_policy(policy):
    videos = pd.DataFrame(
        {
            "video_id": ["a.mp4", "b.mp4", "empty.mp4", "blank.mp4"],
            "path": ["/a.mp4", "/b.mp4", "/empty.mp4", "/blank.mp4"],
        }
    )
    report = _report(
        [
            ("a.mp4", "ok", "", 2, 2, 0.1),
            ("b.mp4", "ok", "", 2, 2, 0.1),
            ("empty.mp4", "empty_file", "file has zero bytes", 0, 0, 0.0),
            ("blank.mp4", "no_face", "no face in any sampled frame", 5, 0, 0.2),
        ]
    )

    def frames(scores):
        return pd.DataFrame(
            [
                (vid, f, 0, s)
                for vid, pair in zip(("a.mp4", "b.mp4"), scores, strict=True)
                for f, s in zip((0, 5), pair, strict=True)
            ],
            columns=["video_id", "frame_index", "label", "score"],
        )

    member_frames = {
        "capsule": frames([(0.9, 0.7), (0.2, 0.4)]),
        "xception": frames([(0.6, 0.2), (0.1, 0.3)]),
    }
    table = score_table(videos, report, member_frames, _bundle(policy))
    t = table.set_index("video")
    assert t.loc["a.mp4", "capsule"] == pytest.approx(0.8)
    assert t.loc["a.mp4", "capsule_decision"] == "fake"  # 0.8 > 0.6
    assert t.loc["b.mp4", "capsule_decision"] == "real"
    assert t.loc["a.mp4", "xception_decision"] == "real"  # 0.4, threshold 0.5
    # soft vote per frame, then the video mean; @video: the rule on video means
    assert t.loc["a.mp4", "best2_soft"] == pytest.approx(
        np.mean([0.25 * 0.9 + 0.75 * 0.6, 0.25 * 0.7 + 0.75 * 0.2])
    )
    assert t.loc["a.mp4", "best2_soft_decision"] == "fake"  # 0.4625 > 0.4
    assert t.loc["b.mp4", "best2_soft@video"] == pytest.approx(0.3)
    # a file that is no video: no score, no decision, whatever the policy
    assert np.isnan(t.loc["empty.mp4", "capsule"])
    assert t.loc["empty.mp4", "best2_soft_decision"] == ""
    assert t.loc["empty.mp4", "reason"] == "file has zero bytes"
    # no face: the evaluation's policy
    if policy == "score":
        assert t.loc["blank.mp4", "capsule"] == 0.5
        assert t.loc["blank.mp4", "best2_soft@video"] == 0.5
        assert t.loc["blank.mp4", "best2_soft_decision"] == "fake"  # 0.5 > 0.4
        assert t.loc["blank.mp4", "capsule_decision"] == "real"
    else:
        assert np.isnan(t.loc["blank.mp4", "capsule"])
        assert t.loc["blank.mp4", "capsule_decision"] == ""
    assert list(table.columns[:4]) == [
        "video",
        "status",
        "frames_sampled",
        "faces_found",
    ]
    assert list(table.columns[-3:]) == ["reason", "seconds", "path"]


def test_score_table_names_unknown_ensembles():
    videos = pd.DataFrame({"video_id": ["a"], "path": ["/a"]})
    report = _report([("a", "no_face", "", 1, 0, 0.0)])
    empty = pd.DataFrame(columns=["video_id", "frame_index", "label", "score"])
    with pytest.raises(InputError, match="no ensemble 'all_soft'"):
        score_table(
            videos,
            report,
            {"capsule": empty, "xception": empty},
            _bundle(),
            ["all_soft"],
        )


def test_scoring_modules_import_no_heavy_library():
    """The score rules run in three envs; the ensemble one has no torch,
    h5py, OpenCV or tqdm. And only the last step (rule score) loads
    scikit-learn: listing, preprocessing and prediction start without it."""
    code = (
        "import json, sys\n"
        "import deepfake_ensemble.bundle.jobs, deepfake_ensemble.bundle.score\n"
        "import deepfake_ensemble.bundle.archive\n"
        "heavy = ('torch', 'timm', 'torchvision', 'tqdm', 'h5py', 'cv2',"
        " 'dlib', 'av', 'sklearn', 'scipy')\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT / "src")),
    )
    assert json.loads(out.stdout) == []


# ------------------------------------------------- end to end on the demo run


def run_cli(*args: str, cwd: Path, check: bool = False) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(CLI), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=900,
        env=SNAKEMAKE_ENV,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{args}: {result.returncode}\n{result.stderr[-4000:]}")
    return result


def test_snakemake_score_needs_score_input(tmp_path):
    result = snakemake(tmp_path, "score", "-n", check=False)
    assert result.returncode != 0
    assert "set score_input" in result.stdout + result.stderr


def test_score_input_a_shell_would_expand_is_refused(tmp_path):
    """score_input goes onto cluster jobs' command lines: no quotes, `$`..."""
    bad = str(tmp_path / "$(touch PWNED)")
    result = snakemake(
        tmp_path, "score", "-n", "--config", f"score_input={bad}", check=False
    )
    assert result.returncode != 0
    assert "score_input" in result.stdout + result.stderr
    assert not (tmp_path / "PWNED").exists()


@pytest.fixture(scope="module")
def test_videos(local_ci_run) -> pd.DataFrame:
    split = pd.read_csv(local_ci_run / "results/splits/test.csv", dtype=str)
    return split[["video_id", "path", "label"]]


@pytest.fixture(scope="module")
def cli_test_scores(local_ci_run, test_videos, tmp_path_factory) -> pd.DataFrame:
    """`deepfake-ensemble score` on every test video of the demo run."""
    out = tmp_path_factory.mktemp("cli-test") / "scores.csv"
    result = run_cli(
        "score",
        "--bundle",
        str(local_ci_run / "results/bundle"),
        *test_videos["path"],
        "-o",
        str(out),
        "--device",
        "cpu",
        cwd=local_ci_run,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert out.is_file()
    return pd.read_csv(out, keep_default_na=False, na_values=[""])


@pytest.mark.slow
def test_cli_reproduces_the_workflows_test_predictions(
    local_ci_run, test_videos, cli_test_scores
):
    """Point 4: member scores within 1e-5, ensembles too, identical decisions."""
    res = local_ci_run / "results"
    table = cli_test_scores.merge(
        test_videos.rename(columns={"path": "video"}), on="video"
    ).set_index("video_id")
    assert len(table) == len(test_videos)
    bundle = json.loads((res / "bundle/bundle.json").read_text())

    def compare(column, expected: pd.Series, threshold):
        expected = expected.reindex(table.index)
        diff = np.abs(table[column] - expected)
        assert diff.max() < 1e-5, (column, diff.max())
        thr = 0.5 if threshold is None else threshold
        decided = np.where(expected > thr, "fake", "real")
        assert table[f"{column}_decision"].tolist() == decided.tolist(), column
        return float(diff.max())

    worst = 0.0
    for model in bundle["members"]:
        # evaluation.protocol pooled: trained on "pooled", tested on "pooled"
        frames = read_predictions(res / f"predictions/pooled/{model}/test.csv")
        expected = video_scores(frames).set_index("video_id")["score"]
        metrics = read_json(res / f"metrics/pooled/pooled/{model}.json")
        thr = metrics["test"]["at_val_threshold"]["val_threshold"]
        worst = max(worst, compare(model, expected, thr))
    for name in bundle["ensembles"]:
        ens = res / "ensembles/pooled" / name / "test/pooled"
        metrics = read_json(ens / "metrics.json")
        frames = video_scores(read_predictions(ens / "test_frames.csv"))
        videos = read_predictions(ens / "test_videos.csv")
        worst = max(
            worst,
            compare(
                name,
                frames.set_index("video_id")["score"],
                metrics["at_val_threshold"]["val_threshold"],
            ),
            compare(
                f"{name}@video",
                videos.set_index("video_id")["score"],
                metrics["video_variant"]["at_val_threshold"]["val_threshold"],
            ),
        )
    assert (table["status"] == "ok").all()
    print(f"max |CLI - workflow| over members and ensembles: {worst:.2e}")


@pytest.fixture(scope="module")
def odd_folder(local_ci_run, test_videos, tmp_path_factory) -> Path:
    """A good video, a zero-byte file, text named .mp4, a clip without a
    face and a good video whose name holds quotes, spaces and $(...)."""
    folder = tmp_path_factory.mktemp("odd") / "videos"
    folder.mkdir()
    good = Path(test_videos["path"].iloc[0])
    shutil.copy(good, folder / "good.mp4")
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "text.mp4").write_text("this is not a video\n" * 50)
    numbered_video(folder / "no_face.mp4", 12)
    shutil.copy(good, folder / 'it\'s a "clip" $(touch PWNED) `touch PWNED2`.mp4')
    (folder / "readme.md").write_text("not listed: no video ending")
    return folder


ODD_STATUS = {
    "good.mp4": "ok",
    "empty.mp4": "empty_file",
    "text.mp4": "unreadable",
    "no_face.mp4": "no_face",
    'it\'s a "clip" $(touch PWNED) `touch PWNED2`.mp4': "ok",
}


@pytest.mark.slow
def test_bad_files_get_their_status_and_never_stop_the_others(
    local_ci_run, odd_folder, tmp_path
):
    out = tmp_path / "scores.csv"
    result = run_cli(
        "score",
        "--bundle",
        str(local_ci_run / "results/bundle"),
        str(odd_folder),
        "-o",
        str(out),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    table = pd.read_csv(out, keep_default_na=False, na_values=[""])
    names = [Path(v).name for v in table["video"]]
    assert sorted(names) == sorted(ODD_STATUS)
    assert dict(zip(names, table["status"], strict=True)) == ODD_STATUS
    # nothing in a file name was executed
    for where in (tmp_path, odd_folder, local_ci_run, Path.cwd()):
        assert not (where / "PWNED").exists() and not (where / "PWNED2").exists()
    t = table.assign(name=names).set_index("name")
    odd = 'it\'s a "clip" $(touch PWNED) `touch PWNED2`.mp4'
    # the same video under an odd name scores as under a plain one
    assert t.loc[odd, "all_soft"] == pytest.approx(t.loc["good.mp4", "all_soft"])
    assert t.loc["no_face.mp4", "frames_sampled"] > 0
    assert t.loc["no_face.mp4", "faces_found"] == 0
    assert t.loc["no_face.mp4", "capsule"] == 0.5  # the no-face policy
    assert pd.isna(t.loc["empty.mp4", "capsule"])
    assert t.loc["text.mp4", "reason"]


@pytest.mark.slow
def test_exit_status_is_1_only_when_no_video_was_scored(
    local_ci_run, odd_folder, tmp_path
):
    bad = [str(odd_folder / n) for n in ("empty.mp4", "text.mp4", "no_face.mp4")]
    result = run_cli(
        "score",
        "--bundle",
        str(local_ci_run / "results/bundle"),
        *bad,
        "--json",
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr[-3000:]
    doc = json.loads(result.stdout)
    assert [v["status"] for v in doc["videos"]] == [
        "empty_file",
        "unreadable",
        "no_face",
    ]
    assert doc["videos"][2]["ensembles"]["all_soft"]["score"] == 0.5
    assert doc["videos"][0]["members"]["capsule"]["score"] is None
    assert len(doc["bundle"]["manifest_sha256"]) == 64


@pytest.mark.slow
def test_snakemake_score_entry_writes_the_clis_scores(
    local_ci_run, test_videos, odd_folder, tmp_path
):
    """`snakemake score` on a few demo videos (and the odd ones) in a folder
    of its own with the CI run's bundle (``score_bundle``): batches of the
    workflow's size, GPU-job prediction, one scores.csv equal to the CLI's
    table."""
    folder = tmp_path / "few"
    folder.mkdir()
    for path in test_videos["path"].iloc[:3]:
        shutil.copy(path, folder / Path(path).name)
    for name in ("empty.mp4", "no_face.mp4"):
        shutil.copy(odd_folder / name, folder / name)
    # a folder of its own, with the run's bundle: the run is only read
    workdir = tmp_path / "scoring"
    workdir.mkdir()
    bundle = local_ci_run / "results/bundle"
    result = snakemake(
        workdir,
        "--profile",
        str(ROOT / "profiles" / "default"),
        "--configfile",
        str(CI_CONFIG),
        "--cores",
        "2",
        "--config",
        f"score_input={folder}",
        f"score_bundle={bundle}",
        "--",
        "score",
    )
    log = result.stdout + result.stderr
    assert "rule score_predict" in log and "rule score_preprocess" in log
    # only the scoring rules ran
    assert "rule train:" not in log and "rule bundle:" not in log
    scores = workdir / "results/score/scores.csv"
    workflow = pd.read_csv(scores, keep_default_na=False, na_values=[""])
    cli_out = tmp_path / "cli.csv"
    run_cli(
        "score",
        "--bundle",
        str(bundle),
        str(folder),
        "-o",
        str(cli_out),
        cwd=workdir,
        check=True,
    )
    cli = pd.read_csv(cli_out, keep_default_na=False, na_values=[""])
    assert_same_scores(workflow, cli)


def assert_same_scores(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Two score tables agree: rows, statuses, scores (1e-6), decisions."""
    assert list(a.columns) == list(b.columns)
    a = a.sort_values("video").reset_index(drop=True)
    b = b.sort_values("video").reset_index(drop=True)
    assert a["video"].tolist() == b["video"].tolist()
    for column in a.columns:
        if column in ("seconds", "reason"):
            continue
        if pd.api.types.is_float_dtype(a[column]):
            np.testing.assert_allclose(
                a[column], b[column], rtol=0, atol=1e-6, err_msg=column
            )
        else:
            assert a[column].tolist() == b[column].tolist(), column
