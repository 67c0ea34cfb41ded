"""The synthetic demo dataset: layout, decodable videos, faces, blinks, swaps."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import dlib
import numpy as np
import pytest

from deepfake_ensemble.demo import face_model_path, generate_demo_dataset
from deepfake_ensemble.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
WHEEL = ROOT / "resources" / "demo" / "insightface-2.1-py3-none-any.whl"
PARAMS = dict(n_real=3, n_fake=3, duration_s=2.0, fps=10, size=160, seed=7)
N_FRAMES = 20
# landmarks that do not move when the eyes close (jaw, brows, nose, mouth)
STABLE = list(range(0, 36)) + list(range(48, 68))


def _wheel() -> Path:
    if not WHEEL.is_file():
        pytest.fail(
            f"{WHEEL} is missing: `make setup` fetches it (source of the demo "
            "face photos)"
        )
    return WHEEL


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    table = generate_demo_dataset(out, _wheel(), progress=False, **PARAMS)
    return out, table


def _decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.fixture(scope="module")
def face_tools():
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(face_model_path()))

    def landmarks(image: np.ndarray) -> np.ndarray | None:
        rects = detector(image, 1)
        if not rects:
            return None
        rect = max(rects, key=lambda r: r.width())
        shape = predictor(image, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32)

    return detector, landmarks


def test_layout_and_labels(demo):
    out, table = demo
    meta = json.loads((out / "metadata.json").read_text())
    assert len(meta) == 6
    assert sorted(p.name for p in out.glob("*.mp4")) == sorted(meta)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    labels = {name: entry["label"] for name, entry in meta.items()}
    assert sorted(labels.values()) == ["FAKE"] * 3 + ["REAL"] * 3
    for entry in meta.values():
        assert entry["split"] == "train"
        if entry["label"] == "REAL":
            assert entry["original"] is None
        else:
            assert (out / entry["original"]).is_file()
            assert meta[entry["original"]]["label"] == "REAL"
    assert list(table.columns[:6]) == [
        "name",
        "label",
        "original",
        "identity",
        "n_frames",
        "blinks",
    ]
    assert set(table["name"]) == set(meta)
    fakes = table[table["label"] == "FAKE"]
    # a fake shows another person's face on its original's scene
    assert (fakes["source_identity"] != fakes["identity"]).all()
    real_ids = table.set_index("name")["identity"]
    assert (
        fakes["identity"].to_numpy() == real_ids[fakes["original"]].to_numpy()
    ).all()


def test_videos_decode_to_expected_frames(demo):
    out, table = demo
    for name in table["name"]:
        frames = _decode(out / name)
        assert len(frames) == N_FRAMES, name
        assert frames[0].shape == (160, 160, 3)
    with av.open(str(out / table["name"][0])) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.average_rate == 10


def test_faces_found_in_real_and_fake_frames(demo, face_tools):
    out, table = demo
    detector, _ = face_tools
    for label in ("REAL", "FAKE"):
        found = 0
        names = table.loc[table["label"] == label, "name"]
        for name in names:
            frames = _decode(out / name)
            found += sum(len(detector(frames[k], 1)) > 0 for k in (0, 10, 19))
        assert found >= 0.8 * 3 * len(names), label


def _eye_change(a: np.ndarray, b: np.ndarray, landmarks) -> float:
    """How much more the eyes than the rest of the face differ between two
    frames, after aligning ``b`` onto ``a`` with the landmarks that do not move
    with the eyelids (so head motion cancels out)."""
    la, lb = landmarks(a), landmarks(b)
    assert la is not None and lb is not None
    m, _ = cv2.estimateAffinePartial2D(lb[STABLE], la[STABLE], method=cv2.LMEDS)
    warped = cv2.warpAffine(b, m, a.shape[1::-1]).astype(np.float32)
    diff = np.abs(a.astype(np.float32) - warped).mean(axis=-1)
    eyes = np.zeros(a.shape[:2], np.uint8)
    for start in (36, 42):
        eye = la[start : start + 6]
        width = eye[3, 0] - eye[0, 0]
        cy = eye[:, 1].mean()
        top_left = (int(eye[0, 0]), int(cy - 0.25 * width))
        bottom_right = (int(eye[3, 0]), int(cy + 0.25 * width))
        cv2.rectangle(eyes, top_left, bottom_right, 1, -1)
    face = np.zeros(a.shape[:2], np.uint8)
    hull = cv2.convexHull(la[:27]).astype(np.int32)
    cv2.fillConvexPoly(face, hull, 1)
    rest = (face > 0) & (eyes == 0)
    return float(diff[eyes > 0].mean() / diff[rest].mean())


def test_real_videos_blink(demo, face_tools):
    out, table = demo
    _, landmarks = face_tools
    reals = table[table["label"] == "REAL"]
    assert (reals["blinks"] >= 1).all()
    for _, row in reals.iterrows():
        closed = [int(k) for k in row["blink_frames"].split()]
        assert closed and max(closed) < N_FRAMES
        frames = _decode(out / row["name"])
        shut = closed[len(closed) // 2]
        open_frames = [
            k for k in range(N_FRAMES) if all(abs(k - c) > 1 for c in closed)
        ]
        ref = min(open_frames, key=lambda k: abs(k - shut))
        other = min((k for k in open_frames if k != ref), key=lambda k: abs(k - ref))
        blink = _eye_change(frames[ref], frames[shut], landmarks)
        still = _eye_change(frames[ref], frames[other], landmarks)
        # the lids change the eyes far more than head motion does
        assert blink > 3.0, row["name"]
        assert blink > 1.25 * still, row["name"]
    fakes = table[table["label"] == "FAKE"]
    assert (fakes["blinks"] == 0).all()


def test_fakes_differ_from_original_in_face_only(demo, face_tools):
    out, table = demo
    _, landmarks = face_tools
    for _, row in table[table["label"] == "FAKE"].iterrows():
        fake = _decode(out / row["name"])
        real = _decode(out / row["original"])
        closed = {
            int(k)
            for k in table.set_index("name")
            .loc[row["original"], "blink_frames"]
            .split()
        }
        k = next(i for i in range(N_FRAMES) if all(abs(i - c) > 1 for c in closed))
        pts = landmarks(real[k])
        assert pts is not None
        face = np.zeros((160, 160), np.uint8)
        hull = cv2.convexHull(pts[:27]).astype(np.int32)
        cv2.fillConvexPoly(face, hull, 1)
        inner = cv2.erode(face, np.ones((7, 7), np.uint8)) > 0
        outer = cv2.dilate(face, np.ones((31, 31), np.uint8)) == 0
        diff = np.abs(fake[k].astype(np.float32) - real[k]).mean(axis=-1)
        assert diff[inner].mean() > 12, row["name"]
        assert diff[outer].mean() < 3, row["name"]


def test_same_seed_same_videos_other_seed_differs(demo, tmp_path):
    out, _ = demo
    params = {**PARAMS, "n_real": 1, "n_fake": 1}
    again = generate_demo_dataset(tmp_path / "a", _wheel(), progress=False, **params)
    assert list(again["name"]) == ["real_0000.mp4", "fake_0000.mp4"]
    for name in again["name"]:
        first = np.stack(_decode(out / name))
        second = np.stack(_decode(tmp_path / "a" / name))
        assert np.array_equal(first, second), name
        assert (out / name).read_bytes() == (tmp_path / "a" / name).read_bytes()
    params["seed"] = 8
    generate_demo_dataset(tmp_path / "b", _wheel(), progress=False, **params)
    for name in again["name"]:
        first = np.stack(_decode(out / name))
        other = np.stack(_decode(tmp_path / "b" / name))
        assert np.abs(first.astype(np.int16) - other).mean() > 10, name


def test_missing_wheel_is_a_clear_error(tmp_path):
    missing = tmp_path / "nowhere" / "insightface-2.1-py3-none-any.whl"
    with pytest.raises(InputError, match="make setup") as err:
        generate_demo_dataset(tmp_path / "out", missing, n_real=1, n_fake=1)
    assert str(missing) in str(err.value)
    assert not (tmp_path / "out" / "metadata.json").exists()


def test_bad_size_rejected(tmp_path):
    with pytest.raises(InputError, match="size"):
        generate_demo_dataset(tmp_path, _wheel(), size=161)
