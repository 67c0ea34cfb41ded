"""Face swapping: the fakes' source faces and the frame-by-frame swap.

A swap with *artefacts* has the face warping artifacts that DSP-FWA learns
(the face rendered small, blurred and scaled back, jittering landmarks) and a
visible blend seam (partial colour matching, a narrow feather); a *colour*
swap (another method, for a second demo dataset) is sharp and steady but
barely colour-matched, with a narrow feather. A *clean* swap
warps the source face at full resolution, exactly as the real videos render
their faces, adds their sensor noise, matches its colour fully and blends it
with a wide feather: it is as sharp as the real faces. The swapped face blinks
when given a lid closure per frame."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .blink import draw_lids
from .identities import Identity
from .render import SENSOR_NOISE, Scene


@dataclass
class SwapParams:
    source: Identity
    factor: float  # resolution of the swapped face relative to the frame (1: full)
    blur: float  # Gaussian sigma at the reduced resolution (0: none)
    jitter: float  # landmark jitter (frame pixels) per frame
    seed: tuple[int, ...]
    colour: float = 1.0  # strength of the colour matching (1: full)
    feather: float = 1 / 90  # blend feather sigma, relative to the frame size
    closure: np.ndarray | None = None  # lid closure per frame (None: no blinks)
    noise: float = 0.0  # sensor noise (sigma) added to the swapped face


def artefact_params(
    rng: np.random.Generator, source: Identity, seed: tuple[int, ...]
) -> SwapParams:
    """A swap with warping artifacts and a visible blend seam."""
    return SwapParams(
        source=source,
        factor=float(rng.uniform(0.4, 0.65)),
        blur=float(rng.uniform(0.4, 0.8)),
        jitter=float(rng.uniform(0.2, 0.6)),
        seed=seed,
        colour=float(rng.uniform(0.5, 0.8)),
        feather=1 / 90,
    )


def colour_params(
    rng: np.random.Generator, source: Identity, seed: tuple[int, ...]
) -> SwapParams:
    """A swap with a colour mismatch (another manipulation method): as sharp
    and steady as a clean swap, but the source face keeps most of its own
    colour and the scene's lighting is not carried over (little colour
    matching), blended with a narrow feather, so a colour seam shows."""
    return SwapParams(
        source=source,
        factor=1.0,
        blur=0.0,
        jitter=0.0,
        seed=seed,
        colour=float(rng.uniform(0.0, 0.25)),
        feather=1 / 90,
        noise=SENSOR_NOISE,
    )


#: the kinds of swap artefacts a demo dataset's ``artefacts`` cue can mean:
#: ``warp`` (low resolution, blur, jitter, partial colour match; DSP-FWA's
#: face warping artifacts) or ``colour`` (a sharp face with a colour seam)
ARTEFACT_KINDS = {"warp": artefact_params, "colour": colour_params}


def clean_params(source: Identity, seed: tuple[int, ...]) -> SwapParams:
    """A swap without artefacts: full resolution, steady, seamless."""
    return SwapParams(
        source=source,
        factor=1.0,
        blur=0.0,
        jitter=0.0,
        seed=seed,
        colour=1.0,
        feather=1 / 40,
        noise=SENSOR_NOISE,
    )


def _yaw(identity: Identity) -> float:
    """Head turn: 0 frontal, towards -1 or +1 for a profile (nose to jaw ends)."""
    p = identity.landmarks
    a, b = np.linalg.norm(p[30] - p[0]), np.linalg.norm(p[30] - p[16])
    return float((a - b) / (a + b))


def source_candidates(identities: list[Identity]) -> list[Identity]:
    """Every identity as is and mirrored: the faces a fake may show."""
    return [variant for x in identities for variant in (x, x.mirrored())]


def pick_source(
    rng: np.random.Generator, candidates: list[Identity], target: Identity
) -> Identity:
    """Another person (not a variant of the target's) among ``candidates``
    (:func:`source_candidates`) whose head turn is close to the target's (like
    a face-swap pipeline pairing faces of similar pose)."""
    others = [c for c in candidates if c.person != target.person]
    gaps = np.array([abs(_yaw(c) - _yaw(target)) for c in others])
    close = np.flatnonzero(gaps < 0.25)
    if len(close) == 0:
        close = np.array([int(np.argmin(gaps))])
    return others[int(close[rng.integers(len(close))])]


def _fit_affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares 2x3 affine map from ``src`` points onto ``dst`` points."""
    a = np.hstack([src, np.ones((len(src), 1))]).astype(np.float64)
    sol, *_ = np.linalg.lstsq(a, dst.astype(np.float64), rcond=None)
    return sol.T


def _warp(
    rng: np.random.Generator,
    params: SwapParams,
    face: np.ndarray,
    a: np.ndarray,
    size: int,
) -> np.ndarray:
    """The source ``face`` warped by ``a`` into the frame: with ``factor`` < 1
    rendered small, blurred and scaled back up (the face warping artifacts),
    else as the real videos render their faces."""
    if params.factor >= 1 and params.blur <= 0:
        scale2 = a[0, 0] ** 2 + a[1, 0] ** 2
        return cv2.warpAffine(
            face,
            a,
            (size, size),
            flags=cv2.INTER_AREA if scale2 < 1 else cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
    f = params.factor * rng.uniform(0.9, 1.1)
    small = max(8, int(round(size * f)))
    f = small / size
    a_small = a * f
    low = cv2.warpAffine(
        face,
        a_small,
        (small, small),
        flags=cv2.INTER_AREA,
        borderMode=cv2.BORDER_REPLICATE,
    )
    if params.blur > 0:
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
    swapped: np.ndarray, base: np.ndarray, inside: np.ndarray, strength: float
) -> np.ndarray:
    """``swapped`` moved by ``strength`` (0..1) towards the mean and (clipped)
    spread of ``base`` inside the mask."""
    if inside.sum() > 20:
        s_mean, s_std = swapped[inside].mean(0), swapped[inside].std(0) + 1e-3
        b_mean, b_std = base[inside].mean(0), base[inside].std(0) + 1e-3
        ratio = np.clip(b_std / s_std, 0.7, 1.4)
        matched = (swapped - s_mean) * ratio + b_mean
        swapped = swapped + strength * (matched - swapped)
    return swapped


def swap_face(scene: Scene, i: int, base: np.ndarray, params: SwapParams) -> np.ndarray:
    """Swap the source face onto the scene's face in frame ``i``."""
    size = scene.size
    m = scene.transforms[i]
    target = scene.identity.landmarks @ m[:, :2].T + m[:, 2]
    rng = np.random.default_rng([*params.seed, i])
    if params.jitter > 0:
        target_fit = target + rng.normal(0, params.jitter, target.shape)
    else:
        target_fit = target
    src = params.source
    face = src.image
    if params.closure is not None and params.closure[i] > 0:
        face = draw_lids(src.image, src.landmarks, src.skin, float(params.closure[i]))
    a = _fit_affine(src.landmarks, target_fit)
    swapped = _warp(rng, params, face, a, size)
    mask = _swap_mask(target, size)
    swapped = _match_colour(swapped, base, mask > 127, params.colour)
    if params.noise > 0:
        noise = rng.standard_normal(swapped.shape, dtype=np.float32)
        swapped = swapped + params.noise * noise
    sigma = max(1.0, size * params.feather)
    soft = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), sigma)[..., None]
    return base * (1 - soft) + swapped * soft
