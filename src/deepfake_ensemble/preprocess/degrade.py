"""Degraded copies of videos: the inputs of the robustness stage
(``evaluation.robustness``; rules/preprocess.smk, rule degrade_test).

:func:`degrade_video` decodes every frame of a video, perturbs it
(:mod:`deepfake_ensemble.preprocess.perturb`, severities 1-5 of
DeeperForensics-1.0) and writes a new H.264 file atomically, with the same
frame count, size and frame rate. ``h264`` re-encodes the frames as they are
at the severity's constant rate factor; every other perturbation is applied
frame by frame and written at :data:`CARRIER_CRF` (visually lossless), so
that the perturbation, not the carrier, is what changes. The output is the
same byte for byte for the same input, perturbation, severity and seed (one
encoder thread, x264's macroblock tree off; noise drawn from a generator
seeded by the seed and the video id).

:func:`degrade_split` degrades every video of a split list and writes the
list with the copies' paths, which preprocessing reads like the original.
"""

from __future__ import annotations

import logging
import os
import re
import zlib
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pandas as pd
from tqdm import tqdm

from ..defaults import DEFAULTS
from ..errors import InputError
from ..io import atomic_path, write_csv
from ..layout import robustness_condition
from . import perturb

log = logging.getLogger(__name__)

#: the x264 constant rate factor frame-level perturbations are written at
CARRIER_CRF = 17

PathLike = str | os.PathLike


def read_frames(path: PathLike) -> tuple[list[np.ndarray], Fraction]:
    """Every frame of a video (RGB uint8) and its average frame rate."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or Fraction(25)
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    except (av.error.FFmpegError, IndexError) as exc:
        raise InputError(f"{path}: cannot decode the video ({exc})") from None
    if not frames:
        raise InputError(f"{path}: no video frame")
    return frames, Fraction(rate).limit_denominator(1001)


def write_h264(
    frames: Iterable[np.ndarray], path: PathLike, rate: Fraction, crf: int
) -> int:
    """Write RGB frames as reproducible H.264 (yuv420p, ``crf``; one thread,
    macroblock tree off), atomically; returns the number written. Width and
    height must be even."""
    n = 0
    with (
        atomic_path(path, suffix=".mp4") as tmp,
        av.open(str(tmp), mode="w", format="mp4") as out,
    ):
        stream = None
        for frame in frames:
            if stream is None:
                h, w = frame.shape[:2]
                if h % 2 or w % 2:
                    raise InputError(f"{path}: H.264 needs an even size, not {w}x{h}")
                stream = out.add_stream("libx264", rate=rate)
                stream.width, stream.height = w, h
                stream.pix_fmt = "yuv420p"
                stream.codec_context.thread_count = 1
                stream.options = {
                    "crf": str(int(crf)),
                    "preset": "fast",
                    "threads": "1",
                    "x264-params": "threads=1:mbtree=0",
                }
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts = n
            n += 1
            out.mux(stream.encode(vf))
        if stream is not None:
            out.mux(stream.encode())
    return n


def video_rng(seed: int, video_id: str) -> np.random.Generator:
    """The noise generator of one video: seeded by ``seed`` and the id (not
    by its place in a list)."""
    return np.random.default_rng([int(seed), zlib.crc32(str(video_id).encode())])


def degrade_video(
    src: PathLike,
    dst: PathLike,
    perturbation: str,
    severity: int,
    seed: int = DEFAULTS["evaluation.robustness.seed"],
    video_id: str | None = None,
) -> int:
    """Write ``src`` degraded by ``perturbation`` at ``severity`` (1-5) to
    ``dst`` (atomically); returns the frame count. ``video_id`` (default:
    the source's name) seeds the noise with ``seed``."""
    value = perturb.level(perturbation, severity)
    frames, rate = read_frames(src)
    if perturbation in perturb.VIDEO_LEVEL:
        return write_h264(frames, dst, rate, int(value))
    rng = video_rng(seed, video_id if video_id is not None else Path(src).name)
    return write_h264(
        (perturb.apply(f, perturbation, value, rng) for f in frames),
        dst,
        rate,
        CARRIER_CRF,
    )


def copy_name(index: int, video_id: str) -> str:
    """The file name of a video's degraded copy (its place and a readable id)."""
    stem = str(Path(str(video_id)).with_suffix(""))
    return f"{index:05d}-{re.sub(r'[^A-Za-z0-9._-]+', '_', stem)[-80:]}.mp4"


def degrade_split(
    split_csv: PathLike,
    out_csv: PathLike,
    video_dir: PathLike,
    perturbation: str,
    severity: int,
    seed: int = DEFAULTS["evaluation.robustness.seed"],
    progress: bool = True,
) -> pd.DataFrame:
    """Degrade every video of a split list into ``video_dir`` and write the
    list with ``path`` pointing at the copies to ``out_csv`` (last, so that
    it marks the set complete). A video that cannot be read keeps a path
    that does not exist: preprocessing reports it as unreadable, and the
    evaluation's no-face policy scores it, as for a clean video."""
    videos = pd.read_csv(split_csv, keep_default_na=False)
    for col in ("video_id", "path"):
        if col not in videos.columns:
            raise InputError(f"{split_csv}: no column {col!r}")
    video_dir = Path(video_dir)
    video_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    name = robustness_condition(perturbation, severity)
    rows = videos.to_dict("records")
    for i, row in enumerate(tqdm(rows, desc=name, unit="video", disable=not progress)):
        dst = video_dir / copy_name(i, row["video_id"])
        try:
            vid = row["video_id"]
            degrade_video(row["path"], dst, perturbation, severity, seed, vid)
        except InputError as exc:
            log.warning("%s: %s", row["video_id"], exc)
            dst.unlink(missing_ok=True)
        paths.append(str(dst))
    out = videos.assign(path=paths)
    write_csv(out, out_csv)
    return out
