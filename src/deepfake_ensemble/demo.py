"""Synthetic demo dataset in the DFDC layout, built offline from real face photos.

Every video shows one identity's face, cut out of a public photo with dlib
landmarks, composited on a textured background with smooth head motion, slow
lighting changes and sensor noise.

* REAL videos blink: the lids are drawn over the eye landmark polygons for a few
  frames every 2-6 s (the first blink starts between 0.5 s and 2.0 s).
* FAKE videos reuse the background, motion and lighting of one real video (their
  ``original``) but the face is swapped in from another identity, frame by frame:
  a landmark-aligned affine warp of the source face rendered at reduced
  resolution, blurred and scaled back (the "face warping artifacts" DSP-FWA
  learns), colour-matched and blended inside the landmark hull. Fakes never blink.

Output: ``out_dir/*.mp4`` (H.264, yuv420p) and ``out_dir/metadata.json`` mapping
each file name to ``{"label": "REAL"|"FAKE", "split": "train", "original": ...}``.
metadata.json is written last: its presence marks a complete dataset.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from deepfake_ensemble.errors import InputError
from deepfake_ensemble.facephotos import detect_faces, source_photos
from deepfake_ensemble.io import atomic_path, write_json

PORTRAIT = 256  # side of the aligned identity portraits
_EYES = (slice(36, 42), slice(42, 48))
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
_NAME = re.compile(r"^(real|fake)_\d{4,}\.mp4$")


@dataclass
class Identity:
    """An aligned portrait of one person with its landmarks and head mask."""

    name: str
    image: np.ndarray  # PORTRAIT x PORTRAIT x 3 float32 RGB, 0..255
    landmarks: np.ndarray  # 68 x 2 float32, portrait coordinates
    head_mask: np.ndarray  # PORTRAIT x PORTRAIT float32 in [0, 1]
    skin: np.ndarray  # 3 float32: colour of the upper eyelid skin

    def mirrored(self) -> Identity:
        image = np.ascontiguousarray(self.image[:, ::-1])
        pts = self.landmarks[_MIRROR].copy()
        pts[:, 0] = PORTRAIT - 1 - pts[:, 0]
        mask = np.ascontiguousarray(self.head_mask[:, ::-1])
        return Identity(self.name, image, pts, mask, self.skin)


# ---------------------------------------------------------------------------
# identities


def _align(
    image: np.ndarray, pts: np.ndarray, border: int = cv2.BORDER_REPLICATE
) -> tuple[np.ndarray, np.ndarray]:
    """Similarity-align a face: eyes level, fixed eye distance and position."""
    left = pts[_EYES[0]].mean(axis=0)
    right = pts[_EYES[1]].mean(axis=0)
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
    for eye in _EYES:
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


@lru_cache(maxsize=4)
def _identities_cached(wheel_path: str, mtime: float) -> tuple[Identity, ...]:
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
    identities = []
    for name, image, pts in found:
        if image.ndim == 3 and np.array_equal(image[..., 0], image[..., 2]):
            # a grey (and dark) photo: give the face a skin tone
            gain = np.clip(140 / max(float(np.median(image)), 1.0), 1.0, 1.6)
            image = np.clip(image * gain * np.array([1.12, 0.9, 0.74]), 0, 255)
        portrait, new_pts = _align(image.astype(np.float32), pts)
        # keep the head inside the photo: no smeared border pixels
        valid = _align(np.ones(image.shape[:2], np.float32), pts, cv2.BORDER_CONSTANT)[
            0
        ]
        valid = cv2.erode((valid > 0.99).astype(np.uint8), np.ones((7, 7), np.uint8))
        valid = cv2.GaussianBlur(valid.astype(np.float32), (0, 0), 2.0)
        mask = _head_mask(new_pts) * valid
        identities.append(
            Identity(name, portrait, new_pts, mask, _lid_skin(portrait, new_pts))
        )
    if len(identities) < 2:
        raise InputError(
            f"{wheel_path}: found only {len(identities)} faces in the source photos; "
            "the demo needs at least two identities"
        )
    return tuple(identities)


def load_identities(wheel_path: str | os.PathLike) -> list[Identity]:
    """Aligned identity portraits from the bundled face photos (8 people)."""
    path = Path(wheel_path)
    if not path.is_file():
        raise InputError(
            f"face photo archive {path} is missing; `make setup` fetches it "
            "(the insightface wheel, used only as a source of face photos)"
        )
    return list(_identities_cached(str(path.resolve()), path.stat().st_mtime))


# ---------------------------------------------------------------------------
# drawing helpers


def _draw_lids(
    image: np.ndarray, pts: np.ndarray, skin: np.ndarray, closure: float
) -> np.ndarray:
    """Portrait with both upper lids lowered by ``closure`` (0 open, 1 shut)."""
    if closure <= 0:
        return image
    out = image.copy()
    shift = 4  # fixed-point bits for sub-pixel polygons
    scale = 1 << shift
    mask = np.zeros(image.shape[:2], np.uint8)
    lid_lines = []
    for eye in _EYES:
        e = pts[eye].astype(np.float64)
        outer, up1, up2, inner, low2, low1 = e
        rest1 = low1 + 0.12 * (up1 - low1)
        rest2 = low2 + 0.12 * (up2 - low2)
        new1 = up1 + closure * (rest1 - up1)
        new2 = up2 + closure * (rest2 - up2)
        if closure >= 1:
            region = np.array([outer, up1, up2, inner, low2, low1])
        else:
            region = np.array([outer, up1, up2, inner, new2, new1])
        centre = e.mean(axis=0)
        region = centre + (region - centre) * np.array([1.12, 1.35])
        cv2.fillPoly(
            mask, [np.round(region * scale).astype(np.int32)], 255, cv2.LINE_AA, shift
        )
        lid_lines.append(np.array([outer, new1, new2, inner]))
    eye_width = float(np.linalg.norm(pts[39] - pts[36]))
    soft = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), 0.06 * eye_width)[
        ..., None
    ]
    # the lid is a little darker towards its edge
    out = out * (1 - soft) + (skin * 0.93) * soft
    line_colour = tuple(float(c) for c in skin * 0.3)
    thickness = max(1, round(0.09 * eye_width))
    for line in lid_lines:
        cv2.polylines(
            out,
            [np.round(line * scale).astype(np.int32)],
            False,
            line_colour,
            thickness,
            cv2.LINE_AA,
            shift,
        )
    return out


def _background(rng: np.random.Generator, side: int) -> np.ndarray:
    """Textured background: colour gradient, stripes and a few soft shapes."""
    base = rng.uniform(40, 215, 3)
    coarse = rng.normal(0, 28, (4, 4, 3)).astype(np.float32)
    img = cv2.resize(coarse, (side, side), interpolation=cv2.INTER_CUBIC) + base
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    theta = rng.uniform(0, np.pi)
    period = rng.uniform(8, 30)
    stripes = np.sin((xx * np.cos(theta) + yy * np.sin(theta)) * 2 * np.pi / period)
    img += (rng.uniform(6, 18) * stripes)[..., None] * rng.uniform(0.5, 1.0, 3)
    for _ in range(rng.integers(2, 6)):
        colour = tuple(float(c) for c in rng.uniform(20, 235, 3))
        centre = (int(rng.integers(0, side)), int(rng.integers(0, side)))
        if rng.random() < 0.5:
            axes = (
                int(rng.integers(side // 12, side // 4)),
                int(rng.integers(side // 12, side // 4)),
            )
            cv2.ellipse(
                img,
                centre,
                axes,
                float(rng.uniform(0, 180)),
                0,
                360,
                colour,
                -1,
                cv2.LINE_AA,
            )
        else:
            corner = (
                centre[0] + int(rng.integers(side // 10, side // 3)),
                centre[1] + int(rng.integers(side // 10, side // 3)),
            )
            cv2.rectangle(img, centre, corner, colour, -1, cv2.LINE_AA)
    img += rng.normal(0, 4, img.shape).astype(np.float32)
    return cv2.GaussianBlur(img, (0, 0), 1.2)


def _smooth(
    rng: np.random.Generator, t: np.ndarray, amplitude: float, fmin: float, fmax: float
) -> np.ndarray:
    """A smooth random signal: two sines of random frequency and phase."""
    out = np.zeros_like(t)
    for _ in range(2):
        f = rng.uniform(fmin, fmax)
        out += np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    return amplitude * out / 2


def _blink_schedule(
    rng: np.random.Generator, n_frames: int, fps: float
) -> tuple[np.ndarray, list[int]]:
    """Lid closure per frame (0 open, 0.5 half, 1 shut) and the blink starts."""
    closure = np.zeros(n_frames, np.float32)
    starts: list[int] = []
    duration = n_frames / fps

    def shut_frames() -> int:
        return max(1, round(rng.uniform(0.2, 0.4) * fps))

    k = shut_frames()
    latest = min(2.0, (n_frames - k) / fps)
    t = rng.uniform(0.5, latest) if latest > 0.5 else max(latest, 0.0)
    while t < duration:
        start = round(t * fps)
        if start + 1 > n_frames:
            break
        end = min(start + k, n_frames)
        closure[start:end] = 1.0
        for half in (start - 1, end):
            if 0 <= half < n_frames and closure[half] == 0:
                closure[half] = 0.5
        starts.append(start)
        t += rng.uniform(2.0, 6.0)
        k = shut_frames()
    return closure, starts


def _yaw(identity: Identity) -> float:
    """Head turn: 0 frontal, towards -1 or +1 for a profile (nose to jaw ends)."""
    p = identity.landmarks
    a, b = np.linalg.norm(p[30] - p[0]), np.linalg.norm(p[30] - p[16])
    return float((a - b) / (a + b))


def _pick_source(
    rng: np.random.Generator, identities: list[Identity], target: Identity
) -> Identity:
    """Another person, as is or mirrored, whose head turn is close to the target's
    (like a face-swap pipeline pairing faces of similar pose)."""
    candidates = [
        variant
        for x in identities
        if x.name != target.name
        for variant in (x, x.mirrored())
    ]
    gaps = np.array([abs(_yaw(c) - _yaw(target)) for c in candidates])
    close = np.flatnonzero(gaps < 0.25)
    if len(close) == 0:
        close = np.array([int(np.argmin(gaps))])
    return candidates[int(close[rng.integers(len(close))])]


def _fit_affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares 2x3 affine map from ``src`` points onto ``dst`` points."""
    a = np.hstack([src, np.ones((len(src), 1))]).astype(np.float64)
    sol, *_ = np.linalg.lstsq(a, dst.astype(np.float64), rcond=None)
    return sol.T


# ---------------------------------------------------------------------------
# scenes


@dataclass
class Scene:
    """Everything a real video and the fakes made from it share."""

    identity: Identity
    background: np.ndarray
    margin: int
    transforms: np.ndarray  # n_frames x 2 x 3, portrait -> frame
    camera: np.ndarray  # n_frames x 2 int offsets into the background
    gain: np.ndarray  # n_frames
    tint: np.ndarray  # n_frames x 3
    slope: np.ndarray  # n_frames (horizontal light gradient)
    torso_colour: tuple[float, float, float]
    closure: np.ndarray  # n_frames
    blink_starts: list[int]
    noise_seed: tuple[int, ...]
    size: int


def _make_scene(
    rng: np.random.Generator,
    identity: Identity,
    n_frames: int,
    fps: float,
    size: int,
    noise_seed: tuple[int, ...],
) -> Scene:
    if rng.random() < 0.5:
        identity = identity.mirrored()
    tone = rng.uniform(0.92, 1.08) * rng.uniform(0.97, 1.03, 3).astype(np.float32)
    identity = Identity(
        identity.name,
        identity.image * tone,
        identity.landmarks,
        identity.head_mask,
        identity.skin * tone,
    )
    margin = max(4, size // 10)
    background = _background(rng, size + 2 * margin)
    t = np.arange(n_frames) / fps
    pts = identity.landmarks
    jaw_width = float(pts[16, 0] - pts[0, 0])
    face_centre = pts.mean(axis=0)
    width_frac = rng.uniform(0.47, 0.55)
    scale = width_frac * size / jaw_width * (1 + _smooth(rng, t, 0.035, 0.05, 0.3))
    angle = np.deg2rad(rng.uniform(-4, 4) + _smooth(rng, t, 4.0, 0.1, 0.5))
    cx = size * (0.5 + rng.uniform(-0.03, 0.03)) + _smooth(
        rng, t, 0.04 * size, 0.05, 0.4
    )
    cy = size * (0.52 + rng.uniform(-0.03, 0.03)) + _smooth(
        rng, t, 0.03 * size, 0.05, 0.4
    )
    cos, sin = scale * np.cos(angle), scale * np.sin(angle)
    transforms = np.zeros((n_frames, 2, 3), np.float64)
    transforms[:, 0, 0], transforms[:, 0, 1] = cos, -sin
    transforms[:, 1, 0], transforms[:, 1, 1] = sin, cos
    transforms[:, 0, 2] = cx - (cos * face_centre[0] - sin * face_centre[1])
    transforms[:, 1, 2] = cy - (sin * face_centre[0] + cos * face_centre[1])
    camera = np.stack(
        [
            _smooth(rng, t, margin * 0.8, 0.02, 0.15),
            _smooth(rng, t, margin * 0.8, 0.02, 0.15),
        ],
        axis=1,
    )
    camera = np.clip(np.round(camera + margin), 0, 2 * margin).astype(int)
    gain = 1 + _smooth(rng, t, 0.12, 0.05, 0.2)
    tint = 1 + np.stack([_smooth(rng, t, 0.04, 0.03, 0.15) for _ in range(3)], axis=1)
    slope = rng.uniform(-0.2, 0.2) + _smooth(rng, t, 0.1, 0.03, 0.15)
    torso = tuple(float(c) for c in rng.uniform(20, 220, 3))
    closure, starts = _blink_schedule(rng, n_frames, fps)
    return Scene(
        identity,
        background,
        margin,
        transforms,
        camera,
        gain,
        tint,
        slope,
        torso,
        closure,
        starts,
        noise_seed,
        size,
    )


def _render(scene: Scene, i: int, closure: float) -> np.ndarray:
    """One frame (float32 RGB) with the lids lowered by ``closure``."""
    size = scene.size
    ident = scene.identity
    ox, oy = scene.camera[i]
    frame = scene.background[oy : oy + size, ox : ox + size].copy()
    m = scene.transforms[i]
    pts = ident.landmarks @ m[:, :2].T + m[:, 2]
    jaw_w = float(np.linalg.norm(pts[16] - pts[0]))
    chin = pts[8]
    neck_dir = np.array([-m[0, 1], m[1, 1]]) / np.hypot(m[0, 1], m[1, 1])
    # torso and neck below the chin
    torso_c = chin + neck_dir * 0.9 * jaw_w
    cv2.ellipse(
        frame,
        (int(round(torso_c[0])), int(round(torso_c[1]))),
        (int(round(1.4 * jaw_w)), int(round(0.6 * jaw_w))),
        0,
        0,
        360,
        scene.torso_colour,
        -1,
        cv2.LINE_AA,
    )
    normal = np.array([neck_dir[1], -neck_dir[0]])
    top = chin - neck_dir * 0.25 * jaw_w
    bottom = chin + neck_dir * 0.75 * jaw_w
    half = normal * 0.27 * jaw_w
    neck = np.array([top - half, top + half, bottom + half, bottom - half])
    cv2.fillConvexPoly(
        frame,
        np.round(neck * 16).astype(np.int32),
        tuple(float(c) for c in ident.skin * 0.8),
        cv2.LINE_AA,
        4,
    )
    portrait = _draw_lids(ident.image, ident.landmarks, ident.skin, closure)
    face = cv2.warpAffine(
        portrait,
        m,
        (size, size),
        flags=cv2.INTER_AREA if m[0, 0] ** 2 + m[1, 0] ** 2 < 1 else cv2.INTER_LINEAR,
    )
    alpha = cv2.warpAffine(ident.head_mask, m, (size, size), flags=cv2.INTER_LINEAR)[
        ..., None
    ]
    frame = frame * (1 - alpha) + face * alpha
    return _light(scene, i, frame)


def _light(scene: Scene, i: int, frame: np.ndarray) -> np.ndarray:
    size = scene.size
    ramp = 1 + scene.slope[i] * (np.arange(size, dtype=np.float32) / size - 0.5)
    frame = frame * (scene.gain[i] * ramp)[None, :, None] * scene.tint[i]
    noise_rng = np.random.default_rng([*scene.noise_seed, i])
    frame = frame + noise_rng.normal(0, 2.0, frame.shape)
    return frame.astype(np.float32)


@dataclass
class SwapParams:
    source: Identity
    factor: float  # resolution of the swapped face relative to the frame
    blur: float  # Gaussian sigma at the reduced resolution
    jitter: float  # landmark jitter (frame pixels) per frame
    seed: tuple[int, ...]


def _swap(scene: Scene, i: int, base: np.ndarray, params: SwapParams) -> np.ndarray:
    """Swap the source face onto the scene's face in frame ``i`` (with FWA)."""
    size = scene.size
    m = scene.transforms[i]
    target = scene.identity.landmarks @ m[:, :2].T + m[:, 2]
    rng = np.random.default_rng([*params.seed, i])
    noisy = target + rng.normal(0, params.jitter, target.shape)
    src = params.source
    a = _fit_affine(src.landmarks, noisy)
    # face warping artifacts: render small, blur, scale back up
    f = params.factor * rng.uniform(0.9, 1.1)
    small = max(8, int(round(size * f)))
    f = small / size
    a_small = a * f
    low = cv2.warpAffine(
        src.image,
        a_small,
        (small, small),
        flags=cv2.INTER_AREA,
        borderMode=cv2.BORDER_REPLICATE,
    )
    low = cv2.GaussianBlur(low, (0, 0), params.blur)
    swapped = cv2.resize(low, (size, size), interpolation=cv2.INTER_LINEAR)
    # mask: hull of jaw and brows of the target face
    hull_pts = target[0:27].copy()
    brow_lift = 0.08 * float(np.linalg.norm(target[8] - target[27]))
    up = (target[27] - target[8]) / max(
        float(np.linalg.norm(target[27] - target[8])), 1e-6
    )
    hull_pts[17:27] += up * brow_lift
    hull_pts = target[30] + (hull_pts - target[30]) * 0.93
    hull = cv2.convexHull(hull_pts.astype(np.float32))
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, np.round(hull * 16).astype(np.int32), 255, cv2.LINE_AA, 4)
    erode = max(1, size // 80)
    mask = cv2.erode(mask, np.ones((2 * erode + 1, 2 * erode + 1), np.uint8))
    inside = mask > 127
    if inside.sum() > 20:
        s_mean, s_std = swapped[inside].mean(0), swapped[inside].std(0) + 1e-3
        b_mean, b_std = base[inside].mean(0), base[inside].std(0) + 1e-3
        ratio = np.clip(b_std / s_std, 0.7, 1.4)
        swapped = (swapped - s_mean) * ratio + b_mean
    soft = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), max(1.0, size / 90))[
        ..., None
    ]
    return base * (1 - soft) + swapped * soft


# ---------------------------------------------------------------------------
# video files


def _to_uint8(frame: np.ndarray) -> np.ndarray:
    return np.clip(np.round(frame), 0, 255).astype(np.uint8)


def write_video(frames: list[np.ndarray], path: str | os.PathLike, fps: float) -> None:
    """Write RGB uint8 frames as H.264 (yuv420p, crf 20), atomically.

    Reproducible byte for byte: one encoder thread, and x264's macroblock-tree
    rate control off (with it on, repeated runs on the same frames were found to
    give different streams). Width and height must be even.
    """
    import av

    height, width = frames[0].shape[:2]
    rate = Fraction(fps).limit_denominator(1001)
    with (
        atomic_path(path, suffix=".mp4") as tmp,
        av.open(str(tmp), mode="w", format="mp4") as container,
    ):
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1
        stream.options = {
            "crf": "20",
            "preset": "medium",
            "threads": "1",
            "x264-params": "threads=1:mbtree=0",
        }
        for index, frame in enumerate(frames):
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts = index
            for packet in stream.encode(video_frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# ---------------------------------------------------------------------------
# public entry point


def generate_demo_dataset(
    out_dir: str | os.PathLike,
    wheel_path: str | os.PathLike,
    n_real: int = 110,
    n_fake: int = 110,
    duration_s: float = 4.0,
    fps: float = 10,
    size: int = 160,
    seed: int = 7,
    progress: bool = True,
) -> pd.DataFrame:
    """Write the demo dataset (DFDC layout) to ``out_dir`` and describe it.

    Returns one row per video with columns ``name, label, original, identity,
    n_frames, blinks, source_identity, blink_frames``: ``identity`` is the person
    of the scene (for a fake, the person of its original), ``source_identity`` the
    face shown (for a fake, the person swapped in), ``blink_frames`` the frame
    indices with the lids fully shut (space-separated; a half-closed frame comes
    before and after each blink).
    """
    n_frames = int(round(duration_s * fps))
    if n_real < 1 or n_fake < 0:
        raise InputError(
            f"demo: n_real must be >= 1 and n_fake >= 0 (got {n_real}, {n_fake})"
        )
    if n_frames < 1:
        raise InputError(
            f"demo: duration_s * fps gives no frames ({duration_s} s, {fps} fps)"
        )
    if size < 64 or size % 2:
        raise InputError(f"demo: size must be an even number >= 64 (got {size})")
    identities = load_identities(wheel_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    metadata_path = out_dir / "metadata.json"
    # an interrupted run must not leave a finished-looking dataset behind
    metadata_path.unlink(missing_ok=True)

    # balanced identity assignment for the real videos
    order_rng = np.random.default_rng([seed, 3])
    order: list[int] = []
    while len(order) < n_real:
        order.extend(order_rng.permutation(len(identities)).tolist())
    # which real video each fake is made from
    if n_fake <= n_real:
        originals = [(j * n_real) // n_fake for j in range(n_fake)]
    else:
        originals = [j % n_real for j in range(n_fake)]
    fakes_of: dict[int, list[int]] = {}
    for j, i in enumerate(originals):
        fakes_of.setdefault(i, []).append(j)

    rows: list[dict] = []
    metadata: dict[str, dict] = {}
    bar = tqdm(
        total=n_real + n_fake,
        desc="demo videos",
        unit="video",
        disable=None if progress else True,
    )
    for i in range(n_real):
        rng = np.random.default_rng([seed, 0, i])
        scene = _make_scene(
            rng, identities[order[i]], n_frames, fps, size, (seed, 2, i)
        )
        base = [_render(scene, k, 0.0) for k in range(n_frames)]
        real = [
            _render(scene, k, float(c)) if c > 0 else base[k]
            for k, c in enumerate(scene.closure)
        ]
        real_name = f"real_{i:04d}.mp4"
        write_video([_to_uint8(f) for f in real], out_dir / real_name, fps)
        metadata[real_name] = {"label": "REAL", "split": "train", "original": None}
        blink_frames = " ".join(str(k) for k in np.flatnonzero(scene.closure >= 1))
        rows.append(
            dict(
                name=real_name,
                label="REAL",
                original=None,
                identity=scene.identity.name,
                n_frames=n_frames,
                blinks=len(scene.blink_starts),
                source_identity=scene.identity.name,
                blink_frames=blink_frames,
            )
        )
        bar.update()
        for j in fakes_of.get(i, []):
            frng = np.random.default_rng([seed, 1, j])
            source = _pick_source(frng, identities, scene.identity)
            params = SwapParams(
                source=source,
                factor=float(frng.uniform(0.4, 0.65)),
                blur=float(frng.uniform(0.4, 0.8)),
                jitter=float(frng.uniform(0.2, 0.6)),
                seed=(seed, 4, j),
            )
            fake = [_swap(scene, k, base[k], params) for k in range(n_frames)]
            fake_name = f"fake_{j:04d}.mp4"
            write_video([_to_uint8(f) for f in fake], out_dir / fake_name, fps)
            metadata[fake_name] = {
                "label": "FAKE",
                "split": "train",
                "original": real_name,
            }
            rows.append(
                dict(
                    name=fake_name,
                    label="FAKE",
                    original=real_name,
                    identity=scene.identity.name,
                    n_frames=n_frames,
                    blinks=0,
                    source_identity=source.name,
                    blink_frames="",
                )
            )
            bar.update()
    bar.close()
    # files of an earlier, larger run would otherwise linger beside the new ones
    for path in out_dir.iterdir():
        if _NAME.match(path.name) and path.name not in metadata:
            path.unlink()
    write_json(dict(sorted(metadata.items())), metadata_path)
    df = pd.DataFrame(rows)
    df = df.sort_values(["label", "name"], ascending=[False, True])
    return df.reset_index(drop=True)
