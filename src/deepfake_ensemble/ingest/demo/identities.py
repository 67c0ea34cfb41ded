"""Identities: the people of the face photos as aligned portraits, with their
landmarks, a soft head mask and the skin colour of their eyelids.

The photos show eight people. Each can be turned into several *synthetic
variants*, deterministic and visible changes of skin tone and face shape (jaw
width and lower-face length), so that the demo has more identities than
photographed people: variant 0 is the person as photographed, variant ``k`` is
named ``<person>-v<k>``. Variants of one person are different identities of
the demo (different groups of the split) but share one ``person``; fakes never
swap a person's face onto another variant of the same person.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from ...errors import InputError
from .photos import detect_faces, source_photos

PORTRAIT = 256  # side of the aligned identity portraits
EYES = (slice(36, 42), slice(42, 48))  # landmark ranges of the two eyes
# landmark index permutation that maps a face onto its mirror image
_MIRROR = np.array(
    list(range(16, -1, -1))
    + list(range(26, 16, -1))
    + [27, 28, 29, 30]
    + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46]
    + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
    + [64, 63, 62, 61, 60, 67, 66, 65]
)


@dataclass
class Identity:
    """An aligned portrait of one person with its landmarks and head mask."""

    name: str
    image: np.ndarray  # PORTRAIT x PORTRAIT x 3 float32 RGB, 0..255
    landmarks: np.ndarray  # 68 x 2 float32, portrait coordinates
    head_mask: np.ndarray  # PORTRAIT x PORTRAIT float32 in [0, 1]
    skin: np.ndarray  # 3 float32: colour of the upper eyelid skin
    person: str = ""  # the photographed person (variants share it)

    def __post_init__(self) -> None:
        if not self.person:
            self.person = self.name

    def mirrored(self) -> Identity:
        image = np.ascontiguousarray(self.image[:, ::-1])
        pts = self.landmarks[_MIRROR].copy()
        pts[:, 0] = PORTRAIT - 1 - pts[:, 0]
        mask = np.ascontiguousarray(self.head_mask[:, ::-1])
        return Identity(self.name, image, pts, mask, self.skin, self.person)


class Variant(NamedTuple):
    """A synthetic variant: RGB gain of the whole head and face-shape warp."""

    tone: tuple[float, float, float]
    jaw: float  # relative widening of the face at the chin (negative: narrower)
    length: float  # relative stretch of the face below the eyes


# skin tones and face shapes that variants combine (the first of each: as is)
_TONES = (
    (1.0, 1.0, 1.0),
    (0.76, 0.64, 0.55),  # darker, warmer
    (1.08, 1.0, 0.98),  # lighter, rosier
    (0.94, 0.92, 0.7),  # olive
)
_SHAPES = ((0.0, 0.0), (0.2, -0.06), (-0.15, 0.12))
MAX_VARIANTS = len(_TONES) * len(_SHAPES)


def variant(k: int) -> Variant:
    """The ``k``-th synthetic variant (0: as photographed); every pair of tone
    and shape occurs once in the first :data:`MAX_VARIANTS`."""
    tone = _TONES[k % len(_TONES)]
    jaw, length = _SHAPES[(k // len(_TONES) + k) % len(_SHAPES)]
    return Variant(tone, jaw, length)


def _align(
    image: np.ndarray, pts: np.ndarray, border: int = cv2.BORDER_REPLICATE
) -> tuple[np.ndarray, np.ndarray]:
    """Similarity-align a face: eyes level, fixed eye distance and position."""
    left = pts[EYES[0]].mean(axis=0)
    right = pts[EYES[1]].mean(axis=0)
    d = right - left
    angle = np.arctan2(d[1], d[0])
    scale = 0.26 * PORTRAIT / float(np.hypot(*d))
    cos, sin = scale * np.cos(-angle), scale * np.sin(-angle)
    rot = np.array([[cos, -sin], [sin, cos]], dtype=np.float64)
    mid = (left + right) / 2
    target = np.array([PORTRAIT / 2, 0.40 * PORTRAIT])
    m = np.hstack([rot, (target - rot @ mid)[:, None]])
    out = cv2.warpAffine(
        image,
        m,
        (PORTRAIT, PORTRAIT),
        flags=cv2.INTER_CUBIC,
        borderMode=border,
    )
    new_pts = pts @ rot.T + m[:, 2]
    return out.astype(np.float32), new_pts.astype(np.float32)


def _head_mask(pts: np.ndarray) -> np.ndarray:
    """Soft mask of the head: landmark jaw line plus a rounded skull above."""
    jaw = pts[0:17]
    brow_y = float(pts[17:27, 1].min())
    chin_y = float(pts[8, 1])
    half_w = float(jaw[16, 0] - jaw[0, 0]) / 2 * 1.04
    cx = float(jaw[:, 0].mean())
    height = chin_y - brow_y
    angles = np.linspace(np.pi, 2 * np.pi, 25)
    top = np.stack(
        [
            cx + half_w * np.cos(angles),
            brow_y + 0.1 * height + 0.6 * height * np.sin(angles),
        ],
        axis=1,
    )
    hull = cv2.convexHull(np.concatenate([jaw, top]).astype(np.float32))
    mask = np.zeros((PORTRAIT, PORTRAIT), np.uint8)
    cv2.fillConvexPoly(mask, np.round(hull).astype(np.int32), 255, cv2.LINE_AA)
    mask = cv2.erode(mask, np.ones((5, 5), np.uint8))
    return cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), 3.0)


def _lid_skin(image: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Skin colour for the eyelids: the strip between eye and brow, mixed
    with the cheeks (brow shadows make the strip alone too dark)."""
    samples = []
    for eye in EYES:
        e = pts[eye]
        x0, x1 = int(e[:, 0].min()), int(e[:, 0].max())
        width = x1 - x0
        top = float(e[1:3, 1].min())
        y0, y1 = int(top - 0.45 * width), int(top - 0.15 * width)
        patch = image[max(y0, 0) : max(y1, 1), max(x0, 0) : max(x1, 1)]
        samples.append(patch.reshape(-1, 3))
    lid = np.median(np.concatenate(samples), axis=0)
    mask = np.zeros(image.shape[:2], np.uint8)
    for idx in ([1, 2, 3, 4, 48, 31, 40], [15, 14, 13, 12, 54, 35, 47]):
        hull = cv2.convexHull(pts[idx].astype(np.float32))
        cv2.fillConvexPoly(mask, np.round(hull).astype(np.int32), 1)
    cheek = np.median(image[mask > 0], axis=0)
    return (0.25 * lid + 0.75 * cheek).astype(np.float32)


@lru_cache(maxsize=2)
def _photo_faces(
    wheel_path: str, mtime: float
) -> tuple[tuple[str, np.ndarray, np.ndarray], ...]:
    """(name, photo, landmarks) of every person found in the source photos."""
    photos = source_photos(wheel_path)
    found: list[tuple[str, np.ndarray, np.ndarray]] = []
    for photo, image in photos.items():
        faces = detect_faces(image, photo, upsample=0)
        if photo in ("astronaut", "tom_hanks") and faces:
            # one person in these photos: keep the largest detection
            faces = [max(faces, key=lambda f: f.box[2] - f.box[0])]
            found.append((photo, image, faces[0].landmarks))
        else:
            for face in faces:
                found.append((f"{photo}_{face.index}", image, face.landmarks))
    return tuple(found)


def _reshape(
    image: np.ndarray, valid: np.ndarray, pts: np.ndarray, jaw: float, length: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Warp a portrait's face shape: stretch it below the eyes by ``length`` and
    widen it towards the chin by ``jaw`` (about the nose line). Returns the
    image, the valid-pixel map and the landmarks, all warped."""
    eye_y = float(pts[36:48, 1].mean())
    chin_y = float(pts[8, 1])
    cx = float(pts[27:31, 0].mean())

    def width_gain(y: np.ndarray) -> np.ndarray:
        u = np.clip((y - eye_y) / max(chin_y - eye_y, 1.0), 0.0, 1.0)
        return 1 + jaw * u * u * (3 - 2 * u)  # smoothstep from eyes to chin

    # forward map of the landmarks
    new = pts.astype(np.float64).copy()
    below = new[:, 1] > eye_y
    new[:, 0] = cx + (new[:, 0] - cx) * width_gain(pts[:, 1].astype(np.float64))
    new[below, 1] = eye_y + (new[below, 1] - eye_y) * (1 + length)
    # inverse map for the pixels
    yy, xx = np.mgrid[0:PORTRAIT, 0:PORTRAIT].astype(np.float64)
    src_y = np.where(yy > eye_y, eye_y + (yy - eye_y) / (1 + length), yy)
    src_x = cx + (xx - cx) / width_gain(src_y)
    map_x, map_y = src_x.astype(np.float32), src_y.astype(np.float32)
    out = cv2.remap(image, map_x, map_y, cv2.INTER_CUBIC, None, cv2.BORDER_REPLICATE)
    valid = cv2.remap(valid, map_x, map_y, cv2.INTER_LINEAR, None, cv2.BORDER_CONSTANT)
    return out, valid, new.astype(np.float32)


def _make_identity(
    name: str, image: np.ndarray, pts: np.ndarray, person: str, var: Variant
) -> Identity:
    """The aligned portrait of the face with landmarks ``pts`` in ``image``,
    changed as the synthetic variant ``var`` says."""
    if image.ndim == 3 and np.array_equal(image[..., 0], image[..., 2]):
        # a grey (and dark) photo: give the face a skin tone
        gain = np.clip(140 / max(float(np.median(image)), 1.0), 1.0, 1.6)
        image = np.clip(image * gain * np.array([1.12, 0.9, 0.74]), 0, 255)
    portrait, new_pts = _align(image.astype(np.float32), pts)
    # keep the head inside the photo: no smeared border pixels
    valid = _align(np.ones(image.shape[:2], np.float32), pts, cv2.BORDER_CONSTANT)[0]
    if var.jaw or var.length:
        portrait, valid, new_pts = _reshape(
            portrait, valid, new_pts, var.jaw, var.length
        )
    portrait = np.clip(portrait * np.asarray(var.tone, np.float32), 0, 255)
    valid = cv2.erode((valid > 0.99).astype(np.uint8), np.ones((7, 7), np.uint8))
    valid = cv2.GaussianBlur(valid.astype(np.float32), (0, 0), 2.0)
    mask = _head_mask(new_pts) * valid
    skin = _lid_skin(portrait, new_pts)
    return Identity(name, portrait, new_pts, mask, skin, person)


@lru_cache(maxsize=4)
def _identities_cached(
    wheel_path: str, mtime: float, variants: int
) -> tuple[Identity, ...]:
    faces = _photo_faces(wheel_path, mtime)
    if len(faces) < 2:
        raise InputError(
            f"{wheel_path}: found only {len(faces)} faces in the source photos; "
            "the demo needs at least two people"
        )
    return tuple(
        _make_identity(person if k == 0 else f"{person}-v{k}", image, pts, person, var)
        for k, var in enumerate(variant(k) for k in range(variants))
        for person, image, pts in faces
    )


def load_identities(wheel_path: str | os.PathLike, variants: int = 1) -> list[Identity]:
    """Aligned identity portraits from the bundled face photos: the 8 people
    photographed, each in ``variants`` synthetic variants (1: the photos only),
    ordered variant by variant."""
    if not 1 <= variants <= MAX_VARIANTS:
        raise InputError(
            f"demo: identity_variants must be between 1 and {MAX_VARIANTS} "
            f"(got {variants})"
        )
    path = Path(wheel_path)
    if not path.is_file():
        raise InputError(
            f"face photo archive {path} is missing; `make setup` fetches it "
            "(the insightface wheel, used only as a source of face photos)"
        )
    return list(_identities_cached(str(path.resolve()), path.stat().st_mtime, variants))
