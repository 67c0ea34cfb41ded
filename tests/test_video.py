"""Frame sampling: interval and count modes, variable frame rate, rotation,
bad inputs."""

from fractions import Fraction

import av
import numpy as np
import pytest
from helpers_media import blank_frame, numbered_video, write_video

from deepfake_ensemble.preprocess.video import (
    FrameSampler,
    VideoError,
    VideoTimeout,
    probe_duration,
    sample_frames,
)


@pytest.fixture(scope="module")
def cfr40(tmp_path_factory):
    """40 frames at 10 fps (4.0 s)."""
    return numbered_video(tmp_path_factory.mktemp("video") / "cfr40.mp4", 40, fps=10)


@pytest.fixture(scope="module")
def vfr(tmp_path_factory):
    """8 frames at irregular times (ms): gaps longer than one interval."""
    pts = [0, 100, 200, 1200, 1300, 2600, 2700, 2800]
    frames = [blank_frame(value=i) for i in range(len(pts))]
    path = tmp_path_factory.mktemp("video") / "vfr.mp4"
    return write_video(path, frames, pts=pts, time_base=Fraction(1, 1000))


def indices(samples):
    return [s.frame_index for s in samples]


def test_interval_mode_takes_every_fifth_frame(cfr40):
    s = sample_frames(cfr40, frame_interval_s=0.5)
    assert indices(s) == [0, 5, 10, 15, 20, 25, 30, 35]
    assert [round(x.timestamp, 3) for x in s] == [
        0.0,
        0.5,
        1.0,
        1.5,
        2.0,
        2.5,
        3.0,
        3.5,
    ]
    assert s[0].image.shape == (160, 192, 3) and s[0].image.dtype == np.uint8


def test_interval_mode_max_frames_stops_early(cfr40):
    sampler = FrameSampler(cfr40, frame_interval_s=0.3, max_frames=3)
    assert indices(sampler) == [0, 3, 6]
    assert sampler.frames_decoded == 7  # stopped right after the third sample


def test_count_mode_evenly_spaced(cfr40):
    assert probe_duration(cfr40) == pytest.approx(4.0)
    s = sample_frames(cfr40, frame_interval_s=None, frames_per_video=8)
    assert indices(s) == [0, 5, 10, 15, 20, 25, 30, 35]
    s = sample_frames(cfr40, frame_interval_s=None, frames_per_video=4, max_frames=2)
    assert indices(s) == [0, 20]


def test_count_mode_more_samples_than_frames_takes_each_frame_once(tmp_path):
    path = numbered_video(tmp_path / "five.mp4", 5, fps=10)
    s = sample_frames(path, frame_interval_s=None, frames_per_video=12)
    assert indices(s) == [0, 1, 2, 3, 4]


def test_variable_frame_rate_uses_timestamps(vfr):
    s = sample_frames(vfr, frame_interval_s=0.5)
    # t=0 -> frame 0; t=0.5 -> frame 3 (1.2 s, also covers t=1.0);
    # t=1.5 -> frame 5 (2.6 s); t=3.0 is past the end
    assert indices(s) == [0, 3, 5]
    assert [round(x.timestamp, 3) for x in s] == [0.0, 1.2, 2.6]
    s = sample_frames(vfr, frame_interval_s=None, frames_per_video=4)
    # duration 2.9 s: t = 0, 0.725, 1.45, 2.175
    assert indices(s) == [0, 3, 5]


def test_rotation_metadata_gives_upright_frames(tmp_path):
    img = np.zeros((64, 96, 3), np.uint8)
    img[:12, :12] = 255  # marker in the top-left corner
    path = tmp_path / "rot.mp4"
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 96, 64, "yuv420p"
        s.set_display_rotation(90)  # display rotated 90 degrees counter-clockwise
        for _ in range(6):
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    frame = sample_frames(path)[0].image
    assert frame.shape == (96, 64, 3)
    y, x = np.argwhere(frame[..., 0] > 200).mean(axis=0)
    assert y > 80 and x < 16  # the marker is now bottom-left


def test_bad_inputs(tmp_path, cfr40):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError) as e:
        sample_frames(empty)
    assert e.value.status == "empty_file"

    text = tmp_path / "text.mp4"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(VideoError) as e:
        sample_frames(text)
    assert e.value.status == "unreadable"

    with pytest.raises(VideoError) as e:
        sample_frames(tmp_path / "missing.mp4")
    assert e.value.status == "unreadable"

    short = numbered_video(tmp_path / "short.mp4", 3, fps=10)  # 0.3 s
    with pytest.raises(VideoError) as e:
        sample_frames(short, frame_interval_s=0.5)
    assert e.value.status == "too_short"
    assert indices(sample_frames(short, frame_interval_s=0.25)) == [0]


def test_truncated_fragmented_video_keeps_decoded_frames(tmp_path):
    path = write_video(
        tmp_path / "frag.mp4",
        [blank_frame(value=i) for i in range(40)],
        options={"movflags": "frag_keyframe+empty_moov"},
    )
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])
    sampler = FrameSampler(cut, frame_interval_s=0.5)
    got = indices(sampler)
    assert 0 < len(got) < 8 and got[0] == 0


def test_deadline_raises_timeout(cfr40):
    with pytest.raises(VideoTimeout):
        list(FrameSampler(cfr40, deadline=0.0))


@pytest.fixture(scope="module")
def bframes90(tmp_path_factory):
    """90 frames at 30 fps with B-frames (x264 veryfast, up to 3 in a row)."""
    path = tmp_path_factory.mktemp("video") / "bframes90.mp4"
    return write_video(
        path, [blank_frame(value=i) for i in range(90)], fps=30, bframes=3
    )


def _sampled(path, skip, **kw):
    sampler = FrameSampler(path, skip_unsampled=skip, **kw)
    frames = [(f.frame_index, f.timestamp, f.image.tobytes()) for f in sampler]
    return frames, sampler


@pytest.mark.parametrize(
    "kw",
    [
        {"frame_interval_s": 0.5},
        {"frame_interval_s": 0.3, "max_frames": 3},
        {"frame_interval_s": None, "frames_per_video": 7},
        {"frame_interval_s": None, "frames_per_video": 4, "max_frames": 2},
        {"frame_interval_s": 1 / 30},
    ],
)
def test_skipping_unsampled_frames_changes_nothing_but_speed(bframes90, kw):
    """The decoder skips non-reference frames nobody samples: same frames,
    indices, timestamps, pixels, frames_decoded and duration as decoding
    every frame."""
    full, s_full = _sampled(bframes90, False, **kw)
    fast, s_fast = _sampled(bframes90, True, **kw)
    assert fast == full
    assert s_fast.frames_decoded == s_full.frames_decoded
    assert s_fast.duration == s_full.duration
    assert s_full.frames_skipped == 0
    if kw["frame_interval_s"] == 1 / 30:  # every frame sampled: none skipped
        assert s_fast.frames_skipped == 0
    else:
        assert s_fast.frames_skipped > 0


def test_skipping_falls_back_to_decoding_everything(bframes90, monkeypatch):
    """A plan whose first frame is not the decoder's first is dropped: the
    clip is decoded again in full, with the same result."""
    from deepfake_ensemble.preprocess import video

    full, _ = _sampled(bframes90, False)
    monkeypatch.setattr(
        video.FrameSampler,
        "_plan",
        lambda self, times: video._DecodePlan(first_pts=-1, needed=frozenset()),
    )
    fast, sampler = _sampled(bframes90, True)
    assert fast == full and sampler.frames_skipped == 0


def test_skipping_with_threaded_decoding(bframes90):
    full, _ = _sampled(bframes90, False)
    sampler = FrameSampler(bframes90, decode_threads=2)
    assert [(f.frame_index, f.timestamp, f.image.tobytes()) for f in sampler] == full
