"""Face detection, crops, landmarks and eye crops on real dlib models."""

import numpy as np
import pytest
from helpers_media import face_frame

from deepfake_ensemble.preprocess.faces import (
    detect_faces,
    detection_scale,
    extract_faces,
    eye_boxes,
    get_detector,
    model_path,
    square_box,
)

FACE_AT = (40, 10)  # where face_frame pastes the face patch (x, y)


@pytest.fixture(scope="module")
def frame():
    return face_frame(192, 160, at=FACE_AT, size=112)


def inside(box, outer, tol=0.0):
    x0, y0, x1, y1 = box
    ox0, oy0, ox1, oy1 = outer
    return x0 >= ox0 - tol and y0 >= oy0 - tol and x1 <= ox1 + tol and y1 <= oy1 + tol


def test_model_files_found_without_import():
    import sys

    assert model_path("shape_predictor_68_face_landmarks.dat").exists()
    assert model_path("mmod_human_face_detector.dat").exists()
    assert "face_recognition_models" not in sys.modules
    assert get_detector("hog") is get_detector("hog")  # loaded once


def test_known_face_found_and_cropped(frame):
    recs = extract_faces(frame, upsample=0, detect_scale=1.0, face_size=64, eye_size=16)
    assert len(recs) == 1
    r = recs[0]
    # the detector box lies on the pasted patch (112 x 120 at FACE_AT)
    assert inside(
        r.box, (FACE_AT[0], FACE_AT[1], FACE_AT[0] + 112, FACE_AT[1] + 120), 4
    )
    # the crop is square, inside the frame, contains the box, enlarged ~1.3x
    cx0, cy0, cx1, cy1 = r.crop_box
    assert cx1 - cx0 == cy1 - cy0
    assert inside(r.crop_box, (0, 0, 192, 160))
    assert inside(r.box, r.crop_box, 1)
    bw = max(r.box[2] - r.box[0], r.box[3] - r.box[1])
    assert (cx1 - cx0) == pytest.approx(1.3 * bw, abs=2)
    assert r.face.shape == (64, 64, 3) and r.face.dtype == np.uint8
    assert r.eyes.shape == (2, 16, 16, 3)
    assert r.face_index == 0


def test_landmarks_inside_crop_and_eyes_inside_face(frame):
    r = extract_faces(frame, upsample=0, face_size=64, eye_size=16)[0]
    lm = r.landmarks
    assert lm.shape == (68, 2) and lm.dtype == np.float32
    assert (lm >= 0).all() and (lm <= 64).all()
    # eyes are above the mouth and the image-left eye is left of the other
    assert lm[36:48, 1].mean() < lm[48:68, 1].mean()
    assert lm[36:42, 0].mean() < lm[42:48, 0].mean()
    # eye boxes (in crop coordinates) lie inside the face crop
    for x0, y0, side in eye_boxes(lm, 64, 64):
        assert x0 >= 0 and x0 + side <= 64 and y0 >= 0 and y0 + side <= 64
        assert side < 32


def test_detect_scale_and_max_side_map_boxes_back(frame):
    full = detect_faces(frame, upsample=1, detect_scale=1.0)
    big = np.kron(frame, np.ones((2, 2, 1), np.uint8))  # 384 x 320 copy
    scaled = detect_faces(big, upsample=1, detect_scale=0.5, min_detect_side=0)
    assert detection_scale(320, 384, 0.5) == 1.0  # small frames are not shrunk
    assert detection_scale(720, 1280, 0.5) == 0.5
    assert detection_scale(2160, 3840, 0.5, 1280) == pytest.approx(1 / 3)
    capped = detect_faces(big, upsample=1, detect_scale=1.0, max_detect_side=192)
    assert len(full) == len(scaled) == len(capped) == 1
    np.testing.assert_allclose(scaled[0], full[0] * 2, atol=6)
    np.testing.assert_allclose(capped[0], full[0] * 2, atol=6)


def test_no_face_and_all_faces(frame):
    assert extract_faces(np.full((120, 160, 3), 100, np.uint8), upsample=0) == []
    two = np.concatenate([frame, frame], axis=1)  # two faces side by side
    recs = extract_faces(two, upsample=0, faces="all", face_size=32, eye_size=8)
    assert [r.face_index for r in recs] == [0, 1]
    assert len(extract_faces(two, upsample=0, faces="largest")) == 1


def test_square_box_shifts_then_shrinks():
    assert square_box(5, 5, 20, 100, 80) == (0, 0, 20)  # shifted inside
    assert square_box(95, 75, 20, 100, 80) == (80, 60, 20)
    assert square_box(50, 40, 200, 100, 80) == (10, 0, 80)  # shrunk to 80


def track_like_whole_frames(frames, kw, tolerance, **tracking):
    """Track ``frames``; every box must match the whole-frame search's
    within ``tolerance`` x the face's side. Returns the tracker."""
    from deepfake_ensemble.preprocess.faces import FaceTracker

    tracker = FaceTracker(**kw, **tracking)
    tracked = [tracker(f) for f in frames]
    for f, boxes in zip(frames, tracked, strict=True):
        whole = detect_faces(f, **kw)
        assert len(boxes) == 1 == len(whole)
        side = whole[0][2] - whole[0][0]
        assert np.abs(boxes[0] - whole[0]).max() <= tolerance * side
    return tracker


def test_tracker_searches_regions_between_whole_frame_searches():
    """detect_every=3: samples 0 and 3 are searched whole, 1 and 2 only
    around the face found before; the boxes agree with whole-frame search."""
    frames = [face_frame(320, 240, at=(60 + 8 * i, 30), size=112) for i in range(5)]
    kw = {"upsample": 0, "detect_scale": 1.0}
    tracker = track_like_whole_frames(
        frames, kw, 0.15, detect_every=3, track_margin=0.5
    )
    assert tracker.full_searches == 2 and tracker.region_searches == 3


def test_tracker_finds_small_faces_in_upscaled_regions():
    """A face smaller than REGION_FACE_PX (found whole at upsample 1) is found
    in its tracked region, which is resized up rather than pyramid-upsampled:
    no region comes up empty and falls back to a whole-frame search."""
    from deepfake_ensemble.preprocess.faces import REGION_FACE_PX

    size = 64
    assert size < REGION_FACE_PX
    frames = [face_frame(320, 240, at=(60 + 5 * i, 60), size=size) for i in range(4)]
    kw = {"upsample": 1, "detect_scale": 1.0}
    tracker = track_like_whole_frames(frames, kw, 0.2, detect_every=4, track_margin=0.3)
    assert tracker.full_searches == 1 and tracker.region_searches == 3


def test_tracker_falls_back_to_the_whole_frame_when_the_face_moves_away():
    from deepfake_ensemble.preprocess.faces import FaceTracker

    first = face_frame(320, 240, at=(10, 10), size=112)
    moved = face_frame(320, 240, at=(200, 120), size=112)
    tracker = FaceTracker(upsample=0, detect_scale=1.0, detect_every=10)
    assert len(tracker(first)) == 1
    boxes = tracker(moved)
    # the region around the old box is empty, and so is the wider one
    # searched again: the frame was searched whole
    assert tracker.full_searches == 2 and tracker.region_searches == 1
    assert tracker.region_retries == 1
    assert len(boxes) == 1 and boxes[0][0] > 150


def test_tracker_searches_a_wider_region_before_the_whole_frame():
    """A face that moved further than the margin (but less than twice it)
    is found in the wider region searched again, not by a whole-frame
    search."""
    frames = [face_frame(320, 240, at=(60 + 53 * i, 60), size=112) for i in range(2)]
    kw = {"upsample": 0, "detect_scale": 1.0}
    tracker = track_like_whole_frames(
        frames, kw, 0.15, detect_every=5, track_margin=0.2
    )
    assert tracker.full_searches == 1 and tracker.region_searches == 1
    assert tracker.region_retries == 1
