"""Scoring speed: seconds per 10 s 720p video, on one CPU core and on a GPU.

Builds a 1280x720 30 fps H.264 clip (10 s by default; the six faces of
insightface's ``t1.jpg``, as benchmarks/preprocess.py) and scores it the way
``deepfake-ensemble score`` does, each step timed on its own, in a child
process pinned to one CPU core with one thread (torch, OpenCV, BLAS):

* ``bundle``: reading and verifying the bundle (SHA-256 of every file);
* ``preprocess``: ``process_video`` with the bundle's settings (frame
  sampling, dlib detection and landmarks, crops) into a shard; the dlib
  models' loading is timed apart (once per process);
* each member: loading its checkpoint, then its forward pass over the
  clip's faces (``score_frames``);
* ``ensembles``: every ensemble and the table (``score_table``).

Prints the seconds of each step per video, the total and the peak resident
memory of the process (and, on a GPU, the peak GPU memory).

    .venv/bin/python benchmarks/score.py --bundle results/bundle
    .venv/bin/python benchmarks/score.py --members study --device cpu,cuda

``--bundle`` scores with an exported bundle (e.g. the CI or demo run's:
small input sizes); ``--members study`` trains nothing and exports nothing:
it writes a bundle of the four detectors with random weights at the study's
input sizes (Xception 299, Capsule 300, DSP-FWA 224, In Ictu Oculi 224 with
windows of 20) and the default preprocessing (a frame every 0.5 s, 320 px
faces), so the times are those of the study's models (weights do not change
the speed). ``--device cpu,cuda`` times both (cuda where there is a GPU).

``--write docs/scoring.md`` puts the tables into that file's ``score-study``
or ``score-bundle`` block (after ``--members``), with the command, the
commit and the machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _markdown import write_table  # noqa: E402

#: --members -> the block of docs/scoring.md that --write sets
BLOCKS = {"study": "score-study", "bundle": "score-bundle"}


def _bench_preprocess():
    spec = importlib.util.spec_from_file_location(
        "bench_preprocess", ROOT / "benchmarks" / "preprocess.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def study_bundle(out: Path) -> Path:
    """Random-weight members at the study's input sizes, two ensembles, the
    default preprocessing: a bundle in the export's format."""
    import torch

    from deepfake_ensemble.bundle.archive import FORMAT, FORMAT_VERSION, write_manifest
    from deepfake_ensemble.io import write_json
    from deepfake_ensemble.preprocess.pipeline import PreprocessConfig
    from deepfake_ensemble.train.models import create_model, get_spec

    members = {}
    for name in ("capsule", "dsp_fwa", "ictu_oculi", "xception"):
        spec = get_spec(name)
        torch.manual_seed(0)
        model = create_model(name)
        rel = f"models/{name}.pt"
        (out / "models").mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "model": model.state_dict(),
                "model_name": name,
                "model_kwargs": {},
                "input_kind": spec.input_kind,
                "input_size": spec.input_size,
                "normalisation": spec.normalisation,
                "seq_len": spec.seq_len,
                "config": {"seq_len": spec.seq_len},
            },
            out / rel,
        )
        members[name] = {
            "checkpoint": rel,
            "input_size": spec.input_size,
            "threshold": 0.5,
        }
    ensembles = {}
    for name, method in (("all_soft", "soft"), ("all_hard", "hard")):
        ens = {
            "name": name,
            "method": method,
            "members": list(members),
            "weights": {lvl: dict.fromkeys(members, 0.25) for lvl in ("frame", "video")}
            if method == "soft"
            else None,
            "meta": None,
            "thresholds": {"frame": 0.5, "video": 0.5},
        }
        write_json(ens, out / f"ensembles/{name}.json")
        ensembles[name] = f"ensembles/{name}.json"
    pre = PreprocessConfig().output_dict()
    pre["video_timeout_s"] = 1800
    write_json(
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "members": members,
            "ensembles": ensembles,
            "preprocess": pre,
            "evaluation": {"no_face": "score", "no_face_score": 0.5},
            "versions": {},
        },
        out / "bundle.json",
    )
    write_manifest(out)
    return out


def child(bundle_dir: str, video: str, device: str) -> None:
    """One pinned process: time each step, print JSON."""
    os.environ["OMP_NUM_THREADS"] = "1"
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import cv2
    import pandas as pd
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    from deepfake_ensemble.bundle.archive import read_bundle
    from deepfake_ensemble.bundle.score import preprocess_videos, score_table
    from deepfake_ensemble.preprocess.faces import get_detector, get_predictor
    from deepfake_ensemble.preprocess.shards import ShardSet
    from deepfake_ensemble.train.datasets import shard_dataset
    from deepfake_ensemble.train.predict import (
        load_checkpoint,
        resolve_device,
        score_frames,
    )

    out: dict = {"device": device}
    t = time.perf_counter()
    bundle = read_bundle(bundle_dir)
    out["bundle"] = time.perf_counter() - t
    pre = bundle.preprocess
    t = time.perf_counter()
    get_detector(pre.get("detector", "hog"))
    get_predictor()
    out["dlib_models_load"] = time.perf_counter() - t
    videos = pd.DataFrame({"video_id": ["clip"], "path": [video]})
    dev = resolve_device(device)
    with tempfile.TemporaryDirectory() as tmp:
        shard = Path(tmp) / "clip.h5"
        t = time.perf_counter()
        report = preprocess_videos(videos, pre, shard, progress=False)
        out["preprocess"] = time.perf_counter() - t
        out["frames_sampled"] = int(report["frames_sampled"].iloc[0])
        out["faces_found"] = int(report["faces_found"].iloc[0])
        shards = ShardSet(shard)
        frames = {}
        for model in bundle.members:
            t = time.perf_counter()
            net, spec, ckpt = load_checkpoint(bundle.checkpoint(model), dev)
            dataset = shard_dataset(spec.name, shards, ckpt.get("config") or {})
            out[f"{model}_load"] = time.perf_counter() - t
            if dev.type == "cuda":  # first-call kernels and cuDNN set-up
                score_frames(net, spec, ckpt, dataset, device=dev, progress=False)
                torch.cuda.synchronize()
            t = time.perf_counter()
            frames[model] = score_frames(
                net, spec, ckpt, dataset, device=dev, progress=False
            )
            if dev.type == "cuda":
                torch.cuda.synchronize()
            out[model] = time.perf_counter() - t
            out[f"{model}_items"] = len(dataset)
            del net
        shards.close()
    t = time.perf_counter()
    score_table(videos, report, frames, bundle)
    out["ensembles"] = time.perf_counter() - t
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if dev.type == "cuda":
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
        out["gpu"] = torch.cuda.get_device_name(dev)
    print(json.dumps(out))


def report(res: dict, members: list[str], duration: float) -> list[str]:
    """Print the times; the same as a Markdown table."""
    per = 10.0 / duration  # seconds per 10 s of video
    rows = [
        ("bundle read + verified", res["bundle"]),
        ("dlib models loaded (once)", res["dlib_models_load"]),
        (
            f"preprocess ({res['frames_sampled']} frames, {res['faces_found']} faces)",
            res["preprocess"] * per,
        ),
    ]
    total = res["preprocess"] * per
    for m in members:
        rows.append((f"{m} forward ({res[m + '_items']} items)", res[m] * per))
        rows.append((f"{m} checkpoint loaded (once)", res[m + "_load"]))
        total += res[m] * per
    rows.append(("ensembles + table", res["ensembles"]))
    total += res["ensembles"]
    where = res.get("gpu", "1 CPU core, 1 thread")
    print(f"\n{res['device']} ({where}): seconds per 10 s 720p video")
    for label, sec in rows:
        print(f"  {label:<44} {sec:8.3f}")
    print(f"  {'total per video (without one-off loads)':<44} {total:8.3f}")
    print(f"  peak RSS {res['peak_rss_mb']:.0f} MB", end="")
    if "peak_gpu_mb" in res:
        print(f", peak GPU memory {res['peak_gpu_mb']:.0f} MB", end="")
    print()
    md = [
        f"{res['device']} ({where}):",
        "",
        "| step | seconds per 10 s video |",
        "|---|---:|",
        *(f"| {label} | {sec:.2f} |" for label, sec in rows),
        f"| total per video (without the one-off loads) | {total:.2f} |",
        f"| peak RSS | {res['peak_rss_mb'] / 1024:.1f} GB |",
    ]
    if "peak_gpu_mb" in res:
        md.append(f"| peak GPU memory | {res['peak_gpu_mb'] / 1024:.1f} GiB |")
    return md


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default="results/bundle")
    ap.add_argument(
        "--members",
        choices=["bundle", "study"],
        default="bundle",
        help="bundle: --bundle's members; study: random weights at the "
        "study's input sizes and the default preprocessing",
    )
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cpu,cuda")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--write", type=Path, default=None, help="markdown file to update")
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="dfe-bench-score-") as tmp:
        tmp = Path(tmp)
        clip = _bench_preprocess().make_clip(tmp / "clip.mp4", args.duration)
        bundle = Path(args.bundle)
        if args.members == "study":
            bundle = study_bundle(tmp / "bundle")
        print(
            f"clip: {args.duration:g} s 1280x720 30 fps H.264; bundle: "
            f"{args.members if args.members == 'study' else bundle}"
        )
        from deepfake_ensemble.bundle.archive import read_bundle

        b = read_bundle(bundle)
        pre = b.preprocess
        print(
            "preprocessing: "
            + ", ".join(
                f"{k} {pre.get(k)}"
                for k in ("frame_interval_s", "detect_scale", "face_size", "eye_size")
            )
        )
        members = ", ".join(
            f"{m} {b.index['members'][m].get('input_size', '?')} px" for m in b.members
        )
        print("members: " + members)
        md = [
            f"A {args.duration:g} s 1280×720 30 fps clip, six faces per frame; "
            + (
                "the study's members (random weights)"
                if args.members == "study"
                else "the exported bundle"
            )
            + f": {members}; a frame every {pre.get('frame_interval_s')} s:",
        ]
        for device in args.device.split(","):
            if device.startswith("cuda"):
                import torch

                if not torch.cuda.is_available():
                    print(f"\n{device}: no GPU here, skipped")
                    md += ["", f"{device}: no GPU on this machine, not measured."]
                    continue
            env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(bundle), str(clip), device],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            if out.returncode != 0:
                sys.exit(f"{device}: failed\n{out.stderr[-3000:]}")
            res = json.loads(out.stdout.strip().splitlines()[-1])
            md += ["", *report(res, b.members, args.duration)]
        if args.write:
            write_table(args.write, BLOCKS[args.members], __file__, md)


if __name__ == "__main__":
    main()
