"""Degraded copies of videos (the robustness stage's inputs): real H.264
files written with PyAV, decoded again and measured."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers_media import face_frame, write_video

from deepfake_ensemble.errors import InputError
from deepfake_ensemble.layout import parse_condition
from deepfake_ensemble.preprocess import degrade, perturb


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    frames = [face_frame(at=(30 + 2 * i, 10)) for i in range(8)]
    return write_video(tmp_path_factory.mktemp("clip") / "clip.mp4", frames, fps=10)


@pytest.mark.parametrize("perturbation", perturb.PERTURBATIONS)
def test_distortion_rises_with_severity_and_the_file_keeps_its_shape(
    clip, tmp_path, perturbation
):
    clean, rate = degrade.read_frames(clip)
    psnrs = []
    for severity in perturb.SEVERITIES:
        out = tmp_path / f"{severity}.mp4"
        n = degrade.degrade_video(clip, out, perturbation, severity, seed=3)
        frames, out_rate = degrade.read_frames(out)
        assert n == len(frames) == len(clean)
        assert frames[0].shape == clean[0].shape and out_rate == rate
        psnrs.append(
            np.mean([perturb.psnr(a, b) for a, b in zip(clean, frames, strict=True)])
        )
    assert all(a > b for a, b in zip(psnrs, psnrs[1:], strict=False)), psnrs
    # the mildest level still changes the frames measurably
    assert psnrs[0] < 45


@pytest.mark.parametrize("perturbation", ["noise", "h264"])
def test_same_seed_same_bytes(clip, tmp_path, perturbation):
    a, b, c = (tmp_path / f"{x}.mp4" for x in "abc")
    degrade.degrade_video(clip, a, perturbation, 3, seed=5, video_id="v")
    degrade.degrade_video(clip, b, perturbation, 3, seed=5, video_id="v")
    degrade.degrade_video(clip, c, perturbation, 3, seed=6, video_id="v")
    assert a.read_bytes() == b.read_bytes()
    assert (a.read_bytes() != c.read_bytes()) == (perturbation == "noise")


def test_a_split_list_is_degraded_into_copies(clip, tmp_path):
    split = tmp_path / "test.csv"
    pd.DataFrame(
        {
            "video_id": ["d/a.mp4", "d/missing.mp4"],
            "path": [str(clip), str(tmp_path / "missing.mp4")],
            "label": [0, 1],
            "split": ["test", "test"],
        }
    ).to_csv(split, index=False)
    out = degrade.degrade_split(
        split, tmp_path / "out" / "test.csv", tmp_path / "out" / "videos", "blur", 2
    )
    written = pd.read_csv(tmp_path / "out" / "test.csv")
    assert list(written["video_id"]) == ["d/a.mp4", "d/missing.mp4"]
    assert list(written["path"]) == list(out["path"])
    frames, _ = degrade.read_frames(written["path"][0])
    assert len(frames) == 8
    # an unreadable source keeps a path that does not exist (preprocessing
    # then reports it unreadable) and leaves no partial file
    assert not (tmp_path / written["path"][1]).exists()
    assert sorted(p.name for p in (tmp_path / "out" / "videos").iterdir()) == [
        "00000-d_a.mp4"
    ]


def test_bad_names_get_one_clear_error():
    with pytest.raises(InputError, match="perturbation 'fog' is not one of"):
        perturb.level("fog", 1)
    with pytest.raises(InputError, match="severity 6 is not one of 1-5"):
        perturb.level("blur", 6)
    with pytest.raises(InputError, match="is not <perturbation>-<1..5>"):
        parse_condition("blur")
    assert parse_condition("jpeg-4") == ("jpeg", 4)
    assert parse_condition("clean") == ("clean", 0)
    with pytest.raises(InputError, match="does not act on single frames"):
        perturb.apply(np.zeros((4, 4, 3), np.uint8), "h264", 30)
