"""A trained ensemble as a checked bundle: what rule ``bundle`` writes to
``results/bundle/`` and what ``deepfake-ensemble score`` reads.

Layout (``FORMAT_VERSION`` 1)::

    manifest.json           the SHA-256 and size of every other file
    bundle.json             the index: members, ensembles, preprocessing,
                            evaluation policy, package versions
    models/<model>.pt       each member's best checkpoint: its state dict and
                            the plain fields that rebuild it (no optimiser,
                            nothing pickled: ``torch.load(weights_only=True)``)
    ensembles/<name>.json   members, method, fitted weights / stacker
                            coefficients / calibrators, validation fit and
                            the thresholds chosen on validation
    model_card.md, model_card.json
                            training data and counts, split mode, test
                            metrics with intervals, date and commit

A bundle is read only after its manifest checks out (:func:`verify_bundle`):
a file that is missing, changed, or not listed (a hidden one too: the
manifest lists no hidden names) is an :class:`InputError` naming it. The one
file a bundle may hold unlisted is Snakemake's empty ``.snakemake_timestamp``
at its top, which Snakemake touches in every directory output. Everything but
the checkpoints is JSON or markdown.

Standard library only at import (the scoring rules of three conda
environments read bundles); the export loads torch inside
:func:`slim_checkpoint`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .. import __version__
from ..errors import InputError
from ..io import read_json, write_json, write_text
from ..layout import ALL_ENSEMBLES as ENSEMBLE_METHODS
from ..members import IDENTITY_KEYS, MODULE
from ..pretrained import sha256_file

FORMAT = "deepfake-ensemble-bundle"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
INDEX_NAME = "bundle.json"
CARD_MD = "model_card.md"
CARD_JSON = "model_card.json"
#: the file Snakemake touches in a directory output (``results/bundle``) to
#: carry its modification time: empty, unlisted, allowed at the top only
SNAKEMAKE_TIMESTAMP = ".snakemake_timestamp"
#: the checkpoint fields a bundled model keeps besides its weights (``model``)
CHECKPOINT_FIELDS = (
    "model_name",
    "model_kwargs",
    "input_kind",
    "input_size",
    "normalisation",
    "seq_len",
    "config",
    "config_hash",
    "seed",
    "epoch",
)
#: summary columns shown in the model card (those the summary has)
CARD_COLUMNS = (
    "name",
    "members",
    "video_auc",
    "video_auc_ci_lo",
    "video_auc_ci_hi",
    "frame_auc",
    "frame_auc_ci_lo",
    "frame_auc_ci_hi",
    "accuracy",
    "val_threshold",
    "accuracy_at_val_threshold",
    "balanced_accuracy_at_val_threshold",
    "n_videos",
    "n_no_face",
    "verdict",
)

PathLike = str | os.PathLike


# ---------------------------------------------------------------- manifest


def _is_timestamp_marker(root: Path, rel: str) -> bool:
    """Whether ``rel`` is Snakemake's mtime marker of the directory output
    ``root``: ``.snakemake_timestamp`` at the top, a plain empty file."""
    path = root / rel
    return (
        rel == SNAKEMAKE_TIMESTAMP
        and not path.is_symlink()
        and path.is_file()
        and path.stat().st_size == 0
    )


def _files_under(root: Path) -> list[str]:
    """Every file below ``root`` but the manifest and Snakemake's empty
    :data:`SNAKEMAKE_TIMESTAMP`, as POSIX paths: hidden ones (a name starting
    with ``.``, in any folder) included, so that they are refused as
    unlisted rather than passed over."""
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel == MANIFEST_NAME or _is_timestamp_marker(root, rel):
            continue
        if path.is_file() or path.is_symlink():
            out.append(rel)
    return out


def write_manifest(root: PathLike) -> dict:
    """Hash every file of the bundle folder ``root`` into its manifest (a
    hidden file is an :class:`InputError`: a manifest lists none)."""
    root = Path(root)
    hidden = [
        rel
        for rel in _files_under(root)
        if any(part.startswith(".") for part in PurePosixPath(rel).parts)
    ]
    if hidden:
        raise InputError(
            f"bundle {root}: {hidden[0]} is a hidden file; a manifest lists "
            f"none, remove it ({len(hidden)} hidden file(s))"
        )
    files = {
        rel: {"sha256": sha256_file(root / rel), "bytes": (root / rel).stat().st_size}
        for rel in _files_under(root)
    }
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "files": files}
    write_json(manifest, root / MANIFEST_NAME)
    return manifest


def _safe_relative(rel: str, where: str) -> str:
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise InputError(f"{where}: file name {rel!r} points outside the bundle")
    if any(part.startswith(".") for part in p.parts):
        raise InputError(f"{where}: file name {rel!r} is hidden")
    return p.as_posix()


def verify_bundle(root: PathLike) -> dict:
    """Check every file of a bundle against its manifest; returns the manifest.

    Raises :class:`InputError` naming the bundle and the file for: no
    manifest, a manifest of another format, a listed file missing or with
    another SHA-256 or size, a file in the folder the manifest does not list
    (hidden ones too; only Snakemake's empty :data:`SNAKEMAKE_TIMESTAMP` at
    the top is let be).
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"bundle {root}: not a folder")
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise InputError(
            f"bundle {root}: no {MANIFEST_NAME}; it cannot be checked "
            "(export it again: snakemake results/bundle)"
        )
    try:
        manifest = json.loads(path.read_text())
    except (UnicodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a bundle manifest: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(f"{path}: not a bundle manifest (format {FORMAT!r})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise InputError(
            f"{path}: bundle format version {manifest.get('format_version')!r}; "
            f"this version of deepfake-ensemble reads {FORMAT_VERSION}"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise InputError(f"{path}: lists no files")
    for rel in sorted(files):
        _safe_relative(rel, str(path))
        entry = files[rel]
        target = root / rel
        if not target.is_file():
            raise InputError(f"bundle {root}: {rel} is missing")
        if target.stat().st_size != int(entry.get("bytes", -1)):
            raise InputError(
                f"bundle {root}: {rel} has changed ({target.stat().st_size} bytes, "
                f"the manifest says {entry.get('bytes')})"
            )
        actual = sha256_file(target)
        if actual != entry.get("sha256"):
            raise InputError(
                f"bundle {root}: {rel} has changed (SHA-256 {actual}, "
                f"the manifest says {entry.get('sha256')})"
            )
    extra = [rel for rel in _files_under(root) if rel not in files]
    if extra:
        raise InputError(
            f"bundle {root}: {extra[0]} is not in the manifest "
            f"({len(extra)} unlisted file(s))"
        )
    return manifest


# ---------------------------------------------------------------- reading

#: preprocessing settings that came after the first bundles, with the value
#: the preprocessing had before it was a setting
PREPROCESS_BEFORE_SETTING = {"track_face_px": 100}


@dataclass
class Bundle:
    """A verified bundle: its index, its ensembles and where its files lie."""

    root: Path
    manifest: dict
    index: dict
    ensembles: dict[str, dict] = field(default_factory=dict)

    @property
    def members(self) -> list[str]:
        """The single detectors, in the bundle's order."""
        return list(self.index["members"])

    @property
    def preprocess(self) -> dict:
        """The preprocessing settings the members were trained on (a setting
        added after the bundle was written gets the value that reproduces the
        preprocessing of its time)."""
        return {**PREPROCESS_BEFORE_SETTING, **self.index["preprocess"]}

    @property
    def evaluation(self) -> dict:
        """The no-face policy and threshold rule of the evaluation."""
        return dict(self.index["evaluation"])

    def checkpoint(self, model: str) -> Path:
        """The bundled checkpoint of member ``model``."""
        if model not in self.index["members"]:
            raise InputError(
                f"bundle {self.root}: no member {model!r} "
                f"(members: {', '.join(self.members)})"
            )
        return self.root / self.index["members"][model]["checkpoint"]

    def member_threshold(self, model: str) -> float | None:
        return self.index["members"][model].get("threshold")

    def select(self, names: Sequence[str] | None) -> list[str]:
        """Ensemble names to score: ``names`` (checked) or all of the bundle."""
        if not names:
            return list(self.ensembles)
        unknown = [n for n in names if n not in self.ensembles]
        if unknown:
            raise InputError(
                f"bundle {self.root} has no ensemble {unknown[0]!r} "
                f"(it has: {', '.join(self.ensembles)})"
            )
        return list(dict.fromkeys(names))


def read_bundle(root: PathLike) -> Bundle:
    """Verify a bundle against its manifest, then read its index and ensembles
    (the checkpoints are loaded by whoever scores, with ``weights_only``)."""
    root = Path(root)
    manifest = verify_bundle(root)
    listed = set(manifest["files"])

    def load(rel: str) -> Any:
        rel = _safe_relative(rel, str(root / INDEX_NAME))
        if rel not in listed:
            raise InputError(f"bundle {root}: {rel} is not in the manifest")
        try:
            return json.loads((root / rel).read_text())
        except (UnicodeError, json.JSONDecodeError) as exc:
            raise InputError(f"bundle {root}: {rel} is not JSON: {exc}") from None

    index = load(INDEX_NAME)
    if index.get("format") != FORMAT or index.get("format_version") != FORMAT_VERSION:
        raise InputError(f"bundle {root}: {INDEX_NAME} is not a bundle index")
    for model, entry in index["members"].items():
        rel = _safe_relative(entry["checkpoint"], f"bundle {root}: member {model}")
        if rel not in listed:
            raise InputError(f"bundle {root}: {rel} is not in the manifest")
    ensembles = {name: load(rel) for name, rel in index["ensembles"].items()}
    for name, ens in ensembles.items():
        lacking = [m for m in ens["members"] if m not in index["members"]]
        if lacking:
            raise InputError(
                f"bundle {root}: ensemble {name} needs member(s) "
                f"{', '.join(lacking)}, which the bundle lacks"
            )
    return Bundle(root=root, manifest=manifest, index=index, ensembles=ensembles)


def manifest_digest(root: PathLike) -> str:
    """SHA-256 of a bundle's manifest: one hash that names the whole bundle."""
    return sha256_file(Path(root) / MANIFEST_NAME)


# ---------------------------------------------------------------- export


def slim_checkpoint(src: PathLike, dest: PathLike) -> dict:
    """Copy a training checkpoint's weights and :data:`CHECKPOINT_FIELDS`
    (read and written as plain tensors and values: ``weights_only``); returns
    the fields kept."""
    from ..train.checkpoint import load_tensors, read_checkpoint, save_tensors

    ckpt = read_checkpoint(src)
    slim = {k: ckpt[k] for k in CHECKPOINT_FIELDS if k in ckpt}
    slim["model"] = {k: v.detach().cpu().contiguous() for k, v in ckpt["model"].items()}
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    save_tensors(slim, dest)
    # what is written must load as weights only
    load_tensors(dest)
    return {k: v for k, v in slim.items() if k != "model"}


def git_commit(where: PathLike | None = None) -> str:
    """``git rev-parse HEAD`` of the source tree (an argument list, no shell),
    or ``unknown`` outside a git checkout."""
    where = Path(where) if where else Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else "unknown"


def export_versions() -> dict[str, str]:
    """Versions of Python and the libraries the members and ensembles need."""
    from importlib import metadata

    out = {"python": sys.version.split()[0], "deepfake_ensemble": __version__}
    for dist in ("torch", "torchvision", "timm", "numpy", "pandas", "scikit-learn"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None (JSON ``null``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def _threshold(block: Mapping | None) -> float | None:
    return ((block or {}).get("at_val_threshold") or {}).get("val_threshold")


def _summary_rows(summary_csv: PathLike | None, names: Sequence[str]) -> list[dict]:
    if summary_csv is None:
        return []
    import pandas as pd

    table = pd.read_csv(summary_csv, keep_default_na=False, na_values=[""])
    table = table[table["name"].isin(list(names))]
    cols = [c for c in CARD_COLUMNS if c in table.columns]
    order = {n: i for i, n in enumerate(names)}
    table = table.assign(_order=table["name"].map(order)).sort_values("_order")
    return [_clean(dict(row)) for row in table[cols].to_dict("records")]


def _counts(counts_csv: PathLike | None) -> list[dict]:
    if counts_csv is None:
        return []
    import pandas as pd

    return [
        _clean(r)
        for r in pd.read_csv(counts_csv, keep_default_na=False).to_dict("records")
    ]


def export_bundle(
    out_dir: PathLike,
    checkpoints: Mapping[str, PathLike],
    model_metrics: Mapping[str, PathLike],
    ensembles: Mapping[str, Mapping[str, PathLike]],
    train_shards: PathLike,
    *,
    summary_csv: PathLike | None = None,
    split_counts: PathLike | None = None,
    split: Mapping[str, Any] | None = None,
    datasets: Sequence[Mapping[str, Any]] = (),
    evaluation: Mapping[str, Any] | None = None,
    video_timeout_s: float | None = None,
    created: str | None = None,
    commit: str | None = None,
) -> Path:
    """Write a bundle folder ``out_dir`` (built beside it, then renamed).

    ``checkpoints``/``model_metrics``: model -> ``best.pt`` / its metrics
    JSON; ``ensembles``: name -> role -> file (``members``, ``weights``,
    ``metrics``: the ensemble rule's JSON files); ``train_shards``: the
    training split's shard folder, whose index records the preprocessing the
    members were trained on and the preprocessing libraries' versions.
    """
    from ..evaluate.videos import evaluation_config

    out_dir = Path(out_dir)
    index_path = Path(train_shards) / "index.json"
    if not index_path.is_file():
        raise InputError(f"{index_path}: missing; the training shards are incomplete")
    shard_index = read_json(index_path)
    preprocess = dict(shard_index["config"])
    if video_timeout_s is not None:
        preprocess["video_timeout_s"] = video_timeout_s
    ev = evaluation_config(evaluation)
    created = created or dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    commit = commit or git_commit()

    tmp = out_dir.with_name(f".{out_dir.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        members: dict[str, dict] = {}
        card_members: dict[str, dict] = {}
        for model in checkpoints:
            rel = f"models/{model}.pt"
            fields = slim_checkpoint(checkpoints[model], tmp / rel)
            if fields.get("model_name") != model:
                raise InputError(
                    f"{checkpoints[model]}: a checkpoint of "
                    f"{fields.get('model_name')!r}, not of {model!r}"
                )
            metrics = read_json(model_metrics[model])
            config = fields.get("config") or {}
            declared = {k: config[k] for k in IDENTITY_KEYS if k in config}
            members[model] = {
                "checkpoint": rel,
                "input_kind": fields.get("input_kind"),
                "input_size": fields.get("input_size"),
                "normalisation": fields.get("normalisation"),
                "seq_len": fields.get("seq_len"),
                "epoch": fields.get("epoch"),
                "threshold": _threshold(metrics.get("test")),
                # a declared member: its kind and backbone or class (the
                # study's detectors carry none, as before)
                **declared,
            }
            card_members[model] = {
                "epoch": fields.get("epoch"),
                "input_size": fields.get("input_size"),
                "normalisation": fields.get("normalisation"),
                "val_video_auc": (metrics.get("val") or {}).get("video_auc"),
                "threshold": members[model]["threshold"],
                **declared,
            }
        ensemble_files: dict[str, str] = {}
        for name, files in ensembles.items():
            if name not in ENSEMBLE_METHODS:
                raise InputError(f"unknown ensemble {name!r}")
            info = read_json(files["members"])
            weights = read_json(files["weights"])
            metrics = read_json(files["metrics"])
            lacking = [m for m in info["members"] if m not in members]
            if lacking:
                raise InputError(
                    f"ensemble {name} needs {', '.join(lacking)}, not in the bundle"
                )
            rel = f"ensembles/{name}.json"
            write_json(
                _clean(
                    {
                        "name": name,
                        "rule": info["rule"],
                        "method": info["method"],
                        "members": list(info["members"]),
                        "reason": info.get("reason"),
                        "weights": weights.get("weights"),
                        "meta": weights.get("meta"),
                        "val_fit": info.get("val_fit"),
                        "threshold_rule": ev["threshold_rule"],
                        "thresholds": {
                            "frame": _threshold(metrics),
                            "video": _threshold(metrics.get("video_variant")),
                        },
                    }
                ),
                tmp / rel,
            )
            ensemble_files[name] = rel
        versions = {
            "preprocessing": shard_index.get("versions", {}),
            "export": export_versions(),
        }
        index = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created": created,
            "commit": commit,
            "members": members,
            "ensembles": ensemble_files,
            "preprocess": preprocess,
            "evaluation": {
                k: ev[k] for k in ("no_face", "no_face_score", "threshold_rule")
            },
            "versions": versions,
            "model_card": CARD_MD,
        }
        write_json(_clean(index), tmp / INDEX_NAME)
        names = list(members) + [
            n for name in ensemble_files for n in (name, f"{name}@video")
        ]
        card = {
            "title": "deepfake-ensemble: four CNN detectors and their ensembles",
            "created": created,
            "commit": commit,
            "package_version": __version__,
            "training_data": {
                "datasets": [
                    {"name": d.get("name"), "layout": d.get("layout")} for d in datasets
                ],
                "split": dict(split or {}),
                "counts": _counts(split_counts),
            },
            "preprocessing": preprocess,
            "members": card_members,
            "ensembles": {
                name: {
                    "method": read_json(tmp / rel)["method"],
                    "members": read_json(tmp / rel)["members"],
                    "thresholds": read_json(tmp / rel)["thresholds"],
                }
                for name, rel in ensemble_files.items()
            },
            "evaluation": index["evaluation"],
            "test_metrics": _summary_rows(summary_csv, names),
            "versions": versions,
        }
        card = _clean(card)
        write_json(card, tmp / CARD_JSON)
        write_text(model_card_markdown(card), tmp / CARD_MD)
        write_manifest(tmp)
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _replace_dir(tmp: Path, dest: Path) -> None:
    """Move the finished folder ``tmp`` onto ``dest`` (an old one is removed)."""
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.{os.getpid()}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dest, old)
    os.replace(tmp, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------- model card


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _interval(row: Mapping[str, Any], metric: str) -> str:
    value = row.get(metric)
    if value is None:
        return ""
    lo, hi = row.get(f"{metric}_ci_lo"), row.get(f"{metric}_ci_hi")
    if lo is None or hi is None:
        return _fmt(value)
    return f"{_fmt(value)} [{_fmt(lo)}, {_fmt(hi)}]"


def _md_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    head = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = [
        "| " + " | ".join(_fmt(r.get(c)).replace("|", "/") for c in columns) + " |"
        for r in rows
    ]
    return "\n".join([head, rule, *body])


def _declared_lines(members: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The card's note on the members declared in the config (none: no line)."""
    declared = [
        f"`{m}` ({v['kind']} `{v.get('backbone') or v.get('class')}`)"
        for m, v in members.items()
        if v.get("kind")
    ]
    if not declared:
        return []
    line = f"Declared members: {', '.join(declared)}."
    if any(v.get("kind") == MODULE for v in members.values()):
        line += (
            " A module member's class is imported where the bundle scores: its "
            "package must be installed there or on PYTHONPATH."
        )
    return [line, ""]


def model_card_markdown(card: Mapping[str, Any]) -> str:
    """The model card (``model_card.json``'s content) as markdown."""
    data = card["training_data"]
    split = data.get("split") or {}
    lines = [
        f"# {card['title']}",
        "",
        f"- created: {card['created']}",
        f"- commit: `{card['commit']}`",
        f"- package version: {card['package_version']}",
        "",
        "## Training data",
        "",
        "datasets: "
        + (
            ", ".join(f"{d['name']} ({d['layout']} layout)" for d in data["datasets"])
            or "not recorded"
        ),
        "",
        f"split: by {split.get('split_by', '?')}, ratios "
        f"{split.get('ratios', '?')} (train/val/test), seed {split.get('seed', '?')}"
        + (
            ", the datasets' official test lists"
            if split.get("use_official_test")
            else ""
        ),
        "",
    ]
    if data.get("counts"):
        lines += [_md_table(data["counts"], list(data["counts"][0])), ""]
    pre = card["preprocessing"]
    sampling = (
        f"{pre['frames_per_video']} evenly spaced frames"
        if pre.get("frames_per_video")
        else f"one frame every {pre.get('frame_interval_s')} s"
    )
    lines += [
        "## Preprocessing",
        "",
        f"{sampling}; dlib {pre.get('detector')} face detector (upsample "
        f"{pre.get('upsample')}, frames scaled by {pre.get('detect_scale')}), "
        f"{pre.get('faces')} face(s) per frame, crop {pre.get('crop_scale')}x the "
        f"face box resized to {pre.get('face_size')} px, eye crops "
        f"{pre.get('eye_size')} px. Scoring uses exactly these settings.",
        "",
        "## Members",
        "",
        _md_table(
            [{"model": m, **v} for m, v in card["members"].items()],
            [
                "model",
                "epoch",
                "input_size",
                "normalisation",
                "val_video_auc",
                "threshold",
            ],
        ),
        "",
        *_declared_lines(card["members"]),
        "## Ensembles",
        "",
        _md_table(
            [
                {
                    "ensemble": n,
                    "method": e["method"],
                    "members": "+".join(e["members"]),
                    "threshold": e["thresholds"].get("frame"),
                    "threshold @video": e["thresholds"].get("video"),
                }
                for n, e in card["ensembles"].items()
            ],
            ["ensemble", "method", "members", "threshold", "threshold @video"],
        ),
        "",
    ]
    if card.get("test_metrics"):
        rows = card["test_metrics"]
        n = rows[0].get("n_videos")
        lines += [
            "## Test metrics",
            "",
            f"On the test split ({n} videos; `results/summary.csv`): video and "
            "frame AUC with 95% cluster-bootstrap intervals, accuracy at 0.5 "
            "and at the threshold chosen on validation. `<name>@video`: the "
            "ensemble's rule applied to the members' video scores.",
            "",
            _md_table(
                [
                    {
                        "name": r.get("name"),
                        "video AUC [95% CI]": _interval(r, "video_auc"),
                        "frame AUC [95% CI]": _interval(r, "frame_auc"),
                        "accuracy": r.get("accuracy"),
                        "threshold": r.get("val_threshold"),
                        "accuracy at threshold": r.get("accuracy_at_val_threshold"),
                        "verdict": r.get("verdict"),
                    }
                    for r in rows
                ],
                [
                    "name",
                    "video AUC [95% CI]",
                    "frame AUC [95% CI]",
                    "accuracy",
                    "threshold",
                    "accuracy at threshold",
                    "verdict",
                ],
            ),
            "",
        ]
    ev = card["evaluation"]
    lines += [
        "## Decisions",
        "",
        f"A video is called fake when its score is above the threshold chosen on "
        f"validation ({ev['threshold_rule']}). A video with no face "
        + (
            f"gets the score {ev['no_face_score']} (evaluation.no_face: score)."
            if ev["no_face"] == "score"
            else "gets no score (evaluation.no_face: exclude)."
        ),
        "",
        "## Versions",
        "",
        "```json",
        json.dumps(card["versions"], indent=2),
        "```",
        "",
    ]
    return "\n".join(lines)
