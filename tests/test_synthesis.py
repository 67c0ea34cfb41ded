"""On-the-fly fake synthesis (self-blended images, face-warping artefacts) and
the dataset of real faces and their fakes.

Faces are drawn here: a textured ellipse on a noisy background, with 68
landmarks in dlib's order (jaw on the lower arc, brows above the eyes, nose,
eyes, mouth), so that the landmarks' hull covers the middle of the crop and
leaves a background all around it.
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from deepfake_ensemble.errors import InputError
from deepfake_ensemble.preprocess.faces import FaceRecord
from deepfake_ensemble.preprocess.shards import ShardWriter, make_rows
from deepfake_ensemble.train import synthesis
from deepfake_ensemble.train.synthesis import (
    FACE_WARP,
    KINDS,
    SELF_BLENDED,
    ShardFaces,
    SynthesisDataset,
    blend,
    face_alignment,
    face_warp,
    hull_mask,
    max_reach,
    sample_rng,
    self_blend,
    synthesise,
)

SEEDS = range(6)


def landmarks(size: int) -> np.ndarray:
    """68 points of an upright face centred in a crop of side ``size``."""
    c = size / 2
    rx, ry = 0.33 * size, 0.42 * size
    lm = np.zeros((68, 2), np.float32)
    t = np.linspace(0.05 * np.pi, 0.95 * np.pi, 17)
    lm[0:17] = np.c_[c - 0.95 * rx * np.cos(t), c + 0.9 * ry * np.sin(t)]
    t = np.linspace(0.2 * np.pi, 0.8 * np.pi, 10)
    lm[17:27] = np.c_[c - 0.8 * rx * np.cos(t), c - 0.55 * ry * np.sin(t)]
    lm[27:36] = np.c_[np.full(9, c), np.linspace(c - 0.15 * size, c + 0.1 * size, 9)]
    a = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    for first, x in ((36, c - 0.15 * size), (42, c + 0.15 * size)):
        lm[first : first + 6] = np.c_[
            x + 0.05 * size * np.cos(a), c - 0.12 * size + 0.02 * size * np.sin(a)
        ]
    a = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    lm[48:68] = np.c_[
        c + 0.12 * size * np.cos(a), c + 0.2 * size + 0.04 * size * np.sin(a)
    ]
    return lm


def drawn_face(size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A textured skin-coloured ellipse on a dark noisy background, and its
    landmarks."""
    rng = np.random.default_rng(seed)
    img = rng.integers(20, 60, (size, size, 3)).astype(np.float32)
    skin = np.zeros((size, size), np.uint8)
    centre, axes = (size // 2, size // 2), (int(0.33 * size), int(0.42 * size))
    cv2.ellipse(skin, centre, axes, 0, 0, 360, 1, -1)
    texture = cv2.GaussianBlur(
        rng.normal(0, 40, (size, size, 3)).astype(np.float32), (3, 3), 0
    )
    tone = np.array([200, 150, 120], np.float32) + texture
    img[skin > 0] = tone[skin > 0]
    return np.clip(img, 0, 255).astype(np.uint8), landmarks(size)


def reach(lm: np.ndarray, size: int) -> np.ndarray:
    """Pixels at most :func:`max_reach` from the hull (along x or y)."""
    r = max_reach(size)
    kernel = np.ones((2 * r + 1, 2 * r + 1), np.uint8)
    return cv2.dilate(hull_mask(lm, size), kernel) > 0


# -- hull -----------------------------------------------------------------------


def test_hull_mask_fills_the_landmarks_hull():
    lm = landmarks(64)
    m = hull_mask(lm, 64)
    assert m.dtype == np.float32 and m.shape == (64, 64)
    assert set(np.unique(m)) == {0.0, 1.0}
    cx, cy = lm.mean(axis=0).round().astype(int)
    assert m[cy, cx] == 1
    assert m[0, 0] == m[0, 63] == m[63, 0] == m[63, 63] == 0
    # the filled area is the hull's, give or take its outline
    hull = cv2.convexHull(lm)
    assert abs(m.sum() - cv2.contourArea(hull)) < cv2.arcLength(hull, True)
    # every landmark lies on or inside the filled region (to a pixel)
    near = cv2.dilate(m, np.ones((3, 3), np.uint8))
    x, y = np.clip(lm.round().astype(int), 0, 63).T
    assert near[y, x].all()


def test_hull_mask_shapes_and_degenerate_points():
    lm = landmarks(64)
    assert hull_mask(lm, (48, 80)).shape == (48, 80)
    assert not hull_mask(lm[:2], 64).any()
    assert not hull_mask(np.zeros((68, 2), np.float32), 64).any()
    line = np.c_[np.arange(68), np.arange(68)].astype(np.float32)
    assert not hull_mask(line, 64).any()


# -- both transforms --------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size", [64, 128])
def test_changes_stay_inside_the_softened_hull(kind, size):
    face, lm = drawn_face(size)
    hull = hull_mask(lm, size) > 0
    near = reach(lm, size)
    assert (~near).mean() > 0.2, "the test face must leave a background"
    for seed in SEEDS:
        out, mask = synthesise(kind, face, lm, np.random.default_rng(seed))
        assert out.dtype == np.uint8 and out.shape == face.shape
        assert mask.dtype == np.float32 and mask.shape == face.shape[:2]
        changed = (out != face).any(axis=-1)
        # outside the mask the bytes are the input's
        assert not (changed & (mask == 0)).any()
        np.testing.assert_array_equal(out[mask == 0], face[mask == 0])
        # the mask spreads no further than max_reach beyond the hull
        assert not ((mask > 0) & ~near).any()
        # and the face inside the hull is changed
        assert changed[hull].mean() > 0.9


@pytest.mark.parametrize("kind", KINDS)
def test_mask_is_one_inside_zero_outside_graded_on_the_edge(kind):
    size = 64
    face, lm = drawn_face(size)
    hull = hull_mask(lm, size)
    outline = (hull - cv2.erode(hull, np.ones((3, 3), np.uint8))) > 0
    r = max_reach(size)
    edge = cv2.dilate(outline.astype(np.uint8), np.ones((2 * r + 1,) * 2, np.uint8))
    cx, cy = lm.mean(axis=0).round().astype(int)
    grown = []
    for seed in range(12):
        _, mask = synthesise(kind, face, lm, np.random.default_rng(seed))
        grown.append((mask > 0.5).sum() > hull.sum())
        assert mask.min() >= 0 and mask.max() <= 1
        assert mask[cy, cx] > 0.99
        assert mask[0, 0] == mask[-1, -1] == 0
        between = (mask > 0.01) & (mask < 0.99)
        # a graded band, around the whole outline, and only near it
        assert between.sum() >= outline.sum()
        assert not (between & (edge == 0)).any()
    # the hull is eroded for some faces, dilated for others
    assert any(grown) and not all(grown)


def test_self_blend_weights_the_copy_by_the_mask():
    """On a face of one colour the jittered copy is one colour too (every
    jitter maps a flat image to a flat one): the change is proportional to
    the mask, and the blend ratio scales it."""
    size = 64
    lm = landmarks(size)
    face = np.full((size, size, 3), (170, 120, 90), np.uint8)
    cx, cy = lm.mean(axis=0).round().astype(int)
    largest = 0.0
    for seed in range(10):
        out, mask = self_blend(face, lm, np.random.default_rng(seed))
        diff = out.astype(np.float32) - face
        d = diff[cy, cx]  # the full change, where mask is 1
        largest = max(largest, float(np.abs(d).max()))
        expected = d * mask[..., None]
        assert np.abs(diff - expected).max() <= 1.01 + 0.02 * np.abs(d).max()
    assert largest >= 10, "the colour jitter must change a flat face"


def test_self_blend_ratio_scales_the_change(monkeypatch):
    """The same draws with the blend ratio fixed at 1, 0.5 and 0: half the
    change, then none."""
    face, lm = drawn_face(64)
    out = {}
    for ratio in (1.0, 0.5, 0.0):
        monkeypatch.setattr(synthesis, "BLEND_RATIOS", (ratio,))
        out[ratio], mask = self_blend(face, lm, np.random.default_rng(7))
    full = out[1.0].astype(np.float32) - face
    half = out[0.5].astype(np.float32) - face
    assert np.abs(full).max() > 20
    assert np.abs(half - full / 2).max() <= 1
    assert out[0.0].tobytes() == face.tobytes()


def test_face_alignment_levels_the_eyes():
    size = 96
    for degrees in (0, 30, -70):
        rot = cv2.getRotationMatrix2D((40, 50), degrees, 0.8)
        lm = np.c_[landmarks(size), np.ones(68)] @ rot.T
        m, side = face_alignment(lm, margin=5)
        assert m.shape == (2, 3) and m.dtype == np.float32
        aligned = np.c_[lm, np.ones(68)] @ m.T
        left, right = aligned[36:42].mean(axis=0), aligned[42:48].mean(axis=0)
        assert abs(left[1] - right[1]) < 1e-3 and right[0] > left[0]
        # the jaw's lowest point is below the eyes, as in an upright face
        assert aligned[8, 1] > left[1]
        lo, hi = aligned.min(axis=0), aligned.max(axis=0)
        assert lo.min() >= 5 - 1e-3 and hi.max() <= side - 5 + 1e-3
        assert min(lo.min(), side - hi.max()) < 6  # the box is tight
        np.testing.assert_allclose((lo + hi) / 2, side / 2, atol=1e-3)


def test_face_warp_pastes_a_blurred_face_by_the_mask():
    """A one-pixel checkerboard downscaled and blurred is its mean grey: the
    change is the mask times the distance to that grey."""
    size = 64
    lm = landmarks(size)
    y, x = np.mgrid[:size, :size]
    board = np.where((x + y) % 2 == 0, 178, 78).astype(np.uint8)
    board = np.repeat(board[..., None], 3, axis=-1)
    for seed in SEEDS:
        out, mask = face_warp(board, lm, np.random.default_rng(seed))
        change = np.abs(out.astype(np.float32) - board).mean(axis=-1)
        assert np.abs(change - 50 * mask).max() <= 3
        band = (mask > 0.3) & (mask < 0.7)
        assert band.any() and 15 < change[band].mean() < 35


@pytest.mark.parametrize("degrees", [0, 25, -40])
def test_face_warp_warps_back_into_register(degrees):
    """A linear ramp survives downscaling, blurring and upscaling; only a
    mismatch between the warp and its inverse would move it."""
    size = 96
    y, x = np.mgrid[:size, :size].astype(np.float32)
    ramp = np.stack([40 + 1.5 * x, 40 + 1.5 * y, 200 - 0.8 * x - 0.6 * y], axis=-1)
    ramp = ramp.clip(0, 255).astype(np.uint8)
    rot = cv2.getRotationMatrix2D((size / 2, size / 2), degrees, 1.0)
    lm = (np.c_[landmarks(size), np.ones(68)] @ rot.T).astype(np.float32)
    r = max_reach(size)
    core = cv2.erode(hull_mask(lm, size), np.ones((2 * r + 1,) * 2, np.uint8)) > 0
    assert core.sum() > 300
    for seed in SEEDS:
        out, _ = face_warp(ramp, lm, np.random.default_rng(seed))
        assert np.abs(out.astype(np.int16) - ramp)[core].max() <= 2


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_bytes_other_seed_other_fake(kind):
    face, lm = drawn_face(64)
    a, ma = synthesise(kind, face, lm, sample_rng(3, 1, 17))
    b, mb = synthesise(kind, face, lm, sample_rng(3, 1, 17))
    assert a.tobytes() == b.tobytes() and ma.tobytes() == mb.tobytes()
    for other in (sample_rng(4, 1, 17), sample_rng(3, 2, 17), sample_rng(3, 1, 18)):
        c, _ = synthesise(kind, face, lm, other)
        assert c.tobytes() != a.tobytes()
    # the input is left alone
    assert face.tobytes() == drawn_face(64)[0].tobytes()


def test_blend_rounds_and_keeps_the_target_where_weight_is_zero():
    target = np.array([[[10, 20, 30], [200, 100, 0]]], np.uint8)
    source = np.array([[[110, 120, 130], [0, 0, 255]]], np.uint8)
    out = blend(source, target, np.array([[0.25, 0.0]], np.float32))
    np.testing.assert_array_equal(out, [[[35, 45, 55], [200, 100, 0]]])


def test_bad_inputs_are_refused():
    face, lm = drawn_face(64)
    with pytest.raises(InputError, match="unknown synthesis"):
        synthesise("deepfake", face, lm, sample_rng(0, 0, 0))
    with pytest.raises(InputError, match="uint8"):
        self_blend(face.astype(np.float32), lm, sample_rng(0, 0, 0))
    with pytest.raises(InputError, match="68 x 2"):
        face_warp(face, lm[:60], sample_rng(0, 0, 0))
    with pytest.raises(InputError, match="hull"):
        self_blend(face, np.full((68, 2), -10, np.float32), sample_rng(0, 0, 0))


# -- the dataset ----------------------------------------------------------------------


def faces(n: int = 3, size: int = 64) -> list[tuple[np.ndarray, np.ndarray]]:
    return [drawn_face(size, seed) for seed in range(n)]


def test_dataset_pairs_each_real_face_with_a_fake():
    source = faces()
    ds = SynthesisDataset(source, SELF_BLENDED, seed=5)
    assert len(ds) == 6
    assert ds.meta["label"].tolist() == [0, 1, 0, 1, 0, 1]
    assert ds.meta["source_index"].tolist() == [0, 0, 1, 1, 2, 2]
    for i in range(len(ds)):
        x, label, index = ds[i]
        face, lm = source[i // 2]
        assert index == i and x.dtype == torch.uint8 and x.shape == (3, 64, 64)
        image = x.numpy().transpose(1, 2, 0)
        assert label == ds.meta["label"][i]
        if label == 0:
            assert image.tobytes() == face.tobytes()
        else:
            changed = (image != face).any(axis=-1)
            assert changed.any() and not (changed & ~reach(lm, 64)).any()
            expected, _ = self_blend(face, lm, sample_rng(5, 0, i // 2))
            assert image.tobytes() == expected.tobytes()
    x, label, index = ds[-1]
    assert index == 5 and label == 1
    with pytest.raises(IndexError):
        ds[6]


def test_dataset_is_reproducible_and_changes_fakes_by_epoch():
    source = faces()
    a = SynthesisDataset(source, KINDS, seed=11)
    b = SynthesisDataset(source, list(KINDS), seed=11)
    items = [a[i][0].numpy().tobytes() for i in range(len(a))]
    assert items == [b[i][0].numpy().tobytes() for i in range(len(b))]
    other_seed = SynthesisDataset(source, KINDS, seed=12)
    a.set_epoch(1)
    for i in range(len(a)):
        if i % 2 == 0:  # real faces do not change
            assert a[i][0].numpy().tobytes() == items[i]
        else:
            assert a[i][0].numpy().tobytes() != items[i]
            assert other_seed[i][0].numpy().tobytes() != items[i]


def test_dataset_draws_every_kind():
    source = faces(1)
    face, lm = source[0]
    expected = {kind: [] for kind in KINDS}
    ds = SynthesisDataset(source, KINDS, seed=0)
    seen = set()
    for epoch in range(12):
        ds.set_epoch(epoch)
        image = ds[1][0].numpy().transpose(1, 2, 0)
        for kind in KINDS:
            rng = sample_rng(0, epoch, 0)
            rng.integers(len(KINDS))  # the kind's draw
            expected[kind] = synthesise(kind, face, lm, rng)[0]
        match = [k for k in KINDS if expected[k].tobytes() == image.tobytes()]
        assert len(match) == 1
        seen.add(match[0])
    assert seen == set(KINDS)


def test_dataset_transform_and_collation():
    ds = SynthesisDataset(faces(), FACE_WARP, transform=lambda x: x.float() / 255)
    x, y, i = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert x.dtype == torch.float32 and x.shape == (4, 3, 64, 64)
    assert x.max() <= 1 and y.tolist() == [0, 1, 0, 1] and i.tolist() == [0, 1, 2, 3]


def test_dataset_refuses_unknown_kinds_and_fake_sources():
    with pytest.raises(InputError, match="choose from"):
        SynthesisDataset(faces(1), ["self_blended", "morph"])
    with pytest.raises(InputError, match="choose from"):
        SynthesisDataset(faces(1), [])

    class Labelled(list):
        """Faces whose meta says the second one is a fake."""

        meta = pd.DataFrame({"label": [0, 1]})

    with pytest.raises(InputError, match="real faces"):
        SynthesisDataset(Labelled(faces(2)))


def write_shard(path, drawn, size: int = 64, eye: int = 8) -> None:
    """A raw shard of two videos: a real one of the first half of ``drawn``
    (faces and landmarks), then a fake one of the second half."""
    half = len(drawn) // 2
    with ShardWriter(path, "raw", size, eye) as w:
        for v, label in enumerate([0, 1]):  # a real video, then a fake one
            items = [
                (
                    f,
                    f * 0.5,
                    FaceRecord(
                        face=face,
                        eyes=np.zeros((2, eye, eye, 3), np.uint8),
                        landmarks=lm,
                        box=np.zeros(4, np.float32),
                        crop_box=np.zeros(4, np.float32),
                        face_index=0,
                    ),
                )
                for f, (face, lm) in enumerate(drawn[half * v : half * (v + 1)])
            ]
            rows = make_rows(items, "raw", size, eye)
            w.add_video(f"vid{v}", label, "test", "train", rows)


def test_shard_faces_reads_the_real_rows(tmp_path):
    drawn = faces(4)
    path = tmp_path / "shard-00000.h5"
    write_shard(path, drawn)
    real = ShardFaces(path)
    assert len(real) == 2
    assert real.meta["video_id"].tolist() == ["vid0", "vid0"]
    for k in range(2):
        face, lm = real[k]
        assert face.tobytes() == drawn[k][0].tobytes()
        assert real.face(k).tobytes() == face.tobytes()
        np.testing.assert_array_equal(lm, drawn[k][1])
    ds = SynthesisDataset(real, SELF_BLENDED, seed=1)
    assert ds.meta["video_id"].tolist() == ["vid0"] * 4
    assert ds.meta["label"].tolist() == [0, 1, 0, 1]
    assert ds.meta["row"].tolist() == [0, 0, 1, 1]
    x, label, _ = ds[2]
    assert (
        label == 0 and x.numpy().transpose(1, 2, 0).tobytes() == drawn[1][0].tobytes()
    )
    x, label, _ = ds[3]
    assert (
        label == 1 and x.numpy().transpose(1, 2, 0).tobytes() != drawn[1][0].tobytes()
    )


def test_the_contact_sheet_shows_real_faces_of_the_shards_and_their_fakes(tmp_path):
    from deepfake_ensemble.train.sheet import contact_sheet

    drawn = faces(8)
    shard = tmp_path / "shard-00000.h5"
    write_shard(shard, drawn)
    out = tmp_path / "sheet.png"
    samples = contact_sheet(shard, out, n=3, seed=2)
    # real faces only (the fake video's are not drawn), spread over them
    assert [s["index"] for s in samples] == [0, 2, 3]
    assert {s["video_id"] for s in samples} == {"vid0"}
    for s in samples:
        face, lm = drawn[s["index"]]
        assert s["face"].tobytes() == face.tobytes()
        for kind in KINDS:
            image, mask = s[kind]
            expected = synthesise(kind, face, lm, sample_rng(2, 0, s["index"]))
            assert image.tobytes() == expected[0].tobytes()
            assert (image != face).any() and mask.max() == 1
    picture = cv2.imread(str(out))
    assert picture is not None and picture.shape[1] > picture.shape[0] > 100
    assert (
        contact_sheet(shard, tmp_path / "again.png", n=3, seed=2)[0][SELF_BLENDED][
            0
        ].tobytes()
        == samples[0][SELF_BLENDED][0].tobytes()
    )
    with pytest.raises(InputError, match="no real face"):
        contact_sheet([], tmp_path / "none.png")
