"""Small synthetic media for the preprocessing tests (written with PyAV)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from skimage import data

# astronaut(): the face spans about x 175-266, y 76-170 of the 512x512 photo
ASTRONAUT_FACE = (150, 50, 290, 200)  # x0, y0, x1, y1 of a generous face patch


def face_patch(size: int = 112) -> np.ndarray:
    """The astronaut's face (with some margin) as a size x size RGB array."""
    x0, y0, x1, y1 = ASTRONAUT_FACE
    patch = data.astronaut()[y0:y1, x0:x1]
    side = max(size, 1)
    return cv2.resize(patch, (side, round(side * (y1 - y0) / (x1 - x0))))


def face_frame(
    width: int = 192, height: int = 160, at: tuple[int, int] = (40, 10), size: int = 112
) -> np.ndarray:
    """A grey frame with the astronaut's face pasted at ``at`` (x, y)."""
    img = np.full((height, width, 3), 90, np.uint8)
    patch = face_patch(size)
    x, y = at
    h = min(patch.shape[0], height - y)
    w = min(patch.shape[1], width - x)
    img[y : y + h, x : x + w] = patch[:h, :w]
    return img


def blank_frame(width: int = 192, height: int = 160, value: int = 0) -> np.ndarray:
    img = np.full((height, width, 3), 40, np.uint8)
    cv2.putText(img, str(value), (10, 50), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255,) * 3, 2)
    return img


def write_video(
    path: str | Path,
    frames: list[np.ndarray],
    fps: int = 10,
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    codec: str = "libx264",
    options: dict | None = None,
    bframes: int = 0,
) -> Path:
    """Write RGB frames to an H.264 MP4. ``pts`` (in ``time_base`` units)
    makes a variable-frame-rate clip; ``bframes`` > 0 gives B-frames (some of
    them non-reference frames), as most camera and web encodes have."""
    path = Path(path)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", options=options or {}) as out:
        s = out.add_stream(codec, rate=fps)
        s.width, s.height = w, h
        s.pix_fmt = "yuv420p"
        s.options = {
            "preset": "veryfast" if bframes else "ultrafast",
            "bf": str(bframes),
        }
        if time_base is not None:
            s.codec_context.time_base = time_base
            s.time_base = time_base
        for i, img in enumerate(frames):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            if pts is not None:
                f.pts = pts[i]
                f.time_base = time_base
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def numbered_video(path: str | Path, n: int, fps: int = 10) -> Path:
    """Frames showing their own index (used to check which frames are taken)."""
    return write_video(path, [blank_frame(value=i) for i in range(n)], fps=fps)


def face_video(
    path: str | Path, n: int = 12, fps: int = 10, width: int = 192, height: int = 160
) -> Path:
    frames = [face_frame(width, height, at=(40 + (i % 3), 10)) for i in range(n)]
    return write_video(path, frames, fps=fps)
