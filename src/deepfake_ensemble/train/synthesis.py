"""Fakes synthesised on the fly from real faces, as a training option.

Two kinds, both made from one real face crop and its 68 dlib landmarks, and
both changing the crop only inside a softened landmark hull (pixels where the
mask is 0 keep their input bytes):

* ``"self_blended"`` (:func:`self_blend`): self-blended images after Shiohara
  & Yamasaki (CVPR 2022). A copy of the face is jittered in colour (hue,
  saturation, value, brightness, contrast, per-channel shift), in frequency
  (downscaled or sharpened, or neither) and in geometry (a small scale and
  translation), and blended back over the face inside the hull mask, whose
  edge is randomly eroded or dilated and then Gaussian-blurred, at a random
  blend ratio. The fake carries only blending artefacts: a boundary and a
  colour or position mismatch, with no other identity.
* ``"face_warp"`` (:func:`face_warp`): face-warping artefacts after Li & Lyu
  (DSP-FWA, CVPRW 2019). The face region is aligned (eyes level, landmarks'
  square), downscaled by a random factor, Gaussian-blurred, upscaled and
  warped back, then pasted inside the softened hull: the resolution mismatch
  a face swap's affine warp leaves.

Everything random is drawn from a ``numpy.random.Generator`` passed in;
:func:`sample_rng` derives one per training item from ``(seed, epoch,
index)``, so an item's fake does not depend on the loader's order, its
workers or the process that made it, and changes from epoch to epoch.

:class:`SynthesisDataset` turns a source of real faces (:class:`ShardFaces`
over the real rows of face shards, or any sequence of ``(face, landmarks)``)
into a dataset of real faces and their fakes, with the items of
:class:`~deepfake_ensemble.train.datasets.FrameDataset`. numpy and OpenCV
only, beside torch for the dataset's tensors.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch

from ..errors import InputError
from ..preprocess.shards import ShardSet

__all__ = [
    "BLEND_RATIOS",
    "FACE_WARP",
    "KINDS",
    "SELF_BLENDED",
    "ShardFaces",
    "SynthesisDataset",
    "blend",
    "face_alignment",
    "face_warp",
    "hull_mask",
    "max_reach",
    "sample_rng",
    "self_blend",
    "soft_mask",
    "synthesise",
]

SELF_BLENDED = "self_blended"
FACE_WARP = "face_warp"
KINDS = (SELF_BLENDED, FACE_WARP)

# -- the mask's edge (both kinds); sizes are shares of the crop's side --------
#: diameter of the disc that erodes or dilates the hull
MORPH_KERNEL_SHARE = (0.02, 0.08)
#: side of the Gaussian kernel that softens the hull's edge
EDGE_BLUR_SHARE = (0.04, 0.16)

# -- self-blended images (values of the SBI paper where it gives them) ---------
#: blend ratio of the jittered copy, drawn uniformly from these (SBI's list)
BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)
#: hue shift, in OpenCV's hue units (2 degrees)
HUE_SHIFT = 5
#: saturation and value scale factors
SATURATION_SCALE = (0.8, 1.2)
VALUE_SCALE = (0.8, 1.2)
#: contrast factor (about mid-grey) and brightness shift, a share of 255
CONTRAST = (0.9, 1.1)
BRIGHTNESS = 0.1
#: shift of each RGB channel, in grey levels
CHANNEL_SHIFT = 20
#: downscale factor of the copy's frequency jitter, and unsharp-mask amount
SOURCE_DOWNSCALE = (2.0, 4.0)
SHARPEN_AMOUNT = (0.3, 1.0)
#: scale of the copy about the landmarks' centre
SOURCE_SCALE = (0.95, 1 / 0.95)
#: translation of the copy, a share of the crop's width and height
SOURCE_SHIFT = (0.03, 0.015)

# -- face-warping artefacts -----------------------------------------------------
#: the aligned face region is downscaled by a factor in this range
WARP_DOWNSCALE = (2.0, 8.0)
#: Gaussian kernel sides on the downscaled face (1: no blur)
WARP_BLUR_KERNELS = (1, 3, 5)
#: smallest side of the downscaled face, in pixels
MIN_WARP_SIDE = 4


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The random generator of one item: seeded by ``(seed, epoch, index)``
    (non-negative integers), independent of any other item's."""
    return np.random.default_rng([int(seed), int(epoch), int(index)])


def hull_mask(landmarks: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """The convex hull of ``landmarks`` (N x 2, x and y in pixels) filled on
    an image of ``size`` (side, or ``(height, width)``): float32, 1 inside
    and on the hull, 0 outside. Vertices are placed to 1/16 pixel. All 0
    where the hull has no area (fewer than 3 points, all on one line)."""
    h, w = (size, size) if np.isscalar(size) else size
    pts = np.asarray(landmarks, np.float32).reshape(-1, 2)
    mask = np.zeros((int(h), int(w)), np.uint8)
    if len(pts) < 3 or not np.isfinite(pts).all():
        return mask.astype(np.float32)
    hull = cv2.convexHull(pts)
    if cv2.contourArea(hull) >= 1:
        vertices = np.round(hull.reshape(-1, 2) * 16).astype(np.int32)
        cv2.fillConvexPoly(mask, vertices, 1, shift=4)
    return mask.astype(np.float32)


def _odd_side(share: float, side: int) -> int:
    """The odd kernel side nearest to ``share`` of ``side`` (at least 1)."""
    return 2 * int(round(share * side / 2)) + 1


def max_reach(size: int) -> int:
    """How far, in pixels (along x or y), :func:`soft_mask` can spread a
    hull on a crop of side ``size``: the largest dilation's radius plus the
    largest edge blur's."""
    return (
        _odd_side(MORPH_KERNEL_SHARE[1], size) // 2
        + _odd_side(EDGE_BLUR_SHARE[1], size) // 2
    )


def soft_mask(hull: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``hull`` (float32 0/1) eroded or dilated, with even odds, by a disc,
    then blurred by a Gaussian kernel, the disc's diameter and the kernel's
    side drawn from ``MORPH_KERNEL_SHARE`` and ``EDGE_BLUR_SHARE`` of the
    crop's side: the edge becomes a band of values between 0 and 1, at most
    :func:`max_reach` pixels beyond the hull; 0 further out."""
    side = min(hull.shape)
    radius = _odd_side(rng.uniform(*MORPH_KERNEL_SHARE), side) // 2
    b = _odd_side(rng.uniform(*EDGE_BLUR_SHARE), side)
    inside = (hull > 0).astype(np.uint8)
    # erosion or dilation by a disc as a threshold of the distance to the
    # edge (OpenCV's 5 x 5 chamfer distance: Euclidean to 2%, never below
    # the x or y distance), in a time that does not grow with the radius
    if rng.random() < 0.5:
        dist = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
        mask = (dist > radius).astype(np.float32)
    else:
        dist = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 5)
        mask = (dist <= radius).astype(np.float32)
    mask = cv2.GaussianBlur(mask, (b, b), 0)
    return np.clip(mask, 0.0, 1.0, out=mask)


def blend(source: np.ndarray, target: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``source * weight + target * (1 - weight)`` per pixel (``weight``
    float32 H x W in [0, 1]), rounded to uint8: ``target``'s bytes where
    ``weight`` is 0."""
    weight = np.ascontiguousarray(weight, np.float32)
    return cv2.blendLinear(source, target, weight, 1 - weight)


def _check(face: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A face crop (contiguous) and its landmarks (float32), validated."""
    face = np.asarray(face)
    if face.dtype != np.uint8 or face.ndim != 3 or face.shape[2] != 3:
        raise InputError(
            f"a face must be uint8 H x W x 3, not {face.dtype} {face.shape}"
        )
    lm = np.asarray(landmarks, np.float32)
    if lm.shape != (68, 2) or not np.isfinite(lm).all():
        raise InputError(f"landmarks must be 68 x 2 finite values, not {lm.shape}")
    return np.ascontiguousarray(face), lm


def _face_hull(face: np.ndarray, lm: np.ndarray) -> np.ndarray:
    hull = hull_mask(lm, face.shape[:2])
    if not hull.any():
        raise InputError("the landmarks' hull covers no pixel of the face crop")
    return hull


# -- self-blended images ------------------------------------------------------


def _jitter_colour(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Hue, saturation and value, then contrast, brightness and a shift per
    channel, each as a lookup table."""
    levels = np.arange(256, dtype=np.float32)
    dh = rng.integers(-HUE_SHIFT, HUE_SHIFT + 1)
    hsv_lut = np.stack(
        [
            (levels + dh) % 180,  # OpenCV's hue of uint8 images is 0..179
            levels * rng.uniform(*SATURATION_SCALE),
            levels * rng.uniform(*VALUE_SCALE),
        ],
        axis=-1,
    )
    hsv = cv2.cvtColor(face, cv2.COLOR_RGB2HSV)
    hsv = cv2.LUT(hsv, _lut(hsv_lut))
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    contrast = rng.uniform(*CONTRAST)
    offset = rng.uniform(-BRIGHTNESS, BRIGHTNESS) * 255
    shift = rng.integers(-CHANNEL_SHIFT, CHANNEL_SHIFT + 1, size=3)
    rgb_lut = (levels[:, None] - 128) * contrast + 128 + offset + shift[None, :]
    return cv2.LUT(rgb, _lut(rgb_lut))


def _lut(table: np.ndarray) -> np.ndarray:
    """A 256 x 3 table of levels as OpenCV's 3-channel lookup table."""
    return np.clip(np.rint(table), 0, 255).astype(np.uint8).reshape(256, 1, 3)


def _jitter_frequency(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """With equal odds: unchanged, downscaled and upscaled back, or
    sharpened (unsharp mask)."""
    choice = rng.integers(3)
    h, w = face.shape[:2]
    if choice == 1:
        f = rng.uniform(*SOURCE_DOWNSCALE)
        small = cv2.resize(
            face,
            (max(1, round(w / f)), max(1, round(h / f))),
            interpolation=cv2.INTER_AREA,
        )
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if choice == 2:
        a = rng.uniform(*SHARPEN_AMOUNT)
        return cv2.addWeighted(face, 1 + a, cv2.GaussianBlur(face, (3, 3), 0), -a, 0)
    return face


def _jitter_geometry(
    face: np.ndarray, lm: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Scaled about the landmarks' centre and translated (reflected border)."""
    h, w = face.shape[:2]
    s = rng.uniform(*SOURCE_SCALE)
    tx = rng.uniform(-1, 1) * SOURCE_SHIFT[0] * w
    ty = rng.uniform(-1, 1) * SOURCE_SHIFT[1] * h
    cx, cy = lm.mean(axis=0)
    m = np.array([[s, 0, (1 - s) * cx + tx], [0, s, (1 - s) * cy + ty]], np.float32)
    return cv2.warpAffine(
        face, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )


def self_blend(
    face: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A self-blended fake of ``face`` (uint8 H x W x 3 RGB) from its
    landmarks (68 x 2, crop pixels): ``(image, mask)``.

    ``mask`` (float32 H x W in [0, 1]) is :func:`soft_mask` of the landmarks'
    hull; the jittered copy is blended with weight ``mask * ratio``, the
    ratio drawn from ``BLEND_RATIOS``. Where ``mask`` is 0 the image keeps
    the input's bytes.
    """
    face, lm = _check(face, landmarks)
    mask = soft_mask(_face_hull(face, lm), rng)
    source = _jitter_colour(face, rng)
    source = _jitter_frequency(source, rng)
    source = _jitter_geometry(source, lm, rng)
    ratio = float(rng.choice(BLEND_RATIOS))
    return blend(source, face, mask * ratio), mask


# -- face-warping artefacts ----------------------------------------------------


def face_alignment(landmarks: np.ndarray, margin: float) -> tuple[np.ndarray, int]:
    """Affine map (float32 2 x 3) from a face crop to an aligned square, and
    the square's side: rotated about the origin so that the centres of the
    eyes (landmarks 36-41 and 42-47) are level, the image-left eye on the
    left, then shifted so that the landmarks' box is centred in the square,
    ``margin`` pixels or more from its edges."""
    lm = np.asarray(landmarks, np.float64)
    left, right = lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)
    angle = np.arctan2(right[1] - left[1], right[0] - left[0])
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, s], [-s, c]], np.float64)
    pts = lm @ rot.T
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    side = int(np.ceil((hi - lo).max() + 2 * margin))
    offset = side / 2 - (lo + hi) / 2
    return np.hstack([rot, offset[:, None]]).astype(np.float32), side


def face_warp(
    face: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A face-warping fake of ``face`` (uint8 H x W x 3 RGB) from its
    landmarks (68 x 2, crop pixels): ``(image, mask)``.

    The aligned face region is downscaled by a factor drawn from
    ``WARP_DOWNSCALE``, blurred with a kernel from ``WARP_BLUR_KERNELS``,
    upscaled and warped back, and pasted with weight ``mask``
    (:func:`soft_mask` of the landmarks' hull, float32 H x W in [0, 1]).
    Where ``mask`` is 0 the image keeps the input's bytes.
    """
    face, lm = _check(face, landmarks)
    h, w = face.shape[:2]
    mask = soft_mask(_face_hull(face, lm), rng)
    # the aligned square covers the mask's support, spread included
    m, side = face_alignment(lm, max_reach(min(h, w)) + 1)
    aligned = cv2.warpAffine(
        face,
        m,
        (side, side),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT_101,
    )
    small_side = max(MIN_WARP_SIDE, round(side / rng.uniform(*WARP_DOWNSCALE)))
    small = cv2.resize(aligned, (small_side, small_side), interpolation=cv2.INTER_AREA)
    k = int(rng.choice(WARP_BLUR_KERNELS))
    if k > 1:
        small = cv2.GaussianBlur(small, (k, k), 0)
    aligned = cv2.resize(small, (side, side), interpolation=cv2.INTER_LINEAR)
    warped = cv2.warpAffine(
        aligned,
        m,
        (w, h),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT_101,
    )
    return blend(warped, face, mask), mask


_TRANSFORMS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    SELF_BLENDED: self_blend,
    FACE_WARP: face_warp,
}


def synthesise(
    kind: str, face: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The fake of ``kind`` (one of ``KINDS``): ``(image, mask)``."""
    try:
        transform = _TRANSFORMS[kind]
    except KeyError:
        raise InputError(
            f"unknown synthesis {kind!r}; choose from {', '.join(KINDS)}"
        ) from None
    return transform(face, landmarks, rng)


# -- datasets -------------------------------------------------------------------


class ShardFaces:
    """The real faces (label 0) of face shards, as ``(face, landmarks)``.

    ``shards``: a shard directory, a shard file, a list of them, or an open
    :class:`ShardSet`. ``.meta`` has one line per face, with the columns of
    :class:`~deepfake_ensemble.train.datasets.FrameDataset`'s.
    """

    def __init__(self, shards: str | os.PathLike | Iterable | ShardSet):
        self.shards = shards if isinstance(shards, ShardSet) else ShardSet(shards)
        rows = self.shards.rows
        self.meta = rows.loc[
            rows["label"] == 0,
            [
                "video_id",
                "frame_index",
                "label",
                "face_index",
                "timestamp",
                "shard",
                "row",
            ],
        ].reset_index(drop=True)
        self._shard = self.meta["shard"].to_numpy(np.int64)
        self._row = self.meta["row"].to_numpy(np.int64)

    def __len__(self) -> int:
        return len(self.meta)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        shard, row = int(self._shard[i]), int(self._row[i])
        return self.shards.face(shard, row), self.shards.landmarks(shard, row)

    def face(self, i: int) -> np.ndarray:
        """Face ``i`` alone: a real item needs no landmarks, and reading
        them costs about half a face read."""
        return self.shards.face(int(self._shard[i]), int(self._row[i]))


class SynthesisDataset:
    """Real faces and fakes synthesised from them: ``(image, label, index)``,
    the items of :class:`~deepfake_ensemble.train.datasets.FrameDataset`.

    ``faces``: N real faces, a sequence of ``(face, landmarks)`` (uint8
    H x W x 3 RGB, 68 x 2), e.g. :class:`ShardFaces`; where it has a
    ``face(k)`` method, real items read the face alone. The dataset has 2N
    items: item ``2k`` is face ``k`` unchanged (label 0), item ``2k + 1`` a
    fake synthesised from it (label 1), so every epoch sees each face once
    as itself and once as a fake, the classes exactly balanced whatever the
    sampler. A fake's kind is drawn from ``kinds`` and its randomness from
    :func:`sample_rng` ``(seed, epoch, k)``: reproducible, the same in any
    worker, new each :meth:`set_epoch` (the training loop builds its
    DataLoader per epoch, so workers see the epoch set before).

    ``image`` is a uint8 tensor 3 x H x W; ``transform``, if given, is called
    on it and its result returned instead. ``.meta``: one line per item, the
    source's ``.meta`` columns where it has them, ``label`` set to the
    item's, and ``source_index`` (``k``).
    """

    def __init__(
        self,
        faces: Sequence[tuple[np.ndarray, np.ndarray]],
        kinds: str | Sequence[str] = SELF_BLENDED,
        seed: int = 0,
        transform: Callable[[torch.Tensor], Any] | None = None,
    ):
        self.faces = faces
        self.kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
        unknown = [k for k in self.kinds if k not in KINDS]
        if not self.kinds or unknown:
            raise InputError(
                f"synthesis kinds {list(self.kinds)}: choose from {', '.join(KINDS)}"
            )
        self.seed = int(seed)
        self.epoch = 0
        self.transform = transform
        self.meta = self._meta(faces)

    @staticmethod
    def _meta(faces) -> pd.DataFrame:
        n = len(faces)
        source = getattr(faces, "meta", None)
        if isinstance(source, pd.DataFrame) and len(source) == n:
            if "label" in source and (source["label"] != 0).any():
                raise InputError("fakes are synthesised from real faces (label 0)")
            meta = source.iloc[np.repeat(np.arange(n), 2)].reset_index(drop=True)
        else:
            meta = pd.DataFrame(index=range(2 * n))
        meta["label"] = np.tile(np.array([0, 1], np.int64), n)
        meta["source_index"] = np.repeat(np.arange(n, dtype=np.int64), 2)
        return meta

    def set_epoch(self, epoch: int) -> None:
        """Draw the fakes of ``epoch`` from now on."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return 2 * len(self.faces)

    def item(self, i: int) -> tuple[np.ndarray, int]:
        """Item ``i`` as a uint8 H x W x 3 array and its label."""
        k, fake = divmod(i, 2)
        if not fake:
            read = getattr(self.faces, "face", None)
            return (read(k) if callable(read) else self.faces[k][0]), 0
        face, landmarks = self.faces[k]
        rng = sample_rng(self.seed, self.epoch, k)
        kind = self.kinds[0]
        if len(self.kinds) > 1:
            kind = self.kinds[int(rng.integers(len(self.kinds)))]
        image, _ = synthesise(kind, face, landmarks, rng)
        return image, 1

    def __getitem__(self, i: int):
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        image, label = self.item(i)
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        if self.transform is not None:
            x = self.transform(x)
        return x, label, i
