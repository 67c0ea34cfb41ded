"""Encoding: frames to reproducible H.264 mp4 files."""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np

from ...io import atomic_path


def to_uint8(frame: np.ndarray) -> np.ndarray:
    """A float frame rounded and clipped to uint8."""
    return np.clip(np.round(frame), 0, 255).astype(np.uint8)


def write_video(
    frames: list[np.ndarray], path: str | os.PathLike, fps: float, crf: int = 20
) -> None:
    """Write RGB uint8 frames as H.264 (yuv420p, constant rate factor ``crf``:
    higher compresses more), atomically.

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
            "crf": str(int(crf)),
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
