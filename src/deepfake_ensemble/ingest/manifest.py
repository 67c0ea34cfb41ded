"""Build the video manifest from datasets laid out on disk.

Each entry of ``config["datasets"]`` names a dataset (``name``), its layout and
its root folder. :func:`ingest_dataset` turns one entry into manifest rows;
:func:`build_manifest` concatenates several and checks that the ids are unique.
User files are only listed and read, never moved, copied or modified.

Manifest columns (see :data:`MANIFEST_COLUMNS`):

- ``video_id``: ``<name>/<path relative to the root, extension removed>``,
  POSIX separators; unique across datasets because ``name`` is.
- ``path``: absolute path of the video as reached from the root the user gave
  (symbolic links are kept as links, not resolved).
- ``label``: 0 real, 1 fake.
- ``group``: the identity or original video a video derives from, prefixed with
  the dataset name; all videos of a group must stay in one split.
- ``original``: for a fake, the ``video_id`` of its original video when that
  video is part of the dataset, else empty.
- ``official_split``: the split the dataset's authors assigned, else empty.
- ``identity``: the person shown, prefixed with the dataset name, where the
  file names tell it (Celeb-DF ``idX``, DFD actors): a real clip's person, a
  fake's target (the person of the scene); else empty.
- ``source_identity``: for a fake, the person whose face was swapped in
  (Celeb-DF ``idB`` of ``idA_idB_NNNN``, DFD ``<src>``); else empty.
  ``split_by: identity`` keeps both identities of a fake in its split.

Grouping rules per layout:

- ``celebdf`` (Celeb-DF v2): a fake ``Celeb-synthesis/idA_idB_NNNN`` is made
  from the real clip ``Celeb-real/idA_NNNN`` (target identity ``idA``) with the
  face of ``idB`` pasted in. Real ``Celeb-real/idX_NNNN`` clips form group
  ``<name>/idX``; fakes join the group of their target identity ``idA``, the
  same group as the real clip they were made from. The source identity ``idB``
  is not merged in: every identity is the source of some fake of another, so
  joining both would chain nearly all identities into a single group and leave
  nothing to split. ``YouTube-real`` clips (no identity in their names) each
  form their own group. Names that do not follow these patterns form their own
  group.
- ``dfd`` (FaceForensics++ DeepFakeDetection): real
  ``<actor>__<scene>`` videos form group ``<name>/<actor>``; a fake
  ``<tgt>_<src>__<scene>__<code>`` is made from the real ``<tgt>__<scene>``
  video and joins group ``<name>/<tgt>``, the group of that original. The
  source actor is not merged in, for the same reason as in Celeb-DF (28 actors
  swapped pairwise would collapse into one group).
- ``dfdc``: a fake joins the group of its ``original`` (the original's
  ``video_id``, looked up in the same folder first, then in every folder of
  the dataset); a real video, or a fake without original, is its own group.
  An entry's optional ``"group"`` (a non-standard extension that the demo
  dataset uses to keep an identity's videos together) overrides both; it is
  prefixed with the dataset name.
- ``folder``: ``real/`` and ``fake/`` subfolders, searched recursively; every
  video is its own group.
- ``csv``: a table with columns ``path`` and ``label`` and optional ``group``,
  ``original`` and ``split``; an explicit group is prefixed with the dataset
  name; a fake without a group joins the group of its ``original``; otherwise
  a video is its own group.

Every bad input raises :class:`~deepfake_ensemble.errors.InputError` naming
the file and the line or key; video files that exist but cannot be decoded
are left for the preprocessing stage to record.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from deepfake_ensemble.defaults import DEFAULTS
from deepfake_ensemble.errors import InputError

VIDEO_EXTENSIONS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}
MANIFEST_COLUMNS = [
    "video_id",
    "path",
    "label",
    "dataset",
    "group",
    "original",
    "official_split",
    "identity",
    "source_identity",
]
LAYOUTS = ("celebdf", "dfd", "dfdc", "folder", "csv")
DFD_COMPRESSIONS = ("raw", "c23", "c40")

_CELEB_REAL_DIRS = ("Celeb-real", "YouTube-real")
_CELEB_FAKE_DIR = "Celeb-synthesis"
_CELEB_TEST_LIST = "List_of_testing_videos.txt"
_CELEB_REAL_RE = re.compile(r"^(id\d+)_(\d+)$")
_CELEB_FAKE_RE = re.compile(r"^(id\d+)_(id\d+)_(\d+)$")
_DFD_REAL_RE = re.compile(r"^(?P<actor>[^_]+)__(?P<scene>.+)$")
_DFD_FAKE_RE = re.compile(
    r"^(?P<tgt>[^_]+)_(?P<src>[^_]+)__(?P<scene>.+)__(?P<code>[^_]+)$"
)
_LABEL_WORDS = {"0": 0, "1": 1, "real": 0, "fake": 1}


# --------------------------------------------------------------------------
# helpers


def is_video(name: str) -> bool:
    """True for a file name with one of :data:`VIDEO_EXTENSIONS` (any case)."""
    return os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS


def _strip_video_ext(rel: str) -> str:
    stem, ext = os.path.splitext(rel)
    return stem if ext.lower() in VIDEO_EXTENSIONS else rel


def _abs(path: str | os.PathLike) -> str:
    """Absolute, normalised path without resolving symbolic links."""
    return os.path.abspath(os.path.expanduser(os.fspath(path)))


def _rel_id(name: str, root: str, path: str) -> str:
    rel = Path(os.path.relpath(path, root)).as_posix()
    return f"{name}/{_strip_video_ext(rel)}"


def walk_videos(top: str | os.PathLike) -> list[str]:
    """Absolute paths of the video files under ``top``, sorted.

    Hidden files and folders (names starting with ``.``) and files without a
    video extension are skipped. Symbolic links to folders are followed once
    per real folder, so a link loop is visited once and cannot hang the walk.
    A folder that cannot be listed raises :class:`InputError`.
    """
    top = _abs(top)
    found: list[str] = []
    visited = {os.path.realpath(top)}

    def fail(err: OSError) -> None:
        raise InputError(f"cannot list folder {err.filename}: {err.strerror}")

    for dirpath, dirnames, filenames in os.walk(top, onerror=fail, followlinks=True):
        keep = []
        for d in sorted(dirnames):
            if d.startswith("."):
                continue
            real = os.path.realpath(os.path.join(dirpath, d))
            if real in visited:
                continue
            visited.add(real)
            keep.append(d)
        dirnames[:] = keep
        for f in sorted(filenames):
            if not f.startswith(".") and is_video(f):
                found.append(os.path.join(dirpath, f))
    return sorted(found)


def _frame(rows: list[dict], what: str) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    if df.empty:
        raise InputError(f"no videos found for {what}")
    dup = df["video_id"][df["video_id"].duplicated(keep=False)]
    if len(dup):
        vid = dup.iloc[0]
        paths = df.loc[df["video_id"] == vid, "path"].tolist()
        raise InputError(
            f"{what}: files {paths} give the same video id {vid!r} "
            "(same name with different video extensions)"
        )
    df["label"] = df["label"].astype(int)
    return df.sort_values("video_id", kind="mergesort").reset_index(drop=True)


def _row(
    video_id: str,
    path: str,
    label: int,
    dataset: str,
    group: str | None = None,
    original: str = "",
    official_split: str = "",
    identity: str = "",
    source_identity: str = "",
) -> dict:
    return {
        "video_id": video_id,
        "path": path,
        "label": int(label),
        "dataset": dataset,
        "group": group or video_id,
        "original": original,
        "official_split": official_split,
        "identity": identity,
        "source_identity": source_identity,
    }


def _check_name(spec: dict) -> str:
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"dataset entry {spec!r}: 'name' must be a non-empty string")
    if "/" in name or "\\" in name or name.startswith(".") or name != name.strip():
        raise InputError(
            f"dataset name {name!r}: must not contain '/' or '\\', start with '.' "
            "or have surrounding spaces (it prefixes every video id)"
        )
    return name


def _check_root(spec: dict, name: str, key: str = "root") -> str:
    root = spec.get(key)
    if root is None or str(root) == "":
        raise InputError(f"dataset {name!r}: missing '{key}'")
    root = _abs(root)
    if not os.path.isdir(root):
        raise InputError(f"dataset {name!r}: {key} folder {root} does not exist")
    return root


# --------------------------------------------------------------------------
# layouts


def _ingest_celebdf(spec: dict, name: str, root: str) -> pd.DataFrame:
    files: list[tuple[str, int]] = []
    present = []
    for sub, label in [(d, 0) for d in _CELEB_REAL_DIRS] + [(_CELEB_FAKE_DIR, 1)]:
        folder = os.path.join(root, sub)
        if os.path.isdir(folder):
            present.append(sub)
            files.extend((p, label) for p in walk_videos(folder))
    if not present:
        raise InputError(
            f"dataset {name!r}: {root} has none of the Celeb-DF folders "
            f"{', '.join(_CELEB_REAL_DIRS + (_CELEB_FAKE_DIR,))}"
        )
    ids = {_rel_id(name, root, p): (p, label) for p, label in files}
    real_ids = {
        vid
        for vid, (p, label) in ids.items()
        if label == 0 and os.path.relpath(p, root).split(os.sep)[0] == "Celeb-real"
    }

    split = _read_celebdf_test_list(name, root)
    by_path = {p: vid for vid, (p, _) in ids.items()}
    if split is not None:
        for lineno, (path, label) in split.items():
            vid = by_path.get(path)
            if vid is None:  # a file outside the three folders or not a video
                raise InputError(
                    f"{os.path.join(root, _CELEB_TEST_LIST)} line {lineno}: "
                    f"{path} is not a video under {', '.join(present)}"
                )
            if ids[vid][1] != label:
                word = "REAL (1)" if label == 0 else "FAKE (0)"
                raise InputError(
                    f"{os.path.join(root, _CELEB_TEST_LIST)} line {lineno}: "
                    f"label {word} disagrees with the folder of {path}"
                )
    test_paths = {p for p, _ in split.values()} if split is not None else set()

    rows = []
    for vid, (path, label) in ids.items():
        stem = os.path.splitext(os.path.basename(path))[0]
        group, original = vid, ""
        identity = source = ""
        top = os.path.relpath(path, root).split(os.sep)[0]
        if label == 1:
            m = _CELEB_FAKE_RE.match(stem)
            if m:
                group = identity = f"{name}/{m.group(1)}"
                source = f"{name}/{m.group(2)}"
                cand = f"{name}/Celeb-real/{m.group(1)}_{m.group(3)}"
                original = cand if cand in real_ids else ""
        elif top == "Celeb-real":
            m = _CELEB_REAL_RE.match(stem)
            if m:
                group = identity = f"{name}/{m.group(1)}"
        official = ("test" if path in test_paths else "train") if split else ""
        rows.append(
            _row(vid, path, label, name, group, original, official, identity, source)
        )
    return _frame(rows, f"dataset {name!r} ({root})")


def _read_celebdf_test_list(name: str, root: str) -> dict[int, tuple[str, int]] | None:
    """Line number -> (absolute path, label 0/1) of the official test list."""
    list_path = os.path.join(root, _CELEB_TEST_LIST)
    if not os.path.isfile(list_path):
        return None
    out: dict[int, tuple[str, int]] = {}
    with open(list_path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            text = line.strip()
            if not text:
                continue
            parts = text.split(maxsplit=1)
            if len(parts) != 2 or parts[0] not in ("0", "1"):
                raise InputError(
                    f"{list_path} line {lineno}: expected '<1|0> <folder>/<file>' "
                    f"(1 = REAL, 0 = FAKE), got {text!r}"
                )
            rel = parts[1].strip()
            path = os.path.normpath(os.path.join(root, rel))
            if os.path.isabs(rel) or not path.startswith(root + os.sep):
                raise InputError(
                    f"{list_path} line {lineno}: {rel!r} is outside the dataset"
                )
            if not os.path.exists(path):
                raise InputError(
                    f"{list_path} line {lineno}: listed video {path} does not exist"
                )
            # the list uses 1 for REAL and 0 for FAKE: flip to 0 real / 1 fake
            out[lineno] = (path, 1 - int(parts[0]))
    return out


def _ingest_dfd(spec: dict, name: str, root: str) -> pd.DataFrame:
    comp = str(spec.get("compression", DEFAULTS["datasets[].compression"]))
    if comp not in DFD_COMPRESSIONS:
        raise InputError(
            f"dataset {name!r}: compression {comp!r} is not one of "
            f"{', '.join(DFD_COMPRESSIONS)}"
        )
    real_dir = os.path.join(root, "original_sequences", "actors", comp, "videos")
    fake_dir = os.path.join(
        root, "manipulated_sequences", "DeepFakeDetection", comp, "videos"
    )
    if not os.path.isdir(real_dir) and not os.path.isdir(fake_dir):
        raise InputError(
            f"dataset {name!r}: neither {real_dir} nor {fake_dir} exists "
            f"(compression {comp})"
        )
    reals = walk_videos(real_dir) if os.path.isdir(real_dir) else []
    fakes = walk_videos(fake_dir) if os.path.isdir(fake_dir) else []

    rows = []
    real_by_stem: dict[str, str] = {}
    for path in reals:
        vid = _rel_id(name, root, path)
        stem = os.path.splitext(os.path.basename(path))[0]
        m = _DFD_REAL_RE.match(stem)
        identity = f"{name}/{m.group('actor')}" if m else ""
        group = identity or vid
        real_by_stem.setdefault(stem, vid)
        rows.append(_row(vid, path, 0, name, group, identity=identity))
    for path in fakes:
        vid = _rel_id(name, root, path)
        stem = os.path.splitext(os.path.basename(path))[0]
        m = _DFD_FAKE_RE.match(stem)
        group, original = vid, ""
        identity = source = ""
        if m:
            group = identity = f"{name}/{m.group('tgt')}"
            source = f"{name}/{m.group('src')}"
            original = real_by_stem.get(f"{m.group('tgt')}__{m.group('scene')}", "")
        rows.append(_row(vid, path, 1, name, group, original, "", identity, source))
    return _frame(rows, f"dataset {name!r} ({root}, {comp})")


def _load_json(path: str) -> object:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as err:
        raise InputError(
            f"{path}: not valid JSON at line {err.lineno} column {err.colno}: {err.msg}"
        ) from err
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text ({err})") from err


def _ingest_dfdc(spec: dict, name: str, root: str) -> pd.DataFrame:
    top_meta = os.path.join(root, "metadata.json")
    if os.path.isfile(top_meta):
        metas = [top_meta]
    else:
        metas = [
            os.path.join(root, d, "metadata.json")
            for d in sorted(os.listdir(root))
            if not d.startswith(".")
            and os.path.isfile(os.path.join(root, d, "metadata.json"))
        ]
    if not metas:
        raise InputError(
            f"dataset {name!r}: no metadata.json in {root} or in its subfolders"
        )

    entries = []  # (meta path, key, abs path, video id, label, original, split)
    groups: dict[str, str] = {}  # video id -> explicit group (an extension)
    for meta in metas:
        data = _load_json(meta)
        if not isinstance(data, dict):
            raise InputError(f"{meta}: expected a JSON object mapping file names")
        folder = os.path.dirname(meta)
        for key, info in data.items():
            where = f"{meta} key {key!r}"
            if not isinstance(info, dict):
                raise InputError(f"{where}: expected an object with 'label'")
            label_word = info.get("label")
            if not isinstance(label_word, str) or label_word.upper() not in (
                "REAL",
                "FAKE",
            ):
                raise InputError(f"{where}: label {label_word!r} is not REAL or FAKE")
            path = _member_path(folder, key, where)
            if not os.path.exists(path):
                raise InputError(f"{where}: video {path} does not exist")
            orig = info.get("original")
            if orig is not None and not isinstance(orig, str):
                raise InputError(f"{where}: original {orig!r} is not a file name")
            split = info.get("split")
            split = "" if split is None else str(split)
            group = info.get("group")
            if group is not None and (not isinstance(group, str) or not group.strip()):
                raise InputError(f"{where}: group {group!r} is not a non-empty string")
            if group:
                groups[_rel_id(name, root, path)] = f"{name}/{group.strip()}"
            entries.append(
                (
                    meta,
                    key,
                    path,
                    _rel_id(name, root, path),
                    1 if label_word.upper() == "FAKE" else 0,
                    orig or "",
                    split,
                )
            )

    by_path = {e[2]: e[3] for e in entries}
    by_base: dict[str, list[str]] = {}
    for e in entries:
        by_base.setdefault(os.path.basename(e[2]), []).append(e[3])

    rows = []
    for meta, key, path, vid, label, orig, split in entries:
        group, original = vid, ""
        if orig:
            folder = os.path.dirname(meta)
            opath = _member_path(folder, orig, f"{meta} key {key!r} original")
            oid = by_path.get(opath)
            if oid is None and len(by_base.get(os.path.basename(opath), [])) == 1:
                oid = by_base[os.path.basename(opath)][0]
            if oid is not None:
                group = original = oid
            else:  # original not in the dataset: group by its would-be id
                group = _rel_id(name, root, opath)
        group = groups.get(vid, group)
        rows.append(_row(vid, path, label, name, group, original, split))
    return _frame(rows, f"dataset {name!r} ({root})")


def _member_path(folder: str, rel: str, where: str) -> str:
    if not rel or os.path.isabs(rel):
        raise InputError(f"{where}: {rel!r} must be a file name relative to {folder}")
    path = os.path.normpath(os.path.join(folder, rel))
    if not path.startswith(folder.rstrip(os.sep) + os.sep):
        raise InputError(f"{where}: {rel!r} points outside {folder}")
    return path


def _ingest_folder(spec: dict, name: str, root: str) -> pd.DataFrame:
    rows = []
    subs = [("real", 0), ("fake", 1)]
    if not any(os.path.isdir(os.path.join(root, s)) for s, _ in subs):
        raise InputError(f"dataset {name!r}: {root} has no real/ or fake/ folder")
    for sub, label in subs:
        folder = os.path.join(root, sub)
        if os.path.isdir(folder):
            for path in walk_videos(folder):
                rows.append(_row(_rel_id(name, root, path), path, label, name))
    return _frame(rows, f"dataset {name!r} ({root})")


def _parse_label(value: str, where: str) -> int:
    label = _LABEL_WORDS.get(value.strip().lower())
    if label is None:
        raise InputError(
            f"{where}: label {value!r} is not one of 0, 1, real, fake (any case)"
        )
    return label


def _ingest_csv(spec: dict, name: str) -> pd.DataFrame:
    csv_value = spec.get("csv")
    if not csv_value:
        raise InputError(f"dataset {name!r}: layout csv needs a 'csv' file")
    csv_path = _abs(csv_value)
    if not os.path.isfile(csv_path) and spec.get("root"):
        alt = os.path.join(_abs(spec["root"]), os.fspath(csv_value))
        if os.path.isfile(alt):
            csv_path = alt
    if not os.path.isfile(csv_path):
        raise InputError(f"dataset {name!r}: csv file {csv_path} does not exist")
    csv_dir = os.path.dirname(csv_path)
    root = _check_root(spec, name) if spec.get("root") else csv_dir

    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{csv_path}: cannot read as CSV: {err}") from err
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in ("path", "label") if c not in table.columns]
    if missing:
        raise InputError(
            f"{csv_path}: missing column(s) {', '.join(missing)} "
            f"(found {', '.join(table.columns) or 'none'})"
        )

    def locate(value: str) -> str:
        value = os.path.expanduser(value.strip())
        return os.path.normpath(
            value if os.path.isabs(value) else os.path.join(csv_dir, value)
        )

    parsed = []
    by_path: dict[str, int] = {}
    for i, rec in enumerate(table.to_dict("records")):
        where = f"{csv_path} row {i + 1} (line {i + 2})"
        if not rec["path"].strip():
            raise InputError(f"{where}: empty path")
        path = locate(rec["path"])
        if not os.path.exists(path):
            raise InputError(f"{where}: video {path} does not exist")
        if not (path + os.sep).startswith(root.rstrip(os.sep) + os.sep):
            raise InputError(f"{where}: video {path} is outside the root {root}")
        if path in by_path:
            raise InputError(
                f"{where}: video {path} already listed in row {by_path[path] + 1}"
            )
        by_path[path] = i
        label = _parse_label(rec["label"], where)
        split = rec.get("split", "").strip()
        parsed.append((where, path, label, rec.get("group", "").strip(), split))

    ids = [_rel_id(name, root, p) for _, p, _, _, _ in parsed]
    originals = []
    for i, rec in enumerate(table.to_dict("records")):
        value = rec.get("original", "").strip()
        if not value:
            originals.append(None)
            continue
        j = by_path.get(locate(value))
        if j is None:
            raise InputError(
                f"{parsed[i][0]}: original {value!r} is not a path listed in the file"
            )
        originals.append(j)

    groups = [f"{name}/{g}" if g else "" for _, _, _, g, _ in parsed]
    # a row without a group takes its original's group (followed to the end)
    for i in range(len(parsed)):
        if groups[i]:
            continue
        j, seen = i, set()
        while not groups[j] and originals[j] is not None and j not in seen:
            seen.add(j)
            j = originals[j]
        groups[i] = groups[j] or ids[j]

    rows = [
        _row(
            ids[i],
            path,
            label,
            name,
            groups[i],
            ids[originals[i]] if originals[i] is not None else "",
            split,
        )
        for i, (_, path, label, _, split) in enumerate(parsed)
    ]
    return _frame(rows, f"dataset {name!r} ({csv_path})")


# --------------------------------------------------------------------------
# public API


def ingest_dataset(spec: dict) -> pd.DataFrame:
    """Manifest rows of one dataset entry (``name``, ``layout``, ``root``, ...).

    Returns a DataFrame with :data:`MANIFEST_COLUMNS`, sorted by ``video_id``.
    Raises :class:`InputError` for a missing root, an unknown layout, malformed
    metadata or lists, a listed video that does not exist, or no videos.
    """
    if not isinstance(spec, dict):
        raise InputError(f"dataset entry {spec!r} is not a mapping")
    name = _check_name(spec)
    layout = spec.get("layout")
    if layout not in LAYOUTS:
        raise InputError(
            f"dataset {name!r}: unknown layout {layout!r} "
            f"(expected one of {', '.join(LAYOUTS)})"
        )
    if layout == "csv":
        return _ingest_csv(spec, name)
    root = _check_root(spec, name)
    return {
        "celebdf": _ingest_celebdf,
        "dfd": _ingest_dfd,
        "dfdc": _ingest_dfdc,
        "folder": _ingest_folder,
    }[layout](spec, name, root)


def build_manifest(dataset_specs: Iterable[dict]) -> pd.DataFrame:
    """Manifest of several datasets: concatenated, ids checked unique, sorted.

    Dataset names must be unique (they prefix every ``video_id``); a repeated
    name raises :class:`InputError` before any folder is read.
    """
    specs = list(dataset_specs)
    if not specs:
        raise InputError("no datasets configured")
    for s in specs:
        if not isinstance(s, dict):
            raise InputError(f"dataset entry {s!r} is not a mapping")
    names = [_check_name(s) for s in specs]
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        if n in seen:
            raise InputError(
                f"datasets {seen[n] + 1} and {i + 1} share the name {n!r}; "
                "dataset names must be unique (they prefix every video id)"
            )
        seen[n] = i
    frames = [ingest_dataset(s) for s in specs]
    manifest = pd.concat(frames, ignore_index=True)
    dup = manifest["video_id"][manifest["video_id"].duplicated()]
    if len(dup):
        raise InputError(f"video id {dup.iloc[0]!r} occurs in more than one dataset")
    manifest = manifest.sort_values("video_id", kind="mergesort")
    return manifest.reset_index(drop=True)[MANIFEST_COLUMNS]
