"""Copy a split's shards to node-local scratch before a GPU job reads them.

On a cluster, many loader workers reading HDF5 shards at random from a shared
parallel file system is the usual bottleneck of training. With
``train.stage_dir`` set (e.g. ``$TMPDIR``, node-local on most sites), the
training and prediction jobs copy the shard folder they read there first and
read the copy:

* the copy goes to a temporary folder beside its final place and is renamed
  onto it only when every shard listed in ``index.json`` has the source's
  size in bytes and the row count the index gives (read with h5py);
* a verified copy already there (another job of the same node, or a retry)
  is reused; a damaged or partial one is replaced;
* the final folder is keyed by the source's absolute path and the index's
  content, so a re-packed split is never mistaken for an old copy.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path

import h5py

from ..errors import InputError
from ..preprocess.shards import INDEX_NAME

log = logging.getLogger(__name__)

STAGE_FOLDER = "deepfake-ensemble-shards"


def stage_root(stage_dir: str) -> Path:
    """``stage_dir`` with environment variables expanded; must exist."""
    root = Path(os.path.expandvars(os.path.expanduser(stage_dir)))
    if "$" in str(root) or not root.is_dir():
        raise InputError(
            f"train.stage_dir: {stage_dir!r} -> {root} is not an existing folder"
        )
    return root


def _index(shard_dir: Path) -> dict:
    path = shard_dir / INDEX_NAME
    if not path.is_file():
        raise InputError(f"{shard_dir}: no {INDEX_NAME}; shard directory is incomplete")
    return json.loads(path.read_text())


def _rows(path: Path) -> int:
    with h5py.File(path, "r") as h5:
        return int(h5["frame_index"].shape[0])


def verify_copy(copy: Path, source: Path, index: dict) -> str | None:
    """Why ``copy`` is not a faithful copy of ``source``, or None if it is."""
    if not (copy / INDEX_NAME).is_file():
        return f"no {INDEX_NAME}"
    if json.loads((copy / INDEX_NAME).read_text()) != index:
        return f"{INDEX_NAME} differs"
    for shard in index["shards"]:
        name = shard["file"]
        if not (copy / name).is_file():
            return f"{name} missing"
        if (copy / name).stat().st_size != (source / name).stat().st_size:
            return f"{name} has another size"
        if _rows(copy / name) != int(shard["n_rows"]):
            return f"{name} does not hold the {shard['n_rows']} rows of the index"
    return None


def stage_shards(shard_dir: str | os.PathLike, stage_dir: str) -> Path:
    """A verified copy of ``shard_dir`` under ``stage_dir``; its path."""
    source = Path(shard_dir).resolve()
    index = _index(source)
    key = hashlib.sha1(
        (str(source) + json.dumps(index, sort_keys=True)).encode()
    ).hexdigest()[:12]
    final = stage_root(stage_dir) / STAGE_FOLDER / f"{source.name}-{key}"
    if final.exists():
        problem = verify_copy(final, source, index)
        if problem is None:
            log.info("staged shards reused: %s", final)
            return final
        log.warning("staged copy %s is unusable (%s): copying again", final, problem)
        shutil.rmtree(final, ignore_errors=True)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    t0 = time.monotonic()
    n_bytes = 0
    try:
        for shard in index["shards"]:
            shutil.copyfile(source / shard["file"], tmp / shard["file"])
            n_bytes += (tmp / shard["file"]).stat().st_size
        shutil.copyfile(source / INDEX_NAME, tmp / INDEX_NAME)
        problem = verify_copy(tmp, source, index)
        if problem is not None:
            raise OSError(f"copy of {source} to {tmp} is bad: {problem}")
        try:
            tmp.rename(final)
        except OSError:  # another job of this node finished first
            if verify_copy(final, source, index) is not None:
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    seconds = time.monotonic() - t0
    log.info(
        "staged %d shards (%.1f MB) to %s in %.2f s",
        len(index["shards"]),
        n_bytes / 2**20,
        final,
        seconds,
    )
    return final
