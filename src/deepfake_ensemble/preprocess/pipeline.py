"""Preprocessing: sampled frames -> faces, landmarks, eye crops -> shards.

Unit of work: a batch of videos (``run_batch``). Each video is processed on
its own (a failing video gets a status and a reason and never stops the
batch) and its result is written atomically to a per-video cache file
``cache_dir/<key[:2]>/<key>.h5``; ``key`` is the SHA-1 of the video id, the
file's absolute path, size and modification time (ns) and the configuration
values that affect the output. A video whose cache file exists is not
processed again, so re-running after adding videos only processes the new
ones even when batch membership changes. Results with status ``error``
(an unexpected exception) or ``timeout`` are not cached, so they are retried
next time.

Statuses: ``ok`` (at least one face), ``no_face``, ``empty_file`` (zero
bytes), ``unreadable`` (missing, not a video, undecodable), ``too_short``
(shorter than one sampling interval), ``timeout`` (past ``video_timeout_s``,
checked between frames), ``error``. A truncated video that decoded partly
keeps its decoded frames; the decode error goes to ``reason``.

``pack_shards`` turns the ``ok`` videos of one split into HDF5 shards (format
in :mod:`deepfake_ensemble.preprocess.shards`); ``write_report`` gathers batch reports
and summarises them; ``contact_sheet`` draws sampled crops per split.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import cv2
import h5py
import numpy as np
import pandas as pd
from tqdm import tqdm

from ..defaults import DEFAULTS
from ..errors import InputError
from ..io import atomic_path, write_csv, write_json
from .faces import FaceTracker, extract_faces
from .shards import (
    INDEX_NAME,
    ShardSet,
    ShardWriter,
    append_rows,
    create_row_datasets,
    make_rows,
    package_versions,
    read_rows,
)
from .video import FrameSampler, VideoError, VideoTimeout

__all__ = [
    "PreprocessConfig",
    "STATUSES",
    "REPORT_COLUMNS",
    "VideoResult",
    "cache_key",
    "process_video",
    "run_batch",
    "read_cache",
    "SEARCH_COUNTS",
    "pack_shards",
    "write_report",
    "contact_sheet",
]

# 2: tracked regions are resized to REGION_FACE_PX, never pyramid-upsampled
# 3: an empty tracked region is searched again with twice the margin; the
#    tracker's search counts are kept in the attributes
CACHE_VERSION = 3
STATUSES = (
    "ok",
    "no_face",
    "empty_file",
    "unreadable",
    "too_short",
    "timeout",
    "error",
)
REPORT_COLUMNS = [
    "video_id",
    "split",
    "label",
    "dataset",
    "status",
    "reason",
    "frames_decoded",
    "frames_sampled",
    "faces_found",
    "seconds",
    "cache_file",
    "cached",
]


@dataclass(frozen=True)
class PreprocessConfig:
    """Preprocessing settings (the ``preprocess`` section of the config).

    Defaults measured with ``benchmarks/``: HOG on a grey copy of the frame
    at ``detect_scale`` 0.5 with ``upsample`` 1 (the detector's finest pyramid
    level is the native resolution: faces down to about 80 px are found, at
    several times the speed of upsample 1 on the full frame); ``encoding``
    raw (3-4x faster random reads than JPEG files; JPEG is 10x smaller and
    reads at about the speed of a folder of JPEG files).
    """

    frame_interval_s: float | None = DEFAULTS["preprocess.frame_interval_s"]
    frames_per_video: int | None = DEFAULTS["preprocess.frames_per_video"]
    max_frames_per_video: int | None = DEFAULTS["preprocess.max_frames_per_video"]
    detector: str = DEFAULTS["preprocess.detector"]
    upsample: int = DEFAULTS["preprocess.upsample"]
    detect_scale: float = DEFAULTS["preprocess.detect_scale"]
    max_detect_side: int | None = DEFAULTS["preprocess.max_detect_side"]
    detect_every: int = DEFAULTS["preprocess.detect_every"]
    track_margin: float = DEFAULTS["preprocess.track_margin"]
    track_face_px: int = DEFAULTS["preprocess.track_face_px"]
    faces: str = DEFAULTS["preprocess.faces"]
    crop_scale: float = DEFAULTS["preprocess.crop_scale"]
    face_size: int = DEFAULTS["preprocess.face_size"]
    eye_size: int = DEFAULTS["preprocess.eye_size"]
    encoding: str = DEFAULTS["preprocess.encoding"]
    jpeg_quality: int = DEFAULTS["preprocess.jpeg_quality"]
    videos_per_job: int = DEFAULTS["preprocess.videos_per_job"]
    shard_max_videos: int = DEFAULTS["preprocess.shard_max_videos"]
    video_timeout_s: float | None = DEFAULTS["preprocess.video_timeout_s"]

    # keys that do not change a video's output (left out of the cache key)
    RUN_ONLY = ("videos_per_job", "shard_max_videos", "video_timeout_s")

    @classmethod
    def from_dict(
        cls, cfg: Mapping[str, Any] | PreprocessConfig | None
    ) -> PreprocessConfig:
        if cfg is None:
            return cls()
        if isinstance(cfg, PreprocessConfig):
            return cfg
        names = {f.name for f in fields(cls)}
        unknown = set(cfg) - names
        if unknown:
            raise InputError(f"preprocess config: unknown keys {sorted(unknown)}")
        c = cls(**{k: v for k, v in cfg.items() if k in names})
        if c.frames_per_video is None and not c.frame_interval_s:
            raise InputError(
                "preprocess config: set frame_interval_s or frames_per_video"
            )
        if c.detector not in ("hog", "cnn"):
            raise InputError(f"preprocess config: detector {c.detector!r} (hog | cnn)")
        if c.faces not in ("largest", "all"):
            raise InputError(f"preprocess config: faces {c.faces!r} (largest | all)")
        if c.encoding not in ("jpeg", "raw"):
            raise InputError(f"preprocess config: encoding {c.encoding!r} (jpeg | raw)")
        return c

    def output_dict(self) -> dict[str, Any]:
        """The values that affect a video's preprocessed output."""
        d = asdict(self)
        for k in self.RUN_ONLY:
            d.pop(k)
        return d

    def face_kwargs(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "upsample": self.upsample,
            "detect_scale": self.detect_scale,
            "max_detect_side": self.max_detect_side,
            "faces": self.faces,
            "crop_scale": self.crop_scale,
            "face_size": self.face_size,
            "eye_size": self.eye_size,
        }


def cache_key(video_id: str, path: str | os.PathLike, cfg: PreprocessConfig) -> str:
    """SHA-1 of the video id, file identity (path, size, mtime) and config."""
    p = Path(path).absolute()
    st = p.stat()
    payload = json.dumps(
        [
            CACHE_VERSION,
            str(video_id),
            str(p),
            st.st_size,
            st.st_mtime_ns,
            cfg.output_dict(),
        ],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha1(payload.encode()).hexdigest()


@dataclass
class VideoResult:
    status: str
    reason: str = ""
    frames_decoded: int = 0
    frames_sampled: int = 0
    faces_found: int = 0
    whole_frame_searches: int = 0
    region_searches: int = 0
    region_retries: int = 0
    seconds: float = 0.0
    rows: dict[str, Any] | None = None


def process_video(
    path: str | os.PathLike, cfg: Mapping[str, Any] | PreprocessConfig | None = None
) -> VideoResult:
    """Sample frames of one video and extract its faces (never raises for bad
    input: the outcome is in ``status`` and ``reason``)."""
    cfg = PreprocessConfig.from_dict(cfg)
    t0 = time.monotonic()
    deadline = t0 + cfg.video_timeout_s if cfg.video_timeout_s else None
    sampler = FrameSampler(
        path,
        frame_interval_s=None if cfg.frames_per_video else cfg.frame_interval_s,
        frames_per_video=cfg.frames_per_video,
        max_frames=cfg.max_frames_per_video,
        deadline=deadline,
    )
    items = []
    n_sampled = 0
    kw = cfg.face_kwargs()
    tracker = FaceTracker(
        detector=cfg.detector,
        upsample=cfg.upsample,
        detect_scale=cfg.detect_scale,
        max_detect_side=cfg.max_detect_side,
        detect_every=cfg.detect_every,
        track_margin=cfg.track_margin,
        track_face_px=cfg.track_face_px,
        faces=cfg.faces,
    )
    try:
        for sf in sampler:
            n_sampled += 1
            for rec in extract_faces(sf.image, **kw, tracker=tracker):
                items.append((sf.frame_index, sf.timestamp, rec))
        status = "ok" if items else "no_face"
        reason = sampler.reason or ("" if items else "no face in any sampled frame")
    except VideoError as exc:
        status, reason, items = exc.status, exc.reason, []
    except VideoTimeout as exc:
        status, reason, items = "timeout", str(exc), []
    except Exception as exc:  # a bug or an unexpected library error
        status, reason, items = "error", f"{type(exc).__name__}: {exc}", []
    rows = None
    if items:
        rows = make_rows(
            items, cfg.encoding, cfg.face_size, cfg.eye_size, cfg.jpeg_quality
        )
    return VideoResult(
        status=status,
        reason=reason,
        frames_decoded=sampler.frames_decoded,
        frames_sampled=n_sampled if status in ("ok", "no_face") else 0,
        faces_found=len(items),
        whole_frame_searches=tracker.full_searches,
        region_searches=tracker.region_searches,
        region_retries=tracker.region_retries,
        seconds=round(time.monotonic() - t0, 4),
        rows=rows,
    )


#: the face tracker's counts, kept in each cache file's attributes
SEARCH_COUNTS = ("whole_frame_searches", "region_searches", "region_retries")
_RESULT_ATTRS = ("status", "reason", "frames_decoded", "frames_sampled", "faces_found")


def write_cache(
    path: Path, video_id: str, result: VideoResult, cfg: PreprocessConfig
) -> None:
    """Write one video's result atomically (temporary name, then rename)."""
    with atomic_path(path, suffix=".h5") as tmp, h5py.File(tmp, "w") as h5:
        create_row_datasets(h5, cfg.encoding, cfg.face_size, cfg.eye_size)
        if result.rows is not None:
            append_rows(h5, result.rows)
        a = h5.attrs
        a["video_id"] = video_id
        for k in (*_RESULT_ATTRS, *SEARCH_COUNTS):
            a[k] = getattr(result, k)
        a["seconds"] = float(result.seconds)
        a["cache_version"] = CACHE_VERSION
        a["encoding"] = cfg.encoding
        a["face_size"] = cfg.face_size
        a["eye_size"] = cfg.eye_size
        a["config"] = json.dumps(cfg.output_dict(), sort_keys=True)


def read_cache(path: str | os.PathLike, rows: bool = True) -> tuple[dict, dict | None]:
    """``(attrs, rows)`` of a per-video cache file."""
    with h5py.File(path, "r") as h5:
        attrs = {
            k: (v.item() if hasattr(v, "item") else v) for k, v in h5.attrs.items()
        }
        return attrs, (read_rows(h5) if rows else None)


def _report_row(video: Mapping[str, Any], **kw) -> dict[str, Any]:
    row = {
        "video_id": video["video_id"],
        "split": video.get("split", ""),
        "label": int(video["label"]),
        "dataset": video.get("dataset", ""),
    }
    row.update(kw)
    return row


def run_batch(
    videos_df: pd.DataFrame,
    cache_dir: str | os.PathLike,
    cfg: Mapping[str, Any] | PreprocessConfig | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Process a batch of videos (columns ``video_id, path, label`` and
    optionally ``dataset, split``); returns the report (``REPORT_COLUMNS``,
    ``cached`` is True where the cache file already existed)."""
    cfg = PreprocessConfig.from_dict(cfg)
    for col in ("video_id", "path", "label"):
        if col not in videos_df.columns:
            raise InputError(f"run_batch: the videos table has no column {col!r}")
    cache_dir = Path(cache_dir)
    out = []
    records = videos_df.to_dict("records")
    for v in tqdm(
        records, desc="preprocess", unit="video", disable=None if progress else True
    ):
        try:
            key = cache_key(v["video_id"], v["path"], cfg)
        except OSError as exc:
            out.append(
                _report_row(
                    v,
                    status="unreadable",
                    reason=f"cannot stat file: {exc}",
                    frames_decoded=0,
                    frames_sampled=0,
                    faces_found=0,
                    seconds=0.0,
                    cache_file="",
                    cached=False,
                )
            )
            continue
        cpath = cache_dir / key[:2] / f"{key}.h5"
        if cpath.exists():
            try:
                attrs, _ = read_cache(cpath, rows=False)
                out.append(
                    _report_row(
                        v,
                        **{k: attrs[k] for k in _RESULT_ATTRS},
                        seconds=float(attrs["seconds"]),
                        cache_file=str(cpath),
                        cached=True,
                    )
                )
                continue
            except (OSError, KeyError):
                cpath.unlink(missing_ok=True)  # damaged: process again
        res = process_video(v["path"], cfg)
        cache_file = ""
        if res.status not in ("error", "timeout"):
            try:
                write_cache(cpath, str(v["video_id"]), res, cfg)
                cache_file = str(cpath)
            except Exception as exc:
                res.status = "error"
                res.reason = f"cannot write cache file: {type(exc).__name__}: {exc}"
        out.append(
            _report_row(
                v,
                **{k: getattr(res, k) for k in _RESULT_ATTRS},
                seconds=res.seconds,
                cache_file=cache_file,
                cached=False,
            )
        )
    df = pd.DataFrame(out, columns=REPORT_COLUMNS)
    return df.astype(
        {
            "label": "int64",
            "frames_decoded": "int64",
            "frames_sampled": "int64",
            "faces_found": "int64",
            "seconds": "float64",
            "cached": "bool",
        }
    )


def pack_shards(
    report_df: pd.DataFrame,
    out_dir: str | os.PathLike,
    cfg: Mapping[str, Any] | PreprocessConfig | None,
    split: str,
    progress: bool = True,
) -> list[Path]:
    """Write the ``ok`` videos of ``split`` (ordered by video_id) into shards.

    Each shard (at most ``shard_max_videos`` videos) is written under a
    temporary name and renamed; ``index.json`` is removed first and written
    last, then shard files of an earlier run not listed in it are deleted.
    With no ``ok`` video one empty shard is written.
    """
    cfg = PreprocessConfig.from_dict(cfg)
    out_dir = Path(out_dir)
    df = report_df[
        (report_df["split"].astype(str) == str(split)) & (report_df["status"] == "ok")
    ]
    df = df.sort_values("video_id", kind="stable")
    dup = df["video_id"][df["video_id"].duplicated()]
    if len(dup):
        raise InputError(
            f"pack_shards: video_id {dup.iloc[0]!r} appears twice in the report"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / INDEX_NAME).unlink(missing_ok=True)
    per = max(1, int(cfg.shard_max_videos))
    records = df.to_dict("records")
    chunks = [records[i : i + per] for i in range(0, len(records), per)] or [[]]
    written: list[Path] = []
    shard_info = []
    config = cfg.output_dict()
    bar = tqdm(
        total=len(records),
        desc=f"shards {split}",
        unit="video",
        disable=None if progress else True,
    )
    for si, chunk in enumerate(chunks):
        path = out_dir / f"shard-{si:05d}.h5"
        with ShardWriter(
            path, cfg.encoding, cfg.face_size, cfg.eye_size, cfg.jpeg_quality, config
        ) as w:
            for v in chunk:
                cf = v.get("cache_file")
                if not isinstance(cf, str) or not cf or not Path(cf).exists():
                    raise InputError(
                        f"pack_shards: cache file of {v['video_id']!r} "
                        f"is missing: {cf!r}"
                    )
                attrs, rows = read_cache(cf)
                if (attrs["encoding"], attrs["face_size"], attrs["eye_size"]) != (
                    cfg.encoding,
                    cfg.face_size,
                    cfg.eye_size,
                ):
                    raise InputError(
                        f"pack_shards: {cf} was made with another encoding or size"
                    )
                w.add_video(
                    v["video_id"],
                    int(v["label"]),
                    v.get("dataset", ""),
                    split,
                    rows,
                    frames_sampled=int(attrs["frames_sampled"]),
                )
                bar.update(1)
            n_rows = w.n_rows
        written.append(path)
        shard_info.append({"file": path.name, "n_videos": len(chunk), "n_rows": n_rows})
    bar.close()
    index = {
        "format_version": 1,
        "split": str(split),
        "n_videos": len(records),
        "n_rows": sum(s["n_rows"] for s in shard_info),
        "encoding": cfg.encoding,
        "face_size": cfg.face_size,
        "eye_size": cfg.eye_size,
        "config": config,
        "versions": package_versions(),
        "shards": shard_info,
    }
    write_json(index, out_dir / INDEX_NAME)
    keep = {p.name for p in written}
    for p in out_dir.glob("shard-*.h5"):
        if p.name not in keep:
            p.unlink()
    return written


def write_report(
    batch_reports: Iterable[pd.DataFrame | str | os.PathLike],
    report_csv: str | os.PathLike | None = None,
    summary_csv: str | os.PathLike | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Concatenate batch reports (DataFrames or CSV paths) and summarise per
    split: videos, ok, one column per lost status, frames and faces; a last
    line ``all`` covers every split. Writes the CSVs atomically when paths are
    given."""
    dfs = [
        x if isinstance(x, pd.DataFrame) else pd.read_csv(x, keep_default_na=False)
        for x in batch_reports
    ]
    dfs = [d for d in dfs if len(d)]
    if dfs:
        report = pd.concat(dfs, ignore_index=True)
    else:
        report = pd.DataFrame(columns=REPORT_COLUMNS)
    report = report.sort_values(["split", "video_id"], kind="stable").reset_index(
        drop=True
    )
    report["reason"] = report["reason"].fillna("")

    def summarise(g: pd.DataFrame, split: str) -> dict[str, Any]:
        s: dict[str, Any] = {"split": split, "videos": len(g)}
        for st in STATUSES:
            s[st] = int((g["status"] == st).sum())
        for k in ("frames_decoded", "frames_sampled", "faces_found"):
            s[k] = int(pd.to_numeric(g[k]).sum()) if len(g) else 0
        s["seconds"] = float(pd.to_numeric(g["seconds"]).sum()) if len(g) else 0.0
        return s

    lines = [summarise(g, str(sp)) for sp, g in report.groupby("split", sort=True)]
    lines.append(summarise(report, "all"))
    summary = pd.DataFrame(lines)
    if report_csv is not None:
        write_csv(report, report_csv)
    if summary_csv is not None:
        write_csv(summary, summary_csv)
    return report, summary


def contact_sheet(
    shard_dirs: Mapping[str, str | os.PathLike],
    out_png: str | os.PathLike,
    n: int = 16,
    seed: int = 0,
    tile: int = 96,
) -> Path:
    """A PNG grid: per split one band of ``n`` random face crops, each with its
    two eye crops below it."""
    rng = np.random.default_rng(seed)
    bands = []
    width = n * tile
    for split, d in shard_dirs.items():
        head = np.full((22, width, 3), 255, np.uint8)
        cv2.putText(
            head, str(split), (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1
        )
        band = np.full((tile + tile // 2, width, 3), 230, np.uint8)
        s = ShardSet(d)
        if len(s):
            pick = rng.choice(len(s), size=min(n, len(s)), replace=False)
            for j, i in enumerate(sorted(pick)):
                sh, row = int(s.rows.at[i, "shard"]), int(s.rows.at[i, "row"])
                face = cv2.resize(
                    s.face(sh, row), (tile, tile), interpolation=cv2.INTER_AREA
                )
                eyes = [cv2.resize(e, (tile // 2, tile // 2)) for e in s.eyes(sh, row)]
                x = j * tile
                band[:tile, x : x + tile] = face
                band[tile:, x : x + tile // 2] = eyes[0]
                band[tile:, x + tile // 2 : x + tile] = eyes[1]
        else:
            cv2.putText(
                band, "no faces", (4, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1
            )
        s.close()
        bands += [head, band]
    if not bands:
        bands = [np.full((22, width, 3), 255, np.uint8)]
    img = np.concatenate(bands)
    out_png = Path(out_png)
    with atomic_path(out_png, suffix=".png") as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
            raise OSError(f"cannot write {out_png}")
    return out_png
