"""The bill before the run: what a configuration will cost on a cluster.

``deepfake-ensemble plan --configfile config/study.yaml`` reads the config
(``config/config.yaml`` with the given files merged on top, as Snakemake
does), counts the videos of each dataset and their mean duration, and prints
(and writes as CSV):

* preprocessing core-hours: sampled frames (duration / ``frame_interval_s``,
  or ``frames_per_video``) at a measured rate of sampled frames per
  core-second;
* shard storage: faces at ``face_size`` (and eyes at ``eye_size``) per
  sampled frame, raw uint8 by the shard format, JPEG at a measured size per
  face;
* per member and training set: GPU-hours (epochs x the images of an epoch,
  the validation pass of every epoch, and the prediction pass over the test
  splits, at the measured images/s of the GPU kind), the measured peak GPU
  memory and whether the batch fits a card of ``--gpu-memory`` GiB;
* the SLURM submissions, rule by rule (the group jobs of preprocessing
  batches, one job per other rule, none for local rules);
* the wall time on ``--nodes`` nodes of ``--gpus-per-node`` GPUs and
  ``--cores-per-node`` cores (queue waits and the CPU-minute jobs after
  preprocessing left out).

Every rate comes from a file under ``resources/rates/`` that a benchmark
wrote (or that a tool converted from a benchmark's block in the docs), with
the commit and the machine it was measured on; a rate that was never
measured (a GPU kind without a file) is said so in its row, never guessed.

Videos: ``--videos name=count`` first, then the manifest of a run in the
working directory (``results/manifest/videos.csv``), then the dataset root
(listed as ``ingest`` lists it); the demo dataset is counted from its config.
Durations: ``--duration name=seconds`` first, then the container metadata of
up to ``--probe`` videos per dataset (PyAV, no decoding), then
``resources/rates/datasets.json`` (stated figures, with their source).
"""

from __future__ import annotations

import copy
import csv
import heapq
import io
import json
import math
import os
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..defaults import DEFAULTS
from ..errors import InputError
from ..layout import EYE_SEQUENCE_MODELS, MEMBER_ENSEMBLES, SPLITS, ensembles_for
from ..members import draws_synthesis_sheet, enabled_members
from ..protocols import POOLED, target_sets, train_sets

ROOT = Path(__file__).resolve().parents[3]
RATES_DIR = ROOT / "resources" / "rates"
SCHEMA = ROOT / "config" / "schema" / "config.schema.yaml"
BASE_CONFIG = ROOT / "config" / "config.yaml"
PROFILE = ROOT / "profiles" / "slurm"

#: rules that run on the machine Snakemake runs on (no submission)
LOCAL_RULES = ("all", "fetch_weights_file")
#: keys of :func:`job_counts` that are no rule's jobs (all jobs, submissions)
SUBMISSION_KEYS = (
    "total",
    "submissions",
    "preprocess_submissions",
    "ensemble_submissions",
)
#: bytes of one row of the shard's per-face arrays besides the crops
#: (landmarks 68x2 float32, boxes and crop_boxes 4 float32 each,
#: frame_index int32, timestamp float32, face_index int16, video_row int32)
ROW_BYTES = 68 * 2 * 4 + 2 * 4 * 4 + 4 + 4 + 2 + 4


# -- rates files -------------------------------------------------------------


def rates_document(
    name: str,
    rates: Mapping[str, Any],
    *,
    command: str,
    commit: str,
    machine: str,
    source: str,
    kind: str | None = None,
) -> dict:
    """The JSON of a rates file: what was measured, where and how."""
    return {
        "benchmark": name,
        "kind": kind,
        "commit": commit,
        "machine": machine,
        "command": command,
        "source": source,
        "rates": dict(rates),
    }


def kind_slug(name: str) -> str:
    """A machine kind as a file name: ``NVIDIA H200`` -> ``h200``."""
    text = re.sub(r"^nvidia\s+", "", name.strip().lower())
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def rates_path(name: str, kind: str | None = None, rates_dir: Path = RATES_DIR):
    return Path(rates_dir) / (f"{name}-{kind}.json" if kind else f"{name}.json")


def load_rates(name: str, kind: str | None = None, rates_dir: Path = RATES_DIR):
    """A rates file as a dict (with ``path``), or None when none was written."""
    path = rates_path(name, kind, rates_dir)
    if not path.is_file():
        return None
    doc = json.loads(path.read_text())
    doc["path"] = path
    return doc


def provenance(doc: Mapping[str, Any]) -> str:
    """``file (commit C, machine)`` for a rates file."""
    path = Path(doc["path"])
    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    return f"{rel} (commit {doc['commit']}, {doc['machine']})"


# -- the configuration ---------------------------------------------------------


def _merge(base: dict, extra: Mapping) -> dict:
    """Snakemake's merge of config files: nested dicts key by key, the rest
    (lists included) replaced."""
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def layered_config(configfiles: Sequence[str | os.PathLike] = ()) -> dict:
    """config/config.yaml with ``configfiles`` merged on top, as Snakemake
    layers them, not validated (where Snakemake is not installed)."""
    import yaml

    config: dict = yaml.safe_load(BASE_CONFIG.read_text())
    for path in configfiles:
        _merge(config, yaml.safe_load(Path(path).read_text()) or {})
    return config


def load_config(configfiles: Sequence[str | os.PathLike] = ()) -> dict:
    """:func:`layered_config`, validated against the schema (defaults filled
    in), as the workflow reads it."""
    from snakemake.utils import validate

    from ..config import check_config

    config = layered_config(configfiles)
    validate(config, schema=str(SCHEMA))
    check_config(config)
    return config


def enabled_models(config: Mapping) -> list[str]:
    """The members the workflow trains (the study's and declared ones)."""
    return enabled_members(config.get("models", {}))


# -- videos and durations ----------------------------------------------------


@dataclass
class Dataset:
    name: str
    videos: int | None
    videos_from: str
    duration_s: float | None
    duration_from: str
    split_videos: dict[str, float] = field(default_factory=dict)


def _pairs(values: Sequence[str] | None, what: str) -> dict[str, float]:
    out = {}
    for value in values or ():
        name, sep, number = value.partition("=")
        try:
            out[name] = float(number)
        except ValueError:
            sep = ""
        if not sep or not name:
            raise InputError(f"{what} {value!r}: expected NAME=NUMBER")
    return out


def probe_duration(path: str) -> float | None:
    """A video's duration in seconds from its container or stream metadata
    (no frame is decoded); None when the file tells none."""
    import av

    try:
        with av.open(path) as container:
            if container.duration:
                return container.duration / 1e6
            stream = container.streams.video[0]
            if stream.duration and stream.time_base:
                return float(stream.duration * stream.time_base)
            if stream.frames and stream.average_rate:
                return float(stream.frames / stream.average_rate)
    except (OSError, IndexError, av.error.FFmpegError):
        return None
    return None


def _manifest_paths(workdir: Path) -> dict[str, list[str]] | None:
    manifest = workdir / "results" / "manifest" / "videos.csv"
    if not manifest.is_file():
        return None
    paths: dict[str, list[str]] = {}
    with open(manifest, newline="") as handle:
        for row in csv.DictReader(handle):
            paths.setdefault(row["dataset"], []).append(row["path"])
    return paths


def count_datasets(
    config: Mapping,
    workdir: Path,
    videos: Mapping[str, float],
    durations: Mapping[str, float],
    probe: int,
    stated: Mapping[str, Any] | None,
) -> list[Dataset]:
    """Videos and mean duration of every configured dataset (see the module
    doc for the order of the sources)."""
    from ..ingest.manifest import ingest_dataset

    manifest = _manifest_paths(workdir)
    demo = config["demo"]
    demo_roots = {os.path.normpath(demo_root(config))} if demo["generate"] else set()
    stated = (stated or {}).get("rates", {}).get("datasets", {})
    out = []
    for spec in config["datasets"]:
        name, paths = spec["name"], None
        root = os.path.normpath(spec.get("root", "") or "")
        if name in videos:
            n, n_from = int(videos[name]), "--videos"
        elif manifest is not None and name in manifest:
            paths = manifest[name]
            n, n_from = len(paths), "results/manifest/videos.csv"
        elif root in demo_roots:
            n, n_from = demo["n_real"] + demo["n_fake"], "demo.n_real + demo.n_fake"
        elif spec.get("root") and (workdir / spec["root"]).exists():
            here = dict(spec, root=str(workdir / spec["root"]))
            paths = ingest_dataset(here)["path"].tolist()
            n, n_from = len(paths), f"listed from {spec['root']}"
        elif name in stated and stated[name].get("videos"):
            n, n_from = int(stated[name]["videos"]), stated[name]["videos_source"]
        else:
            n, n_from = None, "unknown: not on disk (give --videos NAME=COUNT)"
        if name in durations:
            d, d_from = durations[name], "--duration"
        elif root in demo_roots and not paths:
            d, d_from = float(demo["duration_s"]), "demo.duration_s"
        elif paths and probe > 0:
            chosen = random.Random(0).sample(paths, min(probe, len(paths)))
            found = [x for x in map(probe_duration, chosen) if x]
            d = sum(found) / len(found) if found else None
            d_from = f"metadata of {len(found)} of {len(paths)} videos"
        elif name in stated and stated[name].get("duration_s"):
            d, d_from = stated[name]["duration_s"], stated[name]["duration_source"]
        else:
            d, d_from = None, "unknown (give --duration NAME=SECONDS)"
        out.append(Dataset(name, n, n_from, d, d_from))
    return out


def demo_root(config: Mapping) -> str:
    return "results/demo"


def split_counts(config: Mapping, datasets: list[Dataset], workdir: Path) -> str:
    """Videos per split of each dataset: the run's results/splits/counts.csv
    when the split exists, else the videos times split.ratios. Returns where
    the counts came from."""
    counts_csv = workdir / "results" / "splits" / "counts.csv"
    if counts_csv.is_file():
        table: dict[str, dict[str, float]] = {}
        with open(counts_csv, newline="") as handle:
            for row in csv.DictReader(handle):
                per = table.setdefault(row["dataset"], dict.fromkeys(SPLITS, 0.0))
                per[row["split"]] += float(row["videos"])
        if all(d.name in table for d in datasets):
            for d in datasets:
                d.split_videos = table[d.name]
            return "results/splits/counts.csv"
    ratios = config["split"]["ratios"]
    for d in datasets:
        n = d.videos or 0
        d.split_videos = {
            s: n * r / sum(ratios) for s, r in zip(SPLITS, ratios, strict=True)
        }
    return "split.ratios (groups make the real split differ a little)"


# -- the plan -----------------------------------------------------------------


@dataclass
class Row:
    section: str
    item: str
    quantity: str = ""
    rate: str = ""
    value: float | None = None
    unit: str = ""
    note: str = ""


def sampled_frames(duration: float | None, pre: Mapping) -> int | None:
    """Frames the sampler takes from a video of ``duration`` seconds."""
    if pre.get("frames_per_video"):
        n = int(pre["frames_per_video"])
    elif duration is None:
        return None
    else:
        n = max(1, math.ceil(duration / pre["frame_interval_s"] - 1e-9))
    if pre.get("max_frames_per_video"):
        n = min(n, int(pre["max_frames_per_video"]))
    return n


def profile_settings(profile: Path) -> dict:
    import yaml

    path = Path(profile) / "config.yaml"
    data = yaml.safe_load(path.read_text()) if path.is_file() else {}
    slots = (data.get("resources") or {}).get("preprocess_slots", 1)
    return {
        "group": int((data.get("group-components") or {}).get("preprocess", 1)),
        "slots": int(slots),
        "jobs": int(data.get("jobs", 0) or 0),
        "path": str(
            Path(profile).resolve().relative_to(ROOT)
            if Path(profile).resolve().is_relative_to(ROOT)
            else profile
        ),
    }


def weights_to_fetch(config: Mapping, models: Sequence[str]) -> int:
    """Weights files rule fetch_weights_file will fetch (local jobs)."""
    from ..pretrained import fetchable, load_catalog, resolve_model_starts

    try:
        catalog = load_catalog(config.get("weights_catalog"))
        starts = resolve_model_starts(copy.deepcopy(dict(config)), models, catalog)
    except InputError:
        return 0
    files = {
        os.path.normpath(p)
        for m in models
        for p in starts[m]
        if fetchable(p, catalog) and not os.path.exists(p)
    }
    return len(files)


def job_counts(
    config: Mapping,
    datasets: list[Dataset],
    models: Sequence[str],
    profile: Mapping,
    weights: int = 0,
) -> dict[str, int]:
    """Jobs per rule of a whole run (as a dry run of an empty results/ lists
    them) and ``submissions``: SLURM jobs, preprocessing batches grouped
    ``profile['group']`` to one, a training set's ensemble fits and their
    application (``ensemble``, ``ensemble_test``) one, local rules none."""
    names = [d.name for d in datasets]
    protocol = config["evaluation"]["protocol"]
    tsets = train_sets(protocol, names)
    names_ens = ensembles_for(config["ensemble"]["calibration"], models)
    # one job fits each family of ensembles per training set, one applies
    # them (rules/evaluate.smk): the study's, and those over every member
    every_member = any(n in MEMBER_ENSEMBLES for n in names_ens)
    vpj = config["preprocess"]["videos_per_job"]
    batches = sum(
        max(1, math.ceil(round(d.split_videos.get(s, 0)) / vpj))
        for d in datasets
        for s in SPLITS
    )
    t, m = len(tsets), len(models)
    jobs = {
        "generate_demo": int(bool(config["demo"]["generate"])),
        "ingest": 1,
        "split": 1,
        "preprocess_batch": batches,
        "pack_shards": len(names) * len(SPLITS),
        "preprocess_report": 1,
        "fetch_weights_file": weights,
        "train": t * m,
        "predict": t * m,
        # one job per training set and member covers every test set
        "evaluate_model": t * m,
        "ensemble": t,
        "ensemble_test": t,
        "ensemble_every_member": t * every_member,
        "ensemble_every_member_test": t * every_member,
        "synthesis_sheet": int(draws_synthesis_sheet(config, models)),
    }
    if protocol == POOLED:
        jobs.update(summarize=1, bundle=1)
    else:
        jobs["cross_dataset"] = 1
    jobs["all"] = 1
    jobs = {k: v for k, v in jobs.items() if v}
    jobs["total"] = sum(jobs.values())
    groups = math.ceil(batches / max(1, profile["group"]))
    local = sum(jobs.get(r, 0) for r in LOCAL_RULES)
    jobs["preprocess_submissions"] = groups
    # a training set's fits and their application: one group job
    # (rules/evaluate.smk)
    applied = jobs.get("ensemble_test", 0) + jobs.get("ensemble_every_member_test", 0)
    jobs["ensemble_submissions"] = applied
    jobs["submissions"] = jobs["total"] - local - batches + groups - applied
    return jobs


def _gpu_model_rate(gpu: Mapping | None, model: str) -> dict | None:
    if gpu is None:
        return None
    return gpu["rates"].get("models", {}).get(model)


def member_items(
    model: str, cfg: Mapping, sets: Mapping[str, list[Dataset]], pre: Mapping
) -> dict[str, float]:
    """Images (frames, for eye sequences) of one member's epoch, validation
    pass and prediction pass; ``sets`` holds the datasets of its training
    set (``train``) and of every test set (``test``). One face per sampled
    frame (``faces: largest``; a bound for ``all``)."""
    eye = model in EYE_SEQUENCE_MODELS
    seq = int(cfg.get("seq_len") or 1)

    def items(split: str, group: list[Dataset]) -> float:
        total = 0.0
        for d in group:
            s = sampled_frames(d.duration_s, pre) or 0
            per_video = math.ceil(s / seq) * seq if eye else s
            total += d.split_videos.get(split, 0) * per_video
        return total

    batch = int(cfg["batch_size"]) * (seq if eye else 1)
    n_train = items("train", sets["train"])
    steps = math.floor(n_train / batch) if n_train > batch else 1
    if cfg.get("max_steps_per_epoch"):
        steps = min(steps, int(cfg["max_steps_per_epoch"]))
    train = min(n_train, steps * batch)
    return {
        "train_per_epoch": train,
        "val_per_epoch": items("val", sets["train"]),
        "test": items("test", sets["test"]),
        "epochs": int(cfg["epochs"]),
    }


def _fmt(x: float | None, digits: int = 1) -> str:
    if x is None:
        return "n/a"
    if abs(x) >= 100 or digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def lpt_makespan(durations: Sequence[float], machines: int) -> float:
    """Longest-first list scheduling of independent jobs on ``machines``."""
    if not durations:
        return 0.0
    loads = [0.0] * max(1, machines)
    heapq.heapify(loads)
    for d in sorted(durations, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + d)
    return max(loads)


@dataclass
class Plan:
    rows: list[Row]
    jobs: dict[str, int]
    totals: dict[str, float | None]
    header: list[str]
    #: (training set, model) -> seconds of training (epochs with their
    #: validation passes) and of prediction, None where no rate was measured
    members: dict[tuple[str, str], dict[str, float | None]] = field(
        default_factory=dict
    )


def make_plan(
    config: Mapping,
    datasets: list[Dataset],
    *,
    gpu: str = "h200",
    cpu: str | None = None,
    nodes: int = 1,
    gpus_per_node: int = 4,
    cores_per_node: int = 32,
    gpu_memory: float | None = None,
    profile: Mapping | None = None,
    weights: int = 0,
    rates_dir: Path = RATES_DIR,
    split_from: str = "",
) -> Plan:
    pre = config["preprocess"]
    models = enabled_models(config)
    profile = profile or profile_settings(PROFILE)
    rows: list[Row] = []
    header: list[str] = []
    totals: dict[str, float | None] = {}

    # preprocessing
    speed = load_rates("preprocess-speed", cpu, rates_dir)
    rate = speed["rates"]["sampled_frames_per_core_s"] if speed else None
    frames_all: float | None = 0.0
    for d in datasets:
        s = sampled_frames(d.duration_s, pre)
        frames = d.videos * s if (d.videos is not None and s is not None) else None
        frames_all = (
            None if frames is None or frames_all is None else frames_all + frames
        )
        hours = frames / rate / 3600 if (frames is not None and rate) else None
        rows.append(
            Row(
                "preprocessing",
                d.name,
                f"{_fmt(d.videos, 0)} videos [{d.videos_from}] x "
                f"{_fmt(d.duration_s)} s [{d.duration_from}] -> "
                f"{_fmt(frames, 0)} sampled frames",
                f"{_fmt(rate)} frames/core-s" if rate else "no measured rate",
                hours,
                "core-hours",
            )
        )
    pre_hours = frames_all / rate / 3600 if (frames_all is not None and rate) else None
    totals["preprocess_core_hours"] = pre_hours
    totals["sampled_frames"] = frames_all
    if speed:
        header.append(
            f"preprocessing rate: {provenance(speed)}; measured on "
            f"{speed['rates'].get('clip', 'its clip')}"
        )
    else:
        header.append(
            "preprocessing: no rates file "
            f"{rates_path('preprocess-speed', cpu, rates_dir)}"
        )

    # storage
    face, eye = pre["face_size"], pre["eye_size"]
    if pre["encoding"] == "raw":
        per_face = face * face * 3 + 2 * eye * eye * 3 + ROW_BYTES
        how = f"raw: {face}x{face}x3 + 2 eyes {eye}x{eye}x3 + {ROW_BYTES} B of arrays"
        storage_note = ""
    else:
        loader = load_rates("loader", None, rates_dir)
        jpeg = loader["rates"] if loader else None
        per_face = None
        how = "jpeg: no measured size per face"
        storage_note = ""
        if jpeg and jpeg.get("face_size") == face:
            per_face = jpeg["bytes_per_face"]["jpeg"] + ROW_BYTES
            how = f"jpeg: {_fmt(per_face / 1024)} KiB per face"
            storage_note = f"faces only (eyes not measured); {provenance(loader)}"
        elif jpeg:
            how = f"jpeg: measured at {jpeg['face_size']} px only, configured {face} px"
    gb = frames_all * per_face / 1e9 if (frames_all is not None and per_face) else None
    totals["shard_gb"] = gb
    rows.append(
        Row(
            "storage",
            "shards",
            f"{_fmt(frames_all, 0)} faces (one per sampled frame) x {how}",
            "",
            gb,
            "GB",
            storage_note,
        )
    )

    # members
    gpu_rates = load_rates("train-throughput", gpu, rates_dir)
    # members declared in the config: their own file, measured by
    # benchmarks/train_throughput.py --configfile
    member_rates = load_rates("member-throughput", gpu, rates_dir)
    names = [d.name for d in datasets]
    protocol = config["evaluation"]["protocol"]
    tsets = train_sets(protocol, names)
    test_names = sorted({x for v in target_sets(protocol, names).values() for x in v})
    by_name = {d.name: d for d in datasets}
    if gpu_rates:
        header.append(f"training rates ({gpu}): {provenance(gpu_rates)}")
    if member_rates and any(_gpu_model_rate(member_rates, m) for m in models):
        header.append(f"declared members' rates ({gpu}): {provenance(member_rates)}")
    if not gpu_rates:
        header.append(
            f"training: no rates file for GPU kind {gpu!r} "
            f"({rates_path('train-throughput', gpu, rates_dir)}): no GPU-hours"
        )
    chains: list[float] = []
    members_s: dict[tuple[str, str], dict[str, float | None]] = {}
    gpu_total: float | None = 0.0
    for tset, members in tsets.items():
        sets = {
            "train": [by_name[x] for x in members],
            "test": [by_name[x] for x in test_names],
        }
        for model in models:
            cfg = config["models"][model]
            items = member_items(model, cfg, sets, pre)
            r = _gpu_model_rate(gpu_rates, model) or _gpu_model_rate(
                member_rates, model
            )
            unit = "frames" if model in EYE_SEQUENCE_MODELS else "images"
            train_imgs = items["epochs"] * (
                items["train_per_epoch"] + items["val_per_epoch"]
            )
            notes = []
            if r is None:
                hours = pred_hours = None
                rate_text = f"no measured rate on {gpu}"
            else:
                hours = train_imgs / r["per_s"] / 3600
                pred_hours = items["test"] / r["per_s"] / 3600
                rate_text = f"{_fmt(r['per_s'])} {unit}/s"
                measured = (r.get("batch"), r.get("input_size"))
                configured = (int(cfg["batch_size"]), int(cfg["input_size"]))
                if measured != configured:
                    notes.append(
                        f"measured at batch {measured[0]}, {measured[1]} px; "
                        f"configured batch {configured[0]}, {configured[1]} px"
                    )
                peak = r.get("peak_gpu_gib")
                if peak is not None:
                    fits = ""
                    if gpu_memory is not None:
                        fits = (
                            f" fits {gpu_memory:g} GiB at micro-batch "
                            f"{cfg['batch_size']}"
                            if peak <= gpu_memory
                            else f" exceeds {gpu_memory:g} GiB: no micro-batch "
                            "measured (micro_batch: auto halves it until it fits)"
                        )
                    notes.append(f"peak GPU memory {peak:g} GiB{fits}")
            if cfg.get("early_stopping"):
                notes.append(
                    f"all {items['epochs']} epochs (early stopping may end sooner)"
                )
            notes.append("validation and prediction at the training rate (a bound)")
            # models.<name>.gpus: the same GPU-hours, the training's wall
            # time shared by its GPUs (perfect scaling: a lower bound)
            n_gpus = int(cfg.get("gpus") or DEFAULTS["models.<model>.gpus"])
            if n_gpus > 1:
                wall_h = None if hours is None else hours / n_gpus
                notes.append(
                    f"training on {n_gpus} GPUs: {_fmt(wall_h, 2)} h wall time "
                    "(perfect scaling)"
                )
            members_s[(tset, model)] = {
                "train_s": None if hours is None else hours * 3600 / n_gpus,
                "predict_s": None if hours is None else pred_hours * 3600,
                "gpus": n_gpus,
            }
            both = None if hours is None else hours + pred_hours
            gpu_total = None if both is None or gpu_total is None else gpu_total + both
            if both is not None:
                # its GPUs as one chain of the training's share and the
                # prediction, and n_gpus - 1 of the training's share alone
                share = hours * 3600 / n_gpus
                chains.append(share + pred_hours * 3600)
                chains.extend([share] * (n_gpus - 1))
            rows.append(
                Row(
                    "training",
                    f"{model} on {tset}",
                    f"{items['epochs']} epochs x ({_fmt(items['train_per_epoch'], 0)} "
                    f"+ {_fmt(items['val_per_epoch'], 0)} val) + "
                    f"{_fmt(items['test'], 0)} test {unit}",
                    rate_text,
                    both,
                    "GPU-hours",
                    "; ".join(notes),
                )
            )
    totals["gpu_hours"] = gpu_total

    # submissions
    jobs = job_counts(config, datasets, models, profile, weights)
    for rule, n in jobs.items():
        if rule in SUBMISSION_KEYS:
            continue
        subs, note = n, ""
        if rule == "preprocess_batch":
            subs = jobs["preprocess_submissions"]
            note = (
                f"group jobs of {profile['group']} batches of "
                f"{pre['videos_per_job']} videos"
            )
        elif rule in ("ensemble", "ensemble_every_member"):
            names = ensembles_for(config["ensemble"]["calibration"], models)
            every = rule == "ensemble_every_member"
            n_ens = sum((n in MEMBER_ENSEMBLES) == every for n in names)
            note = f"group jobs: {n_ens} ensembles fitted and applied ({rule}_test)"
        elif rule in ("ensemble_test", "ensemble_every_member_test"):
            subs = 0
            note = f"in its fits' group job ({rule.removesuffix('_test')})"
        elif rule in LOCAL_RULES:
            subs, note = 0, "local"
        rows.append(
            Row(
                "submissions",
                rule,
                f"{n} job" + "s" * (n != 1),
                "",
                subs,
                "submissions",
                note,
            )
        )
    rows.append(
        Row(
            "submissions",
            "total",
            f"{jobs['total']} jobs",
            "",
            jobs["submissions"],
            "submissions",
        )
    )
    header.append(
        f"submissions: the rules of this checkout with {profile['path']} "
        f"(group-components preprocess: {profile['group']}); videos per split "
        f"from {split_from}"
    )

    # wall time
    wall = None
    if pre_hours is not None and gpu_total is not None:
        slots = max(1, profile["slots"])
        batches = jobs["preprocess_batch"]
        batch_s = pre_hours * 3600 / max(1, batches)
        per_group = math.ceil(min(profile["group"], batches) / slots) * batch_s
        at_once = max(1, nodes * (cores_per_node // slots))
        if profile["jobs"]:
            at_once = min(at_once, profile["jobs"])
        pre_wall = math.ceil(jobs["preprocess_submissions"] / at_once) * per_group
        gpus = nodes * gpus_per_node
        if profile["jobs"]:
            gpus = min(gpus, profile["jobs"])
        gpu_wall = lpt_makespan(chains, gpus)
        wall = (pre_wall + gpu_wall) / 3600
        rows.append(
            Row(
                "wall time",
                "preprocessing",
                f"{jobs['preprocess_submissions']} group jobs, {at_once} at a time "
                f"({nodes} nodes x {cores_per_node} cores / {slots} per group job)",
                "",
                pre_wall / 3600,
                "hours",
            )
        )
        rows.append(
            Row(
                "wall time",
                "training and prediction",
                f"{len(chains)} train+predict chains on {gpus} GPUs "
                f"({nodes} nodes x {gpus_per_node})",
                "",
                gpu_wall / 3600,
                "hours",
                "longest first",
            )
        )
    rows.append(
        Row(
            "wall time",
            "total",
            "",
            "",
            wall,
            "hours",
            "without queue waits, shard packing, evaluation and ensembles"
            if wall is not None
            else "a stage has no measured rate",
        )
    )
    totals["wall_hours"] = wall
    return Plan(rows, jobs, totals, header, members_s)


# -- output -------------------------------------------------------------------


def markdown(plan: Plan) -> list[str]:
    lines = [f"- {h}" for h in plan.header] + [
        "",
        "| stage | item | quantity | rate | value | unit | note |",
        "|---|---|---|---|---:|---|---|",
    ]
    for r in plan.rows:
        digits = 2 if r.value is not None and r.value < 10 else 1
        if r.unit == "submissions":
            digits = 0
        value = "not measured" if r.value is None else _fmt(r.value, digits)
        lines.append(
            f"| {r.section} | {r.item} | {r.quantity} | {r.rate} | {value} | "
            f"{r.unit} | {r.note} |"
        )
    return lines


def write_csv(plan: Plan, path: str | os.PathLike) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["stage", "item", "quantity", "rate", "value", "unit", "note"])
    for r in plan.rows:
        value = "" if r.value is None else f"{r.value:.6g}"
        writer.writerow([r.section, r.item, r.quantity, r.rate, value, r.unit, r.note])
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(buf.getvalue())


def run(args) -> Plan:
    """``deepfake-ensemble plan`` (arguments: see the CLI)."""
    config = load_config(args.configfile)
    workdir = Path(args.directory)
    stated = load_rates("datasets", None, args.rates_dir)
    datasets = count_datasets(
        config,
        workdir,
        {k: int(v) for k, v in _pairs(args.videos, "--videos").items()},
        _pairs(args.duration, "--duration"),
        args.probe,
        stated,
    )
    split_from = split_counts(config, datasets, workdir)
    profile = profile_settings(Path(args.profile))
    models = enabled_models(config)
    return make_plan(
        config,
        datasets,
        gpu=args.gpu,
        cpu=args.cpu,
        nodes=args.nodes,
        gpus_per_node=args.gpus_per_node,
        cores_per_node=args.cores_per_node,
        gpu_memory=args.gpu_memory,
        profile=profile,
        weights=weights_to_fetch(config, models),
        rates_dir=Path(args.rates_dir),
        split_from=split_from,
    )


def add_arguments(p) -> None:
    p.add_argument(
        "--configfile",
        nargs="*",
        default=[],
        help="config files merged on config/config.yaml, as for snakemake",
    )
    p.add_argument("--directory", default=".", help="the run's working directory")
    p.add_argument("--profile", default=str(PROFILE), help="the SLURM profile folder")
    p.add_argument("--videos", nargs="*", default=[], metavar="NAME=COUNT")
    p.add_argument("--duration", nargs="*", default=[], metavar="NAME=SECONDS")
    p.add_argument(
        "--probe",
        type=int,
        default=200,
        help="videos per dataset whose metadata is read",
    )
    p.add_argument(
        "--gpu",
        default="h200",
        help="GPU kind (resources/rates/train-throughput-KIND.json)",
    )
    p.add_argument(
        "--cpu",
        default=None,
        help="CPU kind of the preprocessing rate "
        "(resources/rates/preprocess-speed-KIND.json)",
    )
    p.add_argument("--nodes", type=int, default=1)
    p.add_argument("--gpus-per-node", type=int, default=4)
    p.add_argument("--cores-per-node", type=int, default=32)
    p.add_argument("--gpu-memory", type=float, default=None, help="card size, GiB")
    p.add_argument("--rates-dir", default=str(RATES_DIR))
    p.add_argument("-o", "--output", default="results/plan.csv", help="CSV written")
