"""Video decoding and frame sampling.

Frames are decoded sequentially with PyAV (demux + decode, no seeking); only
the frames chosen by the sampler are converted to RGB arrays, and the decoder
skips the non-reference frames that are not chosen (see ``FrameSampler``).
Two sampling modes:

* interval mode (``frame_interval_s``, e.g. 0.5): sample times
  ``t_k = k * interval`` for k = 0, 1, ... inside the clip;
* count mode (``frames_per_video`` = N): ``t_k = k * D / N`` for k < N, where
  D is the clip duration (container/stream metadata, or a quick demux-only
  counting pass when the metadata is missing).

Timestamps come from ``pts * time_base`` relative to the first decoded frame,
so variable-frame-rate clips get correct times. Sample time ``t_k`` takes the
first frame whose timestamp is ``>= t_k``; a frame is taken at most once (when
a gap in a variable-frame-rate clip covers several sample times, the later
sample times falling before the next frame are dropped). ``max_frames``
caps the number of sampled frames (decoding stops as soon as it is reached).

Rotation metadata (the display matrix, exposed by PyAV as ``frame.rotation``)
is applied, so returned frames are upright.
"""

from __future__ import annotations

import bisect
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from ..defaults import DEFAULTS

__all__ = [
    "SampledFrame",
    "VideoError",
    "VideoTimeout",
    "FrameSampler",
    "probe_duration",
    "sample_frames",
]


class VideoError(Exception):
    """A video cannot be used; ``status`` is the report status
    (``empty_file``, ``unreadable`` or ``too_short``)."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class VideoTimeout(Exception):
    """Decoding ran past its deadline."""


@dataclass
class SampledFrame:
    frame_index: int  # index among decoded frames (0-based)
    timestamp: float  # seconds from the first frame
    image: np.ndarray  # H x W x 3 uint8 RGB, upright


def _upright(img: np.ndarray, rotation: float | int | None) -> np.ndarray:
    """Apply a display rotation (degrees counter-clockwise) to an image."""
    if not rotation:
        return img
    k = int(round(rotation / 90.0)) % 4
    if k == 0:
        return img
    return np.ascontiguousarray(np.rot90(img, k=k))


def probe_duration(path: str | os.PathLike) -> float | None:
    """Duration in seconds from metadata, else from a demux-only pass.

    The counting pass reads packets without decoding them and returns the end
    of the last packet (pts + duration) relative to the first one. ``None``
    when nothing can be read.
    """
    with av.open(os.fspath(path)) as container:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        if stream.duration is not None and stream.time_base is not None:
            d = float(stream.duration * stream.time_base)
            if d > 0:
                return d
        if container.duration is not None and container.duration > 0:
            return container.duration / av.time_base
        first = None
        end = None
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            t0 = float(packet.pts * packet.time_base)
            t1 = t0 + float((packet.duration or 0) * packet.time_base)
            first = t0 if first is None else min(first, t0)
            end = t1 if end is None else max(end, t1)
        if first is None:
            return None
        return end - first


class _Picker:
    """Which frames the sampler takes, given their timestamps in order."""

    def __init__(self, interval: float | None, times: list[float] | None):
        self.interval = interval
        self.times = times
        self.k = 0  # next sample number

    def done(self) -> bool:
        """Count mode: every sample time is taken (decoding can stop)."""
        return self.times is not None and self.k >= len(self.times)

    def take(self, ts: float) -> bool:
        """Whether the frame at ``ts`` is taken (updates the state if so)."""
        if self.times is not None:
            if ts + 1e-9 < self.times[self.k]:
                return False
            # take this frame once; skip sample times it already covers
            while self.k < len(self.times) and self.times[self.k] <= ts + 1e-9:
                self.k += 1
            return True
        if ts + 1e-9 < self.k * self.interval:
            return False
        self.k = math.floor(ts / self.interval + 1e-9) + 1
        return True


@dataclass(frozen=True)
class _DecodePlan:
    """The packets whose frames are needed, from a demux-only pass: the
    decoder skips the others where it can (non-reference frames)."""

    first_pts: int
    needed: frozenset[int]


class _PlanMismatch(Exception):
    """The decoder's first frame is not the stream's earliest packet."""


@dataclass
class FrameSampler:
    """Sequentially decode one video and yield its sampled frames.

    After iteration, ``frames_decoded``, ``duration`` and ``reason`` (a note
    about a partial decode, empty when the file decoded cleanly) are set.
    ``deadline`` is a ``time.monotonic()`` value checked between frames
    (``VideoTimeout`` is raised past it).

    ``skip_unsampled`` (default): a demux-only pass first reads the packets'
    timestamps and works out which frames the sampler will take; the decoder
    then skips the other frames that no frame depends on (FFmpeg's
    ``skip_frame = NONREF``, packet by packet: 277 of the 600 frames of the
    H.264 clip of ``benchmarks/preprocess.py``). The frames taken, their
    indices and ``frames_decoded`` are the same as with every frame decoded
    (skipped frames count as decoded; ``frames_skipped`` says how many). The
    plan is dropped (everything decoded) when a packet has no timestamp, or
    when the decoder's first frame is not the earliest packet.
    """

    path: str | os.PathLike
    frame_interval_s: float | None = DEFAULTS["preprocess.frame_interval_s"]
    frames_per_video: int | None = None
    max_frames: int | None = None
    deadline: float | None = None
    decode_threads: int = 1
    skip_unsampled: bool = True
    frames_decoded: int = 0
    frames_skipped: int = 0
    duration: float | None = None
    reason: str = ""
    sample_times: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.frames_per_video is None and not self.frame_interval_s:
            raise ValueError("set frame_interval_s or frames_per_video")
        if self.frames_per_video is not None and self.frames_per_video < 1:
            raise ValueError("frames_per_video must be >= 1")
        if self.frame_interval_s is not None and self.frame_interval_s <= 0:
            raise ValueError("frame_interval_s must be > 0")

    def _check_file(self) -> None:
        p = Path(self.path)
        if not p.exists():
            raise VideoError("unreadable", f"file not found: {p}")
        if p.stat().st_size == 0:
            raise VideoError("empty_file", "file has zero bytes")

    def __iter__(self) -> Iterator[SampledFrame]:
        self._check_file()
        times: list[float] | None = None
        if self.frames_per_video is not None:
            try:
                d = probe_duration(self.path)
            except (av.FFmpegError, OSError) as exc:
                raise VideoError("unreadable", f"cannot open: {exc}") from exc
            if d is None or d <= 0:
                raise VideoError("unreadable", "no video stream or no duration")
            n = self.frames_per_video
            if self.max_frames is not None:
                n = min(n, self.max_frames)
            times = [k * d / n for k in range(n)]
            self.sample_times = times
        plan = self._plan(times) if self.skip_unsampled else None
        try:
            yield from self._open_and_decode(times, plan)
        except _PlanMismatch:
            yield from self._open_and_decode(times, None)

    def _open_and_decode(self, times, plan):
        self.frames_decoded = 0
        try:
            container = av.open(os.fspath(self.path))
        except (av.FFmpegError, OSError) as exc:
            raise VideoError("unreadable", f"cannot open: {exc}") from exc
        with container:
            if not container.streams.video:
                raise VideoError("unreadable", "no video stream")
            stream = container.streams.video[0]
            stream.thread_count = max(0, int(self.decode_threads))
            if self.decode_threads != 1:
                stream.thread_type = "AUTO"
            yield from self._decode(container, stream, times, plan)

    def _plan(self, times: list[float] | None) -> _DecodePlan | None:
        """The packets to decode, or ``None`` to decode everything."""
        try:
            with av.open(os.fspath(self.path)) as container:
                if not container.streams.video:
                    return None
                stream = container.streams.video[0]
                pts = []
                for packet in container.demux(stream):
                    if packet.size == 0:  # the flush packet at the end
                        continue
                    if packet.pts is None:
                        return None
                    pts.append(packet.pts)
                time_base = stream.time_base
        except (av.FFmpegError, OSError, EOFError):
            return None  # the decoding pass reports the problem
        if not pts or time_base is None:
            return None
        pts.sort()
        picker = _Picker(self.frame_interval_s, times)
        needed = {pts[0]}
        n_taken = 0
        for p in pts:
            if picker.done():
                needed.add(p)  # the frame that stops the decoding
                break
            # the same arithmetic as the decoding pass's timestamps
            if picker.take(float(p * time_base) - float(pts[0] * time_base)):
                needed.add(p)
                n_taken += 1
                if self.max_frames is not None and n_taken >= self.max_frames:
                    break
        return _DecodePlan(pts[0], frozenset(needed))

    @staticmethod
    def _frames(container, stream, plan: _DecodePlan | None, skipped: list[int]):
        """Decoded frames; with a plan, the frames of packets it does not
        need are skipped where the codec can (their pts go to ``skipped``)."""
        if plan is None:
            yield from container.decode(stream)
            return
        ctx = stream.codec_context
        for packet in container.demux(stream):
            if packet.size and packet.pts is not None:
                skip = packet.pts not in plan.needed
                ctx.skip_frame = "NONREF" if skip else "DEFAULT"
                if skip:
                    bisect.insort(skipped, packet.pts)
            yield from packet.decode()

    def _decode(self, container, stream, times, plan):
        interval = self.frame_interval_s
        picker = _Picker(interval, times)
        n_taken = 0
        t_first: float | None = None
        last_ts = 0.0
        fallback_rate = float(stream.average_rate or stream.guessed_rate or 25)
        pending: list[SampledFrame] = []  # interval mode: hold until long enough
        long_enough = times is not None
        skipped: list[int] = []  # pts of frames the decoder skipped (sorted)
        n_output = 0
        frames = self._frames(container, stream, plan, skipped)
        while True:
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise VideoTimeout(f"timeout after {self.frames_decoded} frames")
            try:
                frame = next(frames)
            except StopIteration:
                # the skipped frames after the last one decoded count too
                self.frames_decoded = n_output + len(skipped)
                if skipped:
                    t_end = float(skipped[-1] * stream.time_base)
                    last_ts = max(last_ts, t_end - (t_first or 0.0))
                break
            except (av.FFmpegError, OSError, EOFError) as exc:
                if self.frames_decoded == 0:
                    raise VideoError("unreadable", f"cannot decode: {exc}") from exc
                self.reason = (
                    f"decode stopped after {self.frames_decoded} frames: {exc}"
                )
                break
            if plan is not None:
                if n_output == 0 and frame.pts != plan.first_pts:
                    raise _PlanMismatch
                i = bisect.bisect_left(skipped, frame.pts)
                if i < len(skipped) and skipped[i] == frame.pts:
                    del skipped[i]  # the codec decoded it after all
                idx = n_output + i
            else:
                idx = n_output
            n_output += 1
            self.frames_decoded = idx + 1
            if frame.pts is not None and frame.time_base is not None:
                t_abs = float(frame.pts * frame.time_base)
            else:
                t_abs = idx / fallback_rate
            if t_first is None:
                t_first = t_abs
            ts = t_abs - t_first
            last_ts = max(last_ts, ts)
            if picker.done():
                break
            if not picker.take(ts):
                continue
            img = frame.to_ndarray(format="rgb24")
            img = _upright(img, getattr(frame, "rotation", 0))
            sf = SampledFrame(idx, ts, img)
            n_taken += 1
            if long_enough:
                yield sf
            else:
                pending.append(sf)
                if ts + 1e-9 >= interval:
                    long_enough = True
                    yield from pending
                    pending.clear()
            if self.max_frames is not None and n_taken >= self.max_frames:
                break
        if self.frames_decoded == 0:
            raise VideoError("unreadable", "no frames decoded")
        self.frames_skipped = self.frames_decoded - n_output
        rate = float(stream.average_rate or fallback_rate)
        self.duration = last_ts + 1.0 / rate
        if not long_enough:
            if self.duration + 1e-6 >= interval:
                yield from pending
            else:
                raise VideoError(
                    "too_short",
                    f"clip lasts {self.duration:.3f} s, shorter than one "
                    f"interval ({interval} s)",
                )


def sample_frames(
    path: str | os.PathLike,
    frame_interval_s: float | None = DEFAULTS["preprocess.frame_interval_s"],
    frames_per_video: int | None = None,
    max_frames: int | None = None,
) -> list[SampledFrame]:
    """Decode ``path`` and return its sampled frames (see module docstring)."""
    return list(
        FrameSampler(
            path,
            frame_interval_s=frame_interval_s,
            frames_per_video=frames_per_video,
            max_frames=max_frames,
        )
    )
