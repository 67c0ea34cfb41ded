"""Image perturbations at five severities (NumPy and OpenCV only).

The frame-level half of the robustness stage
(:mod:`deepfake_ensemble.preprocess.degrade` applies them to whole videos)
and of training augmentation (``train.augment``, which imports this module
from the train environment: no PyAV here).

Severities follow DeeperForensics-1.0 (Jiang et al. 2020), whose seven
perturbations at five levels are the field's reference; :data:`LEVELS` is
the table, one parameter per severity 1-5, from mild to strong:

============  ==================================  =========================
perturbation  parameter                           severity 1 .. 5
============  ==================================  =========================
h264          x264 constant rate factor (video)   30, 32, 35, 38, 40
jpeg          JPEG quality of every frame          70, 50, 30, 20, 10
resize        downscale factor, then back up      2, 3, 4, 5, 6
blur          Gaussian kernel side (px)           7, 9, 13, 17, 21
noise         Gaussian noise variance ([0, 1])    0.001, 0.002, 0.005, 0.01, 0.05
saturation    saturation kept (HSV)               0.4, 0.3, 0.2, 0.1, 0.0
contrast      contrast kept (around the mean)     0.85, 0.725, 0.6, 0.475, 0.35
============  ==================================  =========================

h264 (DeeperForensics' "VC"), blur ("GB"), noise ("GNC"), saturation
("CS") and contrast ("CC") take its levels. Its "JPEG" is a pixelation
(downscale by 2-6, upscale): that is ``resize`` here; ``jpeg`` is a real
JPEG re-compression at falling quality. Frames are RGB ``uint8``.
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np

from ..errors import InputError
from ..layout import PERTURBATIONS, robustness_condition

#: perturbation -> its parameter at severities 1..5 (module docstring)
LEVELS: Mapping[str, tuple[float, ...]] = {
    "h264": (30, 32, 35, 38, 40),
    "jpeg": (70, 50, 30, 20, 10),
    "resize": (2, 3, 4, 5, 6),
    "blur": (7, 9, 13, 17, 21),
    "noise": (0.001, 0.002, 0.005, 0.01, 0.05),
    "saturation": (0.4, 0.3, 0.2, 0.1, 0.0),
    "contrast": (0.85, 0.725, 0.6, 0.475, 0.35),
}
#: the perturbations that act on the video stream rather than on each frame
VIDEO_LEVEL = ("h264",)
SEVERITIES = (1, 2, 3, 4, 5)


def level(perturbation: str, severity: int) -> float:
    """The parameter of ``perturbation`` at ``severity`` (1-5)."""
    robustness_condition(perturbation, severity)  # checks both
    return LEVELS[perturbation][int(severity) - 1]


def jpeg(frame: np.ndarray, quality: float) -> np.ndarray:
    """The frame JPEG-encoded at ``quality`` (1-100) and decoded again."""
    ok, buf = cv2.imencode(
        ".jpg", frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    )
    if not ok:
        raise InputError(f"JPEG encoding at quality {quality} failed")
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])


def resize(frame: np.ndarray, factor: float) -> np.ndarray:
    """Downscaled by ``factor`` (area), then upscaled back (bilinear)."""
    h, w = frame.shape[:2]
    small = cv2.resize(
        frame,
        (max(1, round(w / factor)), max(1, round(h / factor))),
        interpolation=cv2.INTER_AREA,
    )
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def blur(frame: np.ndarray, kernel: float) -> np.ndarray:
    """Gaussian blur with an odd ``kernel`` side (sigma from the side, as
    OpenCV chooses it)."""
    k = int(kernel) | 1
    return cv2.GaussianBlur(frame, (k, k), 0)


def noise(frame: np.ndarray, variance: float, rng: np.random.Generator) -> np.ndarray:
    """White Gaussian noise of ``variance`` (intensities scaled to [0, 1])."""
    sigma = float(np.sqrt(variance)) * 255.0
    noisy = frame.astype(np.float32) + rng.normal(0.0, sigma, frame.shape).astype(
        np.float32
    )
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def saturation(frame: np.ndarray, factor: float) -> np.ndarray:
    """Saturation multiplied by ``factor`` (HSV; 0: grey)."""
    hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 1] = np.clip(np.round(hsv[..., 1] * factor), 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)


def contrast(frame: np.ndarray, factor: float) -> np.ndarray:
    """Contrast multiplied by ``factor`` around the frame's mean intensity."""
    f = frame.astype(np.float32)
    mean = float(f.mean())
    return np.clip(np.round((f - mean) * factor + mean), 0, 255).astype(np.uint8)


def apply(
    frame: np.ndarray,
    perturbation: str,
    value: float,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """One frame perturbed by ``perturbation`` with parameter ``value`` (the
    table's or any other; ``h264`` is video-level, see
    :mod:`deepfake_ensemble.preprocess.degrade`). ``rng``: for ``noise``."""
    if perturbation == "jpeg":
        return jpeg(frame, value)
    if perturbation == "resize":
        return resize(frame, value)
    if perturbation == "blur":
        return blur(frame, value)
    if perturbation == "noise":
        return noise(frame, value, rng if rng is not None else np.random.default_rng())
    if perturbation == "saturation":
        return saturation(frame, value)
    if perturbation == "contrast":
        return contrast(frame, value)
    raise InputError(
        f"perturbation {perturbation!r} does not act on single frames "
        f"(frame-level: {', '.join(p for p in PERTURBATIONS if p not in VIDEO_LEVEL)})"
    )


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images (dB; inf when equal)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))
