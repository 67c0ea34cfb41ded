"""Scoring new videos with a bundle (:mod:`deepfake_ensemble.bundle.archive`).

The same three steps as the workflow, on any list of video files:

1. preprocessing: :func:`deepfake_ensemble.preprocess.pipeline.process_video` with the
   bundle's :class:`~deepfake_ensemble.preprocess.pipeline.PreprocessConfig` (the
   sampler, detector, crops and sizes the members were trained on); the
   faces go to an HDF5 shard (:class:`~deepfake_ensemble.preprocess.shards.ShardWriter`)
   as training's did (:func:`preprocess_videos`; the Snakemake entry uses
   ``run_batch`` and ``pack_shards`` instead, with the workflow's cache);
2. the forward step of :mod:`deepfake_ensemble.train.predict` on that shard, one
   member at a time (:func:`deepfake_ensemble.train.predict.predict`): a frame
   table per member;
3. :func:`score_table`: each member's video score (the mean of its frame
   scores), each ensemble's scores with its fitted parameters
   (:func:`deepfake_ensemble.evaluate.ensemble.ensemble_video_scores`: the rule per
   frame then the video mean, and the ``@video`` variant), the decision at
   the threshold chosen on validation, and the preprocessing status.

One row per video (:data:`LEAD_COLUMNS`, then per member and ensemble
``<name>`` and ``<name>_decision``, then :data:`TAIL_COLUMNS`). A video with
status ``no_face`` or ``too_short`` (a readable video in which no face was
scored) gets the evaluation's no-face policy: the score ``no_face_score``
(0.5 by default) from every member and ensemble under ``no_face: score``, no
score under ``exclude``. A file that is not a readable video (``empty_file``,
``unreadable``), or one that failed (``timeout``, ``error``), gets no score:
its ``reason`` says why.

Only numpy, pandas and scikit-learn at import: the steps that need OpenCV,
dlib, h5py or torch import them when called.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..defaults import DEFAULTS
from ..errors import InputError
from .archive import Bundle

#: file name endings taken as videos when a folder is scanned
VIDEO_EXTENSIONS = (
    ".mp4",
    ".m4v",
    ".mov",
    ".avi",
    ".mkv",
    ".webm",
    ".mpg",
    ".mpeg",
    ".wmv",
    ".flv",
    ".3gp",
    ".ts",
)
#: an input file with one of these endings is a list of videos, one a line
LIST_EXTENSIONS = (".txt", ".list")
#: the columns of a video list (:func:`list_videos`)
VIDEO_LIST_COLUMNS = ("video_id", "path")
#: statuses of a readable video in which no face was scored: the no-face policy
NO_FACE_STATUSES = ("no_face", "too_short")
#: the split name of scored videos in reports and shards
SPLIT = "score"
#: placeholder label of scored videos (unknown; the tables need a 0/1 label)
LABEL = 0
LEAD_COLUMNS = ("video", "status", "frames_sampled", "faces_found")
TAIL_COLUMNS = ("reason", "seconds", "path")
DECISION_SUFFIX = "_decision"


# ---------------------------------------------------------------- inputs


def _is_video_name(name: str) -> bool:
    return name.lower().endswith(VIDEO_EXTENSIONS)


def _folder_videos(folder: str) -> list[tuple[str, str]]:
    out = []
    root = Path(folder)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or not _is_video_name(name):
                continue
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            out.append((os.path.join(folder, rel), str(path)))
    return out


def _list_file_videos(list_file: str) -> list[tuple[str, str]]:
    base = Path(list_file).parent
    try:
        text = Path(list_file).read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise InputError(f"{list_file}: cannot read the video list: {exc}") from None
    out = []
    for line in text.splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        path = Path(entry) if os.path.isabs(entry) else base / entry
        out.append((entry, str(path)))
    return out


def list_videos(inputs: str | Sequence[str]) -> pd.DataFrame:
    """The videos to score: ``video_id`` (the name as given: a path given,
    a folder joined with a file's path below it, or a line of a list) and
    ``path`` (absolute).

    Each input is a folder (every file below it whose name ends in one of
    :data:`VIDEO_EXTENSIONS`, hidden ones left out, in name order), a text
    file ending in ``.txt`` or ``.list`` (one video a line, relative to the
    list's folder; blank lines and ``#`` comments skipped), or a video file
    (taken as it is, whatever its name: what it holds is preprocessing's to
    find out). A file named twice is scored once.
    """
    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    pairs: list[tuple[str, str]] = []
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            pairs += _folder_videos(item)
        elif item.lower().endswith(LIST_EXTENSIONS) and os.path.isfile(item):
            pairs += _list_file_videos(item)
        else:
            pairs.append((item, item))
    seen: set[str] = set()
    rows = []
    for video_id, path in pairs:
        absolute = os.path.abspath(path)
        if absolute in seen:
            continue
        seen.add(absolute)
        rows.append({"video_id": video_id, "path": absolute})
    table = pd.DataFrame(rows, columns=list(VIDEO_LIST_COLUMNS))
    dup = table["video_id"].duplicated()
    if dup.any():
        raise InputError(
            f"two different files are both named {table['video_id'][dup].iloc[0]!r}"
        )
    return table


def read_video_list(path: str | os.PathLike) -> pd.DataFrame:
    """A video list as :func:`list_videos` returns it, from its CSV."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def batch_count(n_videos: int, videos_per_job: int) -> int:
    """Preprocessing batches of a list of videos (as the workflow's splits)."""
    return max(1, math.ceil(n_videos / max(1, int(videos_per_job))))


def batch_of(videos: pd.DataFrame, batch: int, videos_per_job: int) -> pd.DataFrame:
    """Videos ``batch * n .. (batch + 1) * n`` as ``run_batch`` takes them."""
    part = videos.iloc[batch * videos_per_job : (batch + 1) * videos_per_job]
    return part.assign(label=LABEL, split=SPLIT, dataset="")


# ---------------------------------------------------------------- heavy steps


def preprocess_videos(
    videos: pd.DataFrame,
    cfg: Mapping[str, Any],
    shard_path: str | os.PathLike,
    *,
    progress: bool = True,
) -> pd.DataFrame:
    """Preprocess each video with :func:`process_video` (the bundle's
    settings ``cfg``) and write its faces to the shard ``shard_path``; returns
    the report (``video_id``, status, reason, frames, faces, seconds). A bad
    file gets its status and never stops the others."""
    from tqdm import tqdm

    from ..preprocess.pipeline import PreprocessConfig, process_video
    from ..preprocess.shards import ShardWriter

    pcfg = PreprocessConfig.from_dict(cfg)
    rows = []
    with ShardWriter(
        shard_path,
        pcfg.encoding,
        pcfg.face_size,
        pcfg.eye_size,
        pcfg.jpeg_quality,
        pcfg.output_dict(),
    ) as writer:
        for video in tqdm(
            videos.to_dict("records"),
            desc="preprocess",
            unit="video",
            disable=None if progress else True,
        ):
            result = process_video(video["path"], pcfg)
            if result.rows is not None:
                writer.add_video(
                    video["video_id"],
                    LABEL,
                    "",
                    SPLIT,
                    result.rows,
                    frames_sampled=result.frames_sampled,
                )
            rows.append(
                {
                    "video_id": video["video_id"],
                    "status": result.status,
                    "reason": result.reason,
                    "frames_sampled": result.frames_sampled,
                    "faces_found": result.faces_found,
                    "seconds": result.seconds,
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "video_id",
            "status",
            "reason",
            "frames_sampled",
            "faces_found",
            "seconds",
        ],
    )


def predict_members(
    bundle: Bundle,
    shards,
    *,
    device: str = DEFAULTS["train.device"],
    batch_size: int = 64,
    progress: bool = True,
    timings: dict[str, float] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, pd.DataFrame]:
    """:func:`deepfake_ensemble.train.predict.predict` for every member of the
    bundle; ``timings`` receives the seconds of each."""
    from ..train.predict import predict

    out = {}
    for model in bundle.members:
        t0 = clock()
        out[model] = predict(
            bundle.checkpoint(model),
            shards,
            device=device,
            batch_size=batch_size,
            progress=progress,
        )
        if timings is not None:
            timings[model] = clock() - t0
    return out


# ---------------------------------------------------------------- the table


def _decide(scores: pd.Series, threshold: float | None) -> pd.Series:
    thr = 0.5 if threshold is None else float(threshold)
    s = scores.to_numpy(dtype=float)
    out = np.where(s > thr, "fake", "real").astype(object)
    out[np.isnan(s)] = ""
    return pd.Series(out, index=scores.index)


def score_columns(bundle: Bundle, ensembles: Sequence[str] | None = None) -> list[str]:
    """The score columns of the table: members, then each ensemble and its
    ``@video`` variant."""
    names = list(bundle.members)
    for name in bundle.select(ensembles):
        names += [name, f"{name}@video"]
    return names


def thresholds(bundle: Bundle, ensembles: Sequence[str] | None = None) -> dict:
    """Score column -> the threshold chosen on validation (``None``: 0.5)."""
    out = {m: bundle.member_threshold(m) for m in bundle.members}
    for name in bundle.select(ensembles):
        thr = bundle.ensembles[name].get("thresholds") or {}
        out[name] = thr.get("frame")
        out[f"{name}@video"] = thr.get("video")
    return out


def score_table(
    videos: pd.DataFrame,
    report: pd.DataFrame,
    member_frames: Mapping[str, pd.DataFrame],
    bundle: Bundle,
    ensembles: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per video of ``videos`` (``video_id, path``): its status from
    ``report`` (``video_id, status, reason, frames_sampled, faces_found,
    seconds``), every member's score (``member_frames``: model -> frame
    predictions), every selected ensemble's (all of the bundle's by default)
    and each one's decision at its validation threshold."""
    # here, not at import: the scoring steps before this one (listing,
    # preprocessing, prediction) do not load scikit-learn (1.3 s a job)
    from ..evaluate.ensemble import ensemble_video_scores
    from ..evaluate.metrics import video_scores

    names = bundle.select(ensembles)
    rep = report.set_index("video_id")
    missing = [v for v in videos["video_id"] if v not in rep.index]
    if missing:
        raise InputError(f"no preprocessing report of video {missing[0]!r}")
    table = pd.DataFrame(
        {
            "video": videos["video_id"].to_numpy(),
            "status": rep.loc[videos["video_id"], "status"].to_numpy(),
            "frames_sampled": rep.loc[videos["video_id"], "frames_sampled"]
            .astype(int)
            .to_numpy(),
            "faces_found": rep.loc[videos["video_id"], "faces_found"]
            .astype(int)
            .to_numpy(),
        }
    )
    index = pd.Index(videos["video_id"].to_numpy())
    scores: dict[str, pd.Series] = {}
    frames = {}
    for model in bundle.members:
        if model not in member_frames:
            raise InputError(f"no predictions of member {model}")
        f = member_frames[model]
        f = f[f["video_id"].isin(index)]
        frames[model] = f
        if len(f):
            v = video_scores(f, f"predictions of {model}").set_index("video_id")
            scores[model] = v["score"].reindex(index)
        else:
            scores[model] = pd.Series(np.nan, index=index)
    for name in names:
        fitted = bundle.ensembles[name]
        if all(len(frames[m]) for m in fitted["members"]):
            ens = ensemble_video_scores(fitted, frames).set_index("video_id")
            scores[name] = ens["frame"].reindex(index)
            scores[f"{name}@video"] = ens["video"].reindex(index)
        else:
            scores[name] = pd.Series(np.nan, index=index)
            scores[f"{name}@video"] = pd.Series(np.nan, index=index)
    ev = bundle.evaluation
    no_face = table["status"].isin(NO_FACE_STATUSES).to_numpy()
    thr = thresholds(bundle, names)
    for column in score_columns(bundle, names):
        s = scores[column].to_numpy(dtype=float).copy()
        if ev.get("no_face", DEFAULTS["evaluation.no_face"]) == "score":
            s[no_face & np.isnan(s)] = float(
                ev.get("no_face_score", DEFAULTS["evaluation.no_face_score"])
            )
        series = pd.Series(s, index=table.index)
        table[column] = series
        table[column + DECISION_SUFFIX] = _decide(series, thr[column])
    table["reason"] = rep.loc[videos["video_id"], "reason"].astype(str).to_numpy()
    table["seconds"] = rep.loc[videos["video_id"], "seconds"].astype(float).to_numpy()
    table["path"] = videos["path"].to_numpy()
    return table


def table_records(
    table: pd.DataFrame, bundle: Bundle, ensembles: Sequence[str] | None = None
) -> dict[str, Any]:
    """The table for machines (``--json``): the bundle, then one object per
    video with ``members`` and ``ensembles`` -> name -> ``score``,
    ``threshold``, ``decision``."""
    from .archive import manifest_digest

    names = bundle.select(ensembles)
    thr = thresholds(bundle, names)

    def entry(row, column):
        score = row[column]
        return {
            "score": None if pd.isna(score) else float(score),
            "threshold": thr[column],
            "decision": row[column + DECISION_SUFFIX] or None,
        }

    videos = []
    for row in table.to_dict("records"):
        videos.append(
            {
                "video": row["video"],
                "path": row["path"],
                "status": row["status"],
                "reason": row["reason"],
                "frames_sampled": int(row["frames_sampled"]),
                "faces_found": int(row["faces_found"]),
                "seconds": float(row["seconds"]),
                "members": {m: entry(row, m) for m in bundle.members},
                "ensembles": {
                    col: entry(row, col)
                    for name in names
                    for col in (name, f"{name}@video")
                },
            }
        )
    return {
        "bundle": {
            "path": str(bundle.root),
            "manifest_sha256": manifest_digest(bundle.root),
            "created": bundle.index.get("created"),
            "commit": bundle.index.get("commit"),
            "members": bundle.members,
            "no_face": bundle.evaluation,
        },
        "videos": videos,
    }
