"""Face swapping: the fakes' source faces and the frame-by-frame swap, with the
face warping artifacts (render small, blur, scale back) that DSP-FWA learns."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .identities import Identity
from .render import Scene


@dataclass
class SwapParams:
    source: Identity
    factor: float  # resolution of the swapped face relative to the frame
    blur: float  # Gaussian sigma at the reduced resolution
    jitter: float  # landmark jitter (frame pixels) per frame
    seed: tuple[int, ...]


def _yaw(identity: Identity) -> float:
    """Head turn: 0 frontal, towards -1 or +1 for a profile (nose to jaw ends)."""
    p = identity.landmarks
    a, b = np.linalg.norm(p[30] - p[0]), np.linalg.norm(p[30] - p[16])
    return float((a - b) / (a + b))


def pick_source(
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


def _warp_low_res(
    rng: np.random.Generator, params: SwapParams, a: np.ndarray, size: int
) -> np.ndarray:
    """The source face warped by ``a`` into the frame: rendered small, blurred
    and scaled back up (the face warping artifacts)."""
    f = params.factor * rng.uniform(0.9, 1.1)
    small = max(8, int(round(size * f)))
    f = small / size
    a_small = a * f
    low = cv2.warpAffine(
        params.source.image,
        a_small,
        (small, small),
        flags=cv2.INTER_AREA,
        borderMode=cv2.BORDER_REPLICATE,
    )
    low = cv2.GaussianBlur(low, (0, 0), params.blur)
    return cv2.resize(low, (size, size), interpolation=cv2.INTER_LINEAR)


def _swap_mask(target: np.ndarray, size: int) -> np.ndarray:
    """uint8 mask of the swapped region: hull of jaw and brows of the target."""
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
    return cv2.erode(mask, np.ones((2 * erode + 1, 2 * erode + 1), np.uint8))


def _match_colour(
    swapped: np.ndarray, base: np.ndarray, inside: np.ndarray
) -> np.ndarray:
    """``swapped`` with the mean and (clipped) spread of ``base`` inside the mask."""
    if inside.sum() > 20:
        s_mean, s_std = swapped[inside].mean(0), swapped[inside].std(0) + 1e-3
        b_mean, b_std = base[inside].mean(0), base[inside].std(0) + 1e-3
        ratio = np.clip(b_std / s_std, 0.7, 1.4)
        swapped = (swapped - s_mean) * ratio + b_mean
    return swapped


def swap_face(scene: Scene, i: int, base: np.ndarray, params: SwapParams) -> np.ndarray:
    """Swap the source face onto the scene's face in frame ``i`` (with FWA)."""
    size = scene.size
    m = scene.transforms[i]
    target = scene.identity.landmarks @ m[:, :2].T + m[:, 2]
    rng = np.random.default_rng([*params.seed, i])
    noisy = target + rng.normal(0, params.jitter, target.shape)
    a = _fit_affine(params.source.landmarks, noisy)
    swapped = _warp_low_res(rng, params, a, size)
    mask = _swap_mask(target, size)
    swapped = _match_colour(swapped, base, mask > 127)
    soft = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), max(1.0, size / 90))[
        ..., None
    ]
    return base * (1 - soft) + swapped * soft
