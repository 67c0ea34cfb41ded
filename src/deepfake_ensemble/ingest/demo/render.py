"""Rendering: the scene of a real video (background, head motion, lighting,
blinks) and its frames, the face composited on a textured background; the
degradation of a low-quality upload."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .blink import blink_schedule, draw_lids
from .identities import Identity

SENSOR_NOISE = 2.0  # sigma of the per-pixel sensor noise of every frame


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


def _varied(rng: np.random.Generator, identity: Identity) -> Identity:
    """The identity, mirrored at random and with a slightly different skin tone."""
    if rng.random() < 0.5:
        identity = identity.mirrored()
    tone = rng.uniform(0.92, 1.08) * rng.uniform(0.97, 1.03, 3).astype(np.float32)
    return Identity(
        identity.name,
        identity.image * tone,
        identity.landmarks,
        identity.head_mask,
        identity.skin * tone,
        identity.person,
    )


def _head_motion(
    rng: np.random.Generator, pts: np.ndarray, t: np.ndarray, size: int
) -> np.ndarray:
    """Portrait-to-frame transforms per frame: the head drifts, turns in the
    image plane and changes size smoothly."""
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
    transforms = np.zeros((len(t), 2, 3), np.float64)
    transforms[:, 0, 0], transforms[:, 0, 1] = cos, -sin
    transforms[:, 1, 0], transforms[:, 1, 1] = sin, cos
    transforms[:, 0, 2] = cx - (cos * face_centre[0] - sin * face_centre[1])
    transforms[:, 1, 2] = cy - (sin * face_centre[0] + cos * face_centre[1])
    return transforms


def _camera_path(rng: np.random.Generator, t: np.ndarray, margin: int) -> np.ndarray:
    """Per-frame offsets of the frame into the background (a slow camera pan)."""
    camera = np.stack(
        [
            _smooth(rng, t, margin * 0.8, 0.02, 0.15),
            _smooth(rng, t, margin * 0.8, 0.02, 0.15),
        ],
        axis=1,
    )
    return np.clip(np.round(camera + margin), 0, 2 * margin).astype(int)


def make_scene(
    rng: np.random.Generator,
    identity: Identity,
    n_frames: int,
    fps: float,
    size: int,
    noise_seed: tuple[int, ...],
) -> Scene:
    """A random scene of ``n_frames`` frames showing ``identity``."""
    identity = _varied(rng, identity)
    margin = max(4, size // 10)
    background = _background(rng, size + 2 * margin)
    t = np.arange(n_frames) / fps
    transforms = _head_motion(rng, identity.landmarks, t, size)
    camera = _camera_path(rng, t, margin)
    gain = 1 + _smooth(rng, t, 0.12, 0.05, 0.2)
    tint = 1 + np.stack([_smooth(rng, t, 0.04, 0.03, 0.15) for _ in range(3)], axis=1)
    slope = rng.uniform(-0.2, 0.2) + _smooth(rng, t, 0.1, 0.03, 0.15)
    torso = tuple(float(c) for c in rng.uniform(20, 220, 3))
    closure, starts = blink_schedule(rng, n_frames, fps)
    return Scene(
        identity=identity,
        background=background,
        margin=margin,
        transforms=transforms,
        camera=camera,
        gain=gain,
        tint=tint,
        slope=slope,
        torso_colour=torso,
        closure=closure,
        blink_starts=starts,
        noise_seed=noise_seed,
        size=size,
    )


def _draw_body(frame: np.ndarray, scene: Scene, m: np.ndarray) -> None:
    """Draw torso and neck below the chin of the face placed by ``m``, in place."""
    ident = scene.identity
    pts = ident.landmarks @ m[:, :2].T + m[:, 2]
    jaw_w = float(np.linalg.norm(pts[16] - pts[0]))
    chin = pts[8]
    neck_dir = np.array([-m[0, 1], m[1, 1]]) / np.hypot(m[0, 1], m[1, 1])
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


def render_frame(scene: Scene, i: int, closure: float) -> np.ndarray:
    """One frame (float32 RGB) with the lids lowered by ``closure``."""
    size = scene.size
    ident = scene.identity
    ox, oy = scene.camera[i]
    frame = scene.background[oy : oy + size, ox : ox + size].copy()
    m = scene.transforms[i]
    _draw_body(frame, scene, m)
    portrait = draw_lids(ident.image, ident.landmarks, ident.skin, closure)
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
    """Lighting of frame ``i`` (gain, tint, horizontal gradient) and sensor noise."""
    size = scene.size
    ramp = 1 + scene.slope[i] * (np.arange(size, dtype=np.float32) / size - 0.5)
    frame = frame * (scene.gain[i] * ramp)[None, :, None] * scene.tint[i]
    noise_rng = np.random.default_rng([*scene.noise_seed, i])
    frame = frame.astype(np.float32, copy=False)
    noise = noise_rng.standard_normal(frame.shape, dtype=np.float32)
    return frame + SENSOR_NOISE * noise


def degrade(frame: np.ndarray, factor: float, blur: float) -> np.ndarray:
    """The whole frame as a low-quality upload: downscaled by ``factor``,
    blurred (Gaussian sigma ``blur`` at the small size) and scaled back up."""
    size = frame.shape[0]
    small = max(8, int(round(size * factor)))
    low = cv2.resize(frame, (small, small), interpolation=cv2.INTER_AREA)
    if blur > 0:
        low = cv2.GaussianBlur(low, (0, 0), blur)
    return cv2.resize(low, (size, size), interpolation=cv2.INTER_LINEAR)
