"""HDF5 face shards: format, writer and reader (no PyTorch).

Shard format (``FORMAT_VERSION`` 1)
-----------------------------------
A dataset's split's shards live in one directory::

    results/shards/{dataset}/{split}/shard-00000.h5, shard-00001.h5, ..., index.json

Each shard holds at most ``shard_max_videos`` videos; videos are ordered by
``video_id`` and never span two shards. ``index.json`` is written last and
lists the shards (``{"format_version", "split", "n_videos", "n_rows",
"shards": [{"file", "n_videos", "n_rows"}], ...}``): a directory without it is
incomplete. Every shard file is written under a temporary name and renamed
when complete. A split with no usable video still gets one empty shard and an
index.

One row per kept face. Datasets in each shard (N rows, V videos):

=================  ===========================================================
``faces``          face crops, RGB. ``encoding = "raw"``: uint8
                   N x S x S x 3 (chunk = one face). ``"jpeg"``: N variable-
                   length uint8 arrays, each a JPEG file's bytes.
``eyes``           eye crops, RGB (image-left eye = landmarks 36-41 first).
                   raw: uint8 N x 2 x E x E x 3; jpeg: N x 2 variable-length
                   uint8 arrays.
``landmarks``      float32 N x 68 x 2, dlib 68 points in face-crop pixels.
``boxes``          float32 N x 4, detector box x0, y0, x1, y1 in frame pixels.
``crop_boxes``     float32 N x 4, face crop square in frame pixels.
``frame_index``    int32 N, index of the frame among the decoded frames.
``timestamp``      float32 N, seconds from the video's first frame.
``face_index``     int16 N, rank of the face in its frame by area (0 largest).
``video_row``      int32 N, row of the face's video in ``videos``.
``videos/``        a table as a group of V-long columns: ``video_id``,
                   ``dataset``, ``split`` (UTF-8 variable-length strings),
                   ``label`` (int8), ``first_row``, ``n_rows`` (int64),
                   ``frames_sampled`` (int32).
=================  ===========================================================

Rows of a video are contiguous (``first_row`` .. ``first_row + n_rows``),
ordered by frame index then face index. Attributes of the file:
``format_version``, ``encoding``, ``face_size``, ``eye_size``,
``jpeg_quality``, ``config`` (the preprocessing configuration as JSON) and
``versions`` (JSON: package versions of dlib, av, h5py, numpy, opencv and this
project).

Readers open HDF5 files lazily, once per process (the process id is checked
on each access), so datasets are safe with several DataLoader workers.

This module needs h5py, numpy, pandas and OpenCV only: preprocessing writes
shards without PyTorch. The PyTorch datasets that read them for training and
prediction live in :mod:`deepfake_ensemble.train.datasets`.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import h5py
import numpy as np
import pandas as pd

from ..defaults import DEFAULTS
from ..errors import InputError

__all__ = [
    "FORMAT_VERSION",
    "ShardWriter",
    "ShardSet",
    "open_shards",
    "shard_paths",
    "encode_image",
    "decode_image",
    "package_versions",
]

FORMAT_VERSION = 1
INDEX_NAME = "index.json"
ROW_FIELDS = {
    "landmarks": ((68, 2), np.float32),
    "boxes": ((4,), np.float32),
    "crop_boxes": ((4,), np.float32),
    "frame_index": ((), np.int32),
    "timestamp": ((), np.float32),
    "face_index": ((), np.int16),
}
VLEN_U8 = h5py.vlen_dtype(np.uint8)
STR = h5py.string_dtype()


def package_versions() -> dict[str, str]:
    import av
    import dlib

    from .. import __version__

    return {
        "deepfake_ensemble": __version__,
        "dlib": dlib.__version__,
        "av": av.__version__,
        "h5py": h5py.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
    }


def encode_image(rgb: np.ndarray, quality: int = 95) -> np.ndarray:
    """JPEG bytes (1-D uint8) of an RGB image."""
    ok, buf = cv2.imencode(
        ".jpg",
        cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
        [cv2.IMWRITE_JPEG_QUALITY, int(quality)],
    )
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.reshape(-1)


def decode_image(buf: np.ndarray) -> np.ndarray:
    img = cv2.imdecode(np.asarray(buf, np.uint8), cv2.IMREAD_COLOR_RGB)
    if img is None:
        raise ValueError("cannot decode a JPEG face crop")
    return img


# ----------------------------------------------------------------------------
# rows: the per-face arrays shared by the cache files and the shards


def empty_rows(encoding: str, face_size: int, eye_size: int) -> dict[str, Any]:
    rows: dict[str, Any] = {k: np.zeros((0, *s), t) for k, (s, t) in ROW_FIELDS.items()}
    if encoding == "raw":
        rows["faces"] = np.zeros((0, face_size, face_size, 3), np.uint8)
        rows["eyes"] = np.zeros((0, 2, eye_size, eye_size, 3), np.uint8)
    else:
        rows["faces"] = np.empty((0,), object)
        rows["eyes"] = np.empty((0, 2), object)
    return rows


def make_rows(
    items: Sequence[tuple[int, float, Any]],
    encoding: str,
    face_size: int,
    eye_size: int,
    jpeg_quality: int = DEFAULTS["preprocess.jpeg_quality"],
) -> dict[str, Any]:
    """Rows from ``(frame_index, timestamp, FaceRecord)`` triples."""
    if encoding not in ("raw", "jpeg"):
        raise ValueError(f"encoding must be 'raw' or 'jpeg', not {encoding!r}")
    rows = empty_rows(encoding, face_size, eye_size)
    n = len(items)
    if n == 0:
        return rows
    rows["frame_index"] = np.array([i for i, _, _ in items], np.int32)
    rows["timestamp"] = np.array([t for _, t, _ in items], np.float32)
    recs = [r for _, _, r in items]
    rows["face_index"] = np.array([r.face_index for r in recs], np.int16)
    rows["landmarks"] = np.stack([r.landmarks for r in recs]).astype(np.float32)
    rows["boxes"] = np.stack([r.box for r in recs]).astype(np.float32)
    rows["crop_boxes"] = np.stack([r.crop_box for r in recs]).astype(np.float32)
    if encoding == "raw":
        rows["faces"] = np.stack([r.face for r in recs])
        rows["eyes"] = np.stack([r.eyes for r in recs])
    else:
        faces = np.empty((n,), object)
        eyes = np.empty((n, 2), object)
        for i, r in enumerate(recs):
            faces[i] = encode_image(r.face, jpeg_quality)
            eyes[i, 0] = encode_image(r.eyes[0], jpeg_quality)
            eyes[i, 1] = encode_image(r.eyes[1], jpeg_quality)
        rows["faces"] = faces
        rows["eyes"] = eyes
    return rows


def create_row_datasets(
    h5: h5py.Group, encoding: str, face_size: int, eye_size: int
) -> None:
    for k, (shape, dtype) in ROW_FIELDS.items():
        h5.create_dataset(
            k, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype, chunks=True
        )
    s, e = face_size, eye_size
    if encoding == "raw":
        h5.create_dataset(
            "faces",
            shape=(0, s, s, 3),
            maxshape=(None, s, s, 3),
            dtype=np.uint8,
            chunks=(1, s, s, 3),
        )
        h5.create_dataset(
            "eyes",
            shape=(0, 2, e, e, 3),
            maxshape=(None, 2, e, e, 3),
            dtype=np.uint8,
            chunks=(1, 2, e, e, 3),
        )
    elif encoding == "jpeg":
        h5.create_dataset(
            "faces", shape=(0,), maxshape=(None,), dtype=VLEN_U8, chunks=(256,)
        )
        h5.create_dataset(
            "eyes", shape=(0, 2), maxshape=(None, 2), dtype=VLEN_U8, chunks=(256, 2)
        )
    else:
        raise ValueError(f"encoding must be 'raw' or 'jpeg', not {encoding!r}")


def append_rows(h5: h5py.Group, rows: dict[str, Any]) -> tuple[int, int]:
    """Append rows to the datasets of ``h5``; returns (first_row, n_rows)."""
    n = len(rows["frame_index"])
    n0 = h5["frame_index"].shape[0]
    if n == 0:
        return n0, 0
    for k in (*ROW_FIELDS, "faces", "eyes"):
        ds = h5[k]
        ds.resize((n0 + n, *ds.shape[1:]))
        val = rows[k]
        if ds.dtype == VLEN_U8:
            # element by element: h5py would turn equal-length buffers into
            # one 2-D array and refuse it
            for idx in np.ndindex(*val.shape):
                ds[(n0 + idx[0], *idx[1:])] = np.asarray(val[idx], np.uint8)
        else:
            ds[n0 : n0 + n] = val
    return n0, n


def read_rows(h5: h5py.Group) -> dict[str, Any]:
    rows = {k: h5[k][()] for k in (*ROW_FIELDS, "faces", "eyes")}
    return rows


# ----------------------------------------------------------------------------
# writer


class ShardWriter:
    """Write one shard file; use as a context manager.

    The file is written under a temporary name beside ``path`` and renamed to
    ``path`` only when the block exits without an exception.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        encoding: str = "jpeg",
        face_size: int = DEFAULTS["preprocess.face_size"],
        eye_size: int = DEFAULTS["preprocess.eye_size"],
        jpeg_quality: int = DEFAULTS["preprocess.jpeg_quality"],
        config: dict | None = None,
    ):
        self.path = Path(path)
        self.encoding = encoding
        self.face_size = int(face_size)
        self.eye_size = int(eye_size)
        self.jpeg_quality = int(jpeg_quality)
        self.config = config or {}
        self.videos: list[dict[str, Any]] = []
        self._h5: h5py.File | None = None
        self._tmp: Path | None = None

    def __enter__(self) -> ShardWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._h5 = h5py.File(self._tmp, "w")
        create_row_datasets(self._h5, self.encoding, self.face_size, self.eye_size)
        self._h5.create_dataset(
            "video_row", shape=(0,), maxshape=(None,), dtype=np.int32, chunks=True
        )
        a = self._h5.attrs
        a["format_version"] = FORMAT_VERSION
        a["encoding"] = self.encoding
        a["face_size"] = self.face_size
        a["eye_size"] = self.eye_size
        a["jpeg_quality"] = self.jpeg_quality
        a["config"] = json.dumps(self.config, sort_keys=True, default=str)
        a["versions"] = json.dumps(package_versions(), sort_keys=True)
        return self

    def add_video(
        self,
        video_id: str,
        label: int,
        dataset: str,
        split: str,
        rows: dict[str, Any],
        frames_sampled: int = 0,
    ) -> None:
        assert self._h5 is not None, "use ShardWriter as a context manager"
        first, n = append_rows(self._h5, rows)
        vrow = len(self.videos)
        if n:
            self._h5["video_row"].resize((first + n,))
            self._h5["video_row"][first : first + n] = vrow
        self.videos.append(
            {
                "video_id": str(video_id),
                "label": int(label),
                "dataset": str(dataset),
                "split": str(split),
                "first_row": first,
                "n_rows": n,
                "frames_sampled": int(frames_sampled),
            }
        )

    @property
    def n_rows(self) -> int:
        return 0 if self._h5 is None else int(self._h5["frame_index"].shape[0])

    def _write_videos(self, h5: h5py.File) -> None:
        g = h5.create_group("videos")
        v = self.videos
        for k in ("video_id", "dataset", "split"):
            g.create_dataset(
                k, data=np.array([x[k] for x in v], dtype=object), dtype=STR
            )
        g.create_dataset("label", data=np.array([x["label"] for x in v], np.int8))
        for k in ("first_row", "n_rows"):
            g.create_dataset(k, data=np.array([x[k] for x in v], np.int64))
        g.create_dataset(
            "frames_sampled", data=np.array([x["frames_sampled"] for x in v], np.int32)
        )

    def __exit__(self, exc_type, exc, tb) -> None:
        h5, tmp = self._h5, self._tmp
        self._h5 = None
        try:
            if exc_type is None:
                self._write_videos(h5)
            h5.close()
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if exc_type is None:
            os.replace(tmp, self.path)
        else:
            tmp.unlink(missing_ok=True)


# ----------------------------------------------------------------------------
# reader


def shard_paths(source: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """Shard files of a shard directory (from its ``index.json``), of a single
    ``.h5`` file, or of a list of files and/or directories."""
    items = [source] if isinstance(source, str | os.PathLike) else list(source)
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            idx = p / INDEX_NAME
            if not idx.exists():
                raise InputError(f"{p}: no {INDEX_NAME}; shard directory is incomplete")
            index = json.loads(idx.read_text())
            out.extend(p / s["file"] for s in index["shards"])
        elif p.name == INDEX_NAME:
            index = json.loads(p.read_text())
            out.extend(p.parent / s["file"] for s in index["shards"])
        elif p.exists():
            out.append(p)
        else:
            raise InputError(f"{p}: shard file not found")
    return out


class ShardSet:
    """Random access to the rows of several shards.

    ``rows``: one line per face (``shard``, ``row``, ``video_id``, ``label``,
    ``dataset``, ``frame_index``, ``timestamp``, ``face_index``);
    ``videos``: one line per video (``shard``, ``video_id``, ``label``,
    ``dataset``, ``split``, ``first_row``, ``n_rows``, ``frames_sampled``).
    Files are opened lazily, once per process.
    """

    def __init__(self, source):
        self.paths = shard_paths(source)
        self._handles: dict[int, h5py.File] = {}
        self._pid = os.getpid()
        self.attrs: list[dict[str, Any]] = []
        rows, videos = [], []
        for si, p in enumerate(self.paths):
            try:
                f = h5py.File(p, "r")
            except OSError as exc:
                raise InputError(f"{p}: cannot open shard: {exc}") from exc
            with f:
                a = dict(f.attrs)
                if int(a.get("format_version", -1)) != FORMAT_VERSION:
                    raise InputError(f"{p}: unsupported shard format version")
                self.attrs.append(
                    {
                        "encoding": str(a["encoding"]),
                        "face_size": int(a["face_size"]),
                        "eye_size": int(a["eye_size"]),
                        "config": json.loads(a["config"]),
                    }
                )
                g = f["videos"]
                v = pd.DataFrame(
                    {
                        "shard": si,
                        "video_id": g["video_id"].asstr()[()],
                        "label": g["label"][()].astype(np.int64),
                        "dataset": g["dataset"].asstr()[()],
                        "split": g["split"].asstr()[()],
                        "first_row": g["first_row"][()],
                        "n_rows": g["n_rows"][()],
                        "frames_sampled": g["frames_sampled"][()],
                    }
                )
                vr = f["video_row"][()]
                r = pd.DataFrame(
                    {
                        "shard": si,
                        "row": np.arange(len(vr), dtype=np.int64),
                        "video_id": v["video_id"].to_numpy()[vr],
                        "label": v["label"].to_numpy()[vr],
                        "dataset": v["dataset"].to_numpy()[vr],
                        "frame_index": f["frame_index"][()].astype(np.int64),
                        "timestamp": f["timestamp"][()],
                        "face_index": f["face_index"][()].astype(np.int64),
                    }
                )
            videos.append(v)
            rows.append(r)
        cols_v = ["shard", "video_id", "label", "dataset", "split", "first_row"]
        cols_v += ["n_rows", "frames_sampled"]
        cols_r = ["shard", "row", "video_id", "label", "dataset", "frame_index"]
        cols_r += ["timestamp", "face_index"]
        self.videos = (
            pd.concat(videos, ignore_index=True)
            if videos
            else pd.DataFrame(columns=cols_v)
        )
        self.rows = (
            pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols_r)
        )
        sizes = {(a["face_size"], a["eye_size"]) for a in self.attrs}
        if len(sizes) > 1:
            raise InputError(f"shards {self.paths} mix face/eye sizes {sorted(sizes)}")
        self.face_size, self.eye_size = sizes.pop() if sizes else (0, 0)

    def __len__(self) -> int:
        return len(self.rows)

    # lazy, per-process file handles
    def _file(self, shard: int) -> h5py.File:
        if self._pid != os.getpid():
            self._handles = {}  # inherited handles belong to the parent
            self._pid = os.getpid()
        f = self._handles.get(shard)
        if f is None:
            f = h5py.File(self.paths[shard], "r")
            self._handles[shard] = f
        return f

    def close(self) -> None:
        if self._pid == os.getpid():
            for f in self._handles.values():
                f.close()
        self._handles = {}

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_handles"] = {}
        return state

    def __del__(self):
        with contextlib.suppress(Exception):
            self.close()

    def face(self, shard: int, row: int) -> np.ndarray:
        """Face crop S x S x 3 uint8 RGB."""
        x = self._file(shard)["faces"][row]
        if self.attrs[shard]["encoding"] == "jpeg":
            return decode_image(x)
        return x

    def eyes(self, shard: int, row: int) -> np.ndarray:
        """Eye crops 2 x E x E x 3 uint8 RGB."""
        x = self._file(shard)["eyes"][row]
        if self.attrs[shard]["encoding"] == "jpeg":
            return np.stack([decode_image(b) for b in x])
        return x

    def eyes_rows(self, shard: int, rows: np.ndarray) -> np.ndarray:
        """Eye crops of several rows of one shard, K x 2 x E x E x 3."""
        ds = self._file(shard)["eyes"]
        rows = np.asarray(rows)
        lo, hi = int(rows.min()), int(rows.max()) + 1
        block = ds[lo:hi]
        sel = block[rows - lo]
        if self.attrs[shard]["encoding"] == "jpeg":
            return np.stack([[decode_image(b) for b in pair] for pair in sel])
        return sel

    def landmarks(self, shard: int, row: int) -> np.ndarray:
        return self._file(shard)["landmarks"][row]

    def read(self, shard: int, row: int, field: str) -> Any:
        return self._file(shard)[field][row]


def open_shards(source) -> ShardSet:
    """Open a shard directory, a shard file, or a list of them."""
    return ShardSet(source)
