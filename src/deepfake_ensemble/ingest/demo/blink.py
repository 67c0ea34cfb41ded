"""Blinking: when the real videos blink, and the lids drawn over the eyes."""

from __future__ import annotations

import cv2
import numpy as np

from .identities import EYES


def blink_schedule(
    rng: np.random.Generator, n_frames: int, fps: float
) -> tuple[np.ndarray, list[int]]:
    """Lid closure per frame (0 open, 0.5 half, 1 shut) and the blink starts.

    A blink keeps the lids shut for 0.2-0.4 s (at least one frame), with a
    half-closed frame before and after. The first blink falls anywhere in the
    clip from 0.2 s on, so that every clip of at least about 0.5 s blinks at
    least once; the next ones follow 2-6 s after the one before.
    """
    closure = np.zeros(n_frames, np.float32)
    starts: list[int] = []
    duration = n_frames / fps

    def shut_frames() -> int:
        return max(1, round(rng.uniform(0.2, 0.4) * fps))

    k = shut_frames()
    # the first start: from 0.2 s to the last frame that leaves room for the
    # shut frames and the half-closed frame after them
    first = min(round(0.2 * fps), max(n_frames - k - 1, 0))
    last = max(n_frames - k - 1, first)
    t = (first + rng.uniform(0, 1) * (last - first)) / fps
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


def draw_lids(
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
    for eye in EYES:
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
