"""Preprocessing speed on one core: the study's original method against this
project's.

Builds a 1280x720 30 fps H.264 clip (20 s by default) showing the six people
of insightface's ``t1.jpg`` (read from the wheel in ``resources/demo/``) with
a small motion, then runs each variant in its own process pinned to one CPU
with one thread:

a. the original: OpenCV seek by ``CAP_PROP_POS_MSEC`` every 0.5 s, dlib HOG
   with upsample 1 on the full frame, one JPEG file per face;
b. the decode-only floor: sequential PyAV decode of every frame, RGB
   conversion of the sampled frames only;
c. this project: ``run_batch`` on the clip with ``faces: all`` (sequential
   decode, detection on a downscaled frame, landmarks, face and eye crops,
   JPEG-encoded cache file).

Each variant runs ``--repeat`` times (default 5), interleaved a, b, c, a, b,
c, ..., so that a slow spell of a shared machine falls on all three; the
table gives the median run of each and the ratios of the medians, with the
range of the per-repeat ratios c/a. Prints sampled frames per second, the
ratios c/a and c/b, the faces found by a and c (and how many of a's faces c
also found, IoU >= 0.3 at the same sample time) and each variant's peak
resident memory.

    .venv/bin/python benchmarks/preprocess.py [--duration 20] [--repeat 5] [--sweep]

``--sweep`` also times detection settings (detect_scale x upsample) on the
clip's sampled frames, and runs variant c over the tracking settings
(``detect_every`` k x ``track_margin`` x ``track_face_px``), printing speed
against a, the share of a's faces found and the searches made: how the
defaults were chosen. ``--detect-every`` / ``--track-margin`` /
``--track-face-px`` set them for the main comparison.

``--write docs/preprocessing.md`` puts the comparison into that file's
``preprocess-speed`` block (and, with ``--sweep``, the tracking sweep into its
``preprocess-sweep`` block), with the command, the commit and the machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _markdown import write_rates, write_table  # noqa: E402

WHEEL = ROOT / "resources" / "demo" / "insightface-2.1-py3-none-any.whl"
INTERVAL = 0.5


def pin_one_core() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import cv2

    cv2.setNumThreads(1)
    if "torch" in sys.modules:  # preprocessing does not import torch
        sys.modules["torch"].set_num_threads(1)


def make_clip(path: Path, duration: float, fps: int = 30) -> Path:
    import av
    import cv2
    import numpy as np

    if not WHEEL.exists():
        sys.exit(f"missing {WHEEL}: copy insightface-2.1-py3-none-any.whl there")
    with zipfile.ZipFile(WHEEL) as z:
        buf = z.read("insightface/data/images/t1.jpg")
    photo = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_COLOR_RGB)
    h = 720
    w = round(photo.shape[1] * h / photo.shape[0])
    photo = cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA)
    n = round(duration * fps)
    tmp = path.with_suffix(".tmp.mp4")
    with av.open(str(tmp), "w") as out:
        s = out.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = 1280, 720, "yuv420p"
        s.options = {"preset": "veryfast", "crf": "23"}
        for i in range(n):
            frame = np.full((720, 1280, 3), 60, np.uint8)
            dx = int(round((1280 - w) / 2 + 40 * math.sin(i / fps * 1.3)))
            dy = int(round(8 * math.sin(i / fps * 2.1)))
            m = np.float32([[1, 0, dx], [0, 1, dy]])
            frame = cv2.warpAffine(
                photo, m, (1280, 720), dst=frame, borderMode=cv2.BORDER_TRANSPARENT
            )
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------- variants


def variant_original(video: str, workdir: str) -> dict:
    """The study's method: seek per sample, HOG upsample 1, a JPEG per face."""
    import cv2
    import dlib

    detector = dlib.get_frontal_face_detector()
    cap = cv2.VideoCapture(video)
    fps = cap.get(cv2.CAP_PROP_FPS)
    n_frames = cap.get(cv2.CAP_PROP_FRAME_COUNT)
    duration = n_frames / fps
    boxes = []
    sampled = 0
    t = 0.0
    k = 0
    while t < duration:
        cap.set(cv2.CAP_PROP_POS_MSEC, t * 1000)
        ok, frame = cap.read()
        if not ok:
            break
        sampled += 1
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        for j, d in enumerate(detector(rgb, 1)):
            x0, y0 = max(d.left(), 0), max(d.top(), 0)
            x1, y1 = min(d.right(), frame.shape[1]), min(d.bottom(), frame.shape[0])
            cv2.imwrite(os.path.join(workdir, f"{k:05d}_{j}.jpg"), frame[y0:y1, x0:x1])
            boxes.append([k, x0, y0, x1, y1])
        k += 1
        t += INTERVAL
    cap.release()
    return {"sampled": sampled, "faces": len(boxes), "boxes": boxes}


def variant_decode(video: str, workdir: str) -> dict:
    from deepfake_ensemble.preprocess.video import FrameSampler

    sampler = FrameSampler(video, frame_interval_s=INTERVAL)
    sampled = sum(1 for _ in sampler)
    return {
        "sampled": sampled,
        "decoded": sampler.frames_decoded,
        "skipped": sampler.frames_skipped,
    }


def variant_project(video: str, workdir: str, cfg: dict) -> dict:
    import pandas as pd

    from deepfake_ensemble.preprocess.faces import get_detector, get_predictor
    from deepfake_ensemble.preprocess.pipeline import (
        SEARCH_COUNTS,
        read_cache,
        run_batch,
    )

    t0 = time.perf_counter()
    import av  # noqa: F401  (the decoder library, imported once per batch job)

    get_detector("hog")
    get_predictor()  # loaded once per batch job, timed apart
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    c0 = time.process_time()
    df = pd.DataFrame([{"video_id": "bench/clip", "path": video, "label": 0}])
    rep = run_batch(df, workdir, {**cfg, "faces": "all"}, progress=False)
    r = rep.iloc[0]
    attrs, rows = read_cache(r["cache_file"])
    boxes = [
        [int(round(ts / INTERVAL)), *map(float, b)]
        for ts, b in zip(rows["timestamp"], rows["boxes"], strict=True)
    ]
    return {
        "sampled": int(r["frames_sampled"]),
        "faces": len(boxes),
        "boxes": boxes,
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
        "model_load_s": load,
        **{k: int(attrs[k]) for k in SEARCH_COUNTS},
    }


def variant_sweep(video: str, workdir: str) -> dict:
    """Detection time and faces found per (detect_scale, upsample, colour)."""
    import cv2
    import numpy as np

    from deepfake_ensemble.preprocess.faces import detect_faces
    from deepfake_ensemble.preprocess.video import FrameSampler

    frames = [f.image for f in FrameSampler(video, frame_interval_s=INTERVAL)][:12]
    out = {}
    settings = [(1.0, 1), (1.0, 0), (0.75, 1), (0.5, 1), (0.45, 1), (0.4, 1), (0.5, 0)]
    for scale, up in settings:
        for gray in (False, True):
            imgs = frames
            if gray:
                imgs = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
            t0 = time.perf_counter()
            n = sum(
                len(detect_faces(np.ascontiguousarray(f), "hog", up, scale))
                for f in imgs
            )
            dt = (time.perf_counter() - t0) / len(frames)
            out[f"scale={scale} upsample={up} {'gray' if gray else 'rgb'}"] = {
                "ms_per_frame": round(dt * 1000, 1),
                "faces_per_frame": round(n / len(frames), 2),
            }
    return out


def run_variant(name: str, video: str, cfg: dict) -> None:
    """Child process: pin to one core, run one variant, print JSON."""
    pin_one_core()
    with tempfile.TemporaryDirectory() as workdir:
        t0 = time.perf_counter()
        c0 = time.process_time()
        if name == "a":
            res = variant_original(video, workdir)
        elif name == "b":
            res = variant_decode(video, workdir)
        elif name == "c":
            res = variant_project(video, workdir, cfg)
        else:
            res = variant_sweep(video, workdir)
        res.setdefault("seconds", time.perf_counter() - t0)
        res.setdefault("cpu_seconds", time.process_time() - c0)
    res["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(res))


def spawn(name: str, video: Path, cfg: dict) -> dict:
    cmd = [sys.executable, __file__, "--variant", name, "--video", str(video)]
    cmd += ["--cfg", json.dumps(cfg)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def iou(a, b) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def matched(a_boxes, c_boxes, thr: float = 0.3) -> int:
    by_k: dict[int, list] = {}
    for k, *b in c_boxes:
        by_k.setdefault(int(k), []).append(b)
    return sum(
        any(iou(b, cb) >= thr for cb in by_k.get(int(k), [])) for k, *b in a_boxes
    )


def tracking_sweep(video: Path, cfg: dict, original: dict) -> list[str]:
    """Variant c over detect_every x track_margin x track_face_px; the table
    as Markdown."""
    a_fps = original["sampled"] / original["seconds"]
    print("  tracking sweep (variant c): k, margin, face px -> speed, recall of a")
    md = [
        "Variant c (this project) over the tracking settings, one run each, "
        "against the original's median:",
        "",
        "| `detect_every` | `track_margin` | `track_face_px` | frames/s | "
        "× the original | original's faces found | whole-frame searches | "
        "region searches (retried) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    grid = [(1, 0.3, 100)] + [
        (k, margin, px)
        for k in (5, 10, 20)
        for margin in (0.15, 0.2, 0.3)
        for px in (85, 100)
    ]
    for k, margin, px in grid:
        run = {**cfg, "detect_every": k, "track_margin": margin, "track_face_px": px}
        r = spawn("c", video, run)
        fps = r["sampled"] / r["seconds"]
        m = matched(original["boxes"], r["boxes"])
        print(
            f"    k={k:2d} margin={margin:.2f} face_px={px:3d}: "
            f"{fps:6.2f} frames/s = {fps / a_fps:5.1f}x a; faces {r['faces']}, "
            f"{100 * m / max(original['faces'], 1):5.1f}% of a's; whole-frame "
            f"searches {r['whole_frame_searches']}, region searches "
            f"{r['region_searches']} (+{r['region_retries']} retried)"
        )
        md.append(
            f"| {k} | {margin:g} | {px} | {fps:.1f} | {fps / a_fps:.1f}× | "
            f"{m} of {original['faces']} | {r['whole_frame_searches']} | "
            f"{r['region_searches']} ({r['region_retries']}) |"
        )
    return md


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--detect-scale", type=float, default=None)
    ap.add_argument("--upsample", type=int, default=None)
    ap.add_argument("--detect-every", type=int, default=None)
    ap.add_argument("--track-margin", type=float, default=None)
    ap.add_argument("--track-face-px", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--write", type=Path, default=None, help="markdown file to update")
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--video", help=argparse.SUPPRESS)
    ap.add_argument("--cfg", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:
        run_variant(args.variant, args.video, json.loads(args.cfg))
        return
    cfg = {}
    if args.detect_scale is not None:
        cfg["detect_scale"] = args.detect_scale
    if args.upsample is not None:
        cfg["upsample"] = args.upsample
    if args.detect_every is not None:
        cfg["detect_every"] = args.detect_every
    if args.track_margin is not None:
        cfg["track_margin"] = args.track_margin
    if args.track_face_px is not None:
        cfg["track_face_px"] = args.track_face_px
    out_dir = ROOT / "benchmarks" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    video = out_dir / f"six_faces_{args.duration:g}s.mp4"
    if not video.exists():
        t0 = time.perf_counter()
        make_clip(video, args.duration)
        print(f"built {video.name} in {time.perf_counter() - t0:.1f} s")
    if args.sweep:
        for k, v in spawn("sweep", video, cfg).items():
            if isinstance(v, dict):
                print(
                    f"  {k:34s} {v['ms_per_frame']:7.1f} CPU ms/frame, "
                    f"{v['faces_per_frame']:.2f} faces/frame"
                )
    runs: dict[str, list[dict]] = {"a": [], "b": [], "c": []}
    for _ in range(max(1, args.repeat)):
        for name, done in runs.items():
            done.append(spawn(name, video, cfg))
    res = {
        k: sorted(v, key=lambda r: r["seconds"])[len(v) // 2] for k, v in runs.items()
    }
    pair = sorted(
        (a["seconds"] / a["sampled"]) / (c["seconds"] / c["sampled"])
        for a, c in zip(runs["a"], runs["c"], strict=True)
    )
    sweep_md = tracking_sweep(video, cfg, res["a"]) if args.sweep else []
    fps = {k: v["sampled"] / v["seconds"] for k, v in res.items()}
    cps = {k: v["sampled"] / v["cpu_seconds"] for k, v in res.items()}
    labels = {
        "a": "original (seek, HOG up1 full frame, JPEG files)",
        "b": "decode-only floor (sequential, sampled to RGB)",
        "c": "this project (faces: all)",
    }
    print(
        f"clip {args.duration:g} s 1280x720 30 fps, one sample per {INTERVAL} s, "
        f"one core; project config {cfg or 'defaults'}; median of "
        f"{len(runs['a'])} interleaved runs each"
    )
    print(f"  {'variant':50s} frames  wall s  frames/s   CPU s  frames/CPU-s  peak RSS")
    for k in ("a", "b", "c"):
        v = res[k]
        print(
            f"  {k}. {labels[k]:47s} {v['sampled']:6d} {v['seconds']:7.2f} "
            f"{fps[k]:9.2f} {v['cpu_seconds']:7.2f} {cps[k]:13.2f} "
            f"{v['maxrss_mb']:6.0f} MB"
        )
    print(
        "  (c loaded PyAV and the dlib models once in "
        f"{res['c']['model_load_s']:.2f} s, paid once per batch job, not per video)"
    )
    print(
        f"  speed c/a = {fps['c'] / fps['a']:.1f}x wall, "
        f"{cps['c'] / cps['a']:.1f}x CPU; c/b = {fps['c'] / fps['b']:.2f} wall, "
        f"{cps['c'] / cps['b']:.2f} CPU"
    )
    print(
        f"  b and c skip {res['b']['skipped']} of the clip's {res['b']['decoded']} "
        "frames (unsampled non-reference frames, not decoded)"
    )
    print("  c/a of each repeat (wall): " + ", ".join(f"{r:.1f}x" for r in pair))
    m = matched(res["a"]["boxes"], res["c"]["boxes"])
    fa = res["a"]["faces"]
    print(
        f"  faces: a {fa}, c {res['c']['faces']}; a's faces also found by c: "
        f"{m} ({100 * m / max(fa, 1):.1f}%)"
    )
    if args.write:
        md = [
            f"A {args.duration:g} s 1280×720 30 fps clip, six faces per frame, a "
            f"sample every {INTERVAL} s, one core; project config "
            f"{json.dumps(cfg) if cfg else 'defaults'}; median of "
            f"{len(runs['a'])} interleaved runs of each variant:",
            "",
            "| variant | sampled frames | frames/s | frames per CPU-s | peak RSS |",
            "|---|---:|---:|---:|---:|",
        ]
        for k in ("a", "b", "c"):
            v = res[k]
            md.append(
                f"| {k}. {labels[k]} | {v['sampled']} | {fps[k]:.2f} | "
                f"{cps[k]:.2f} | {v['maxrss_mb']:.0f} MB |"
            )
        md += [
            "",
            f"This project × the original: {fps['c'] / fps['a']:.1f}× wall "
            f"(per repeat {pair[0]:.1f}–{pair[-1]:.1f}×), "
            f"{cps['c'] / cps['a']:.1f}× CPU; × the decode-only floor: "
            f"{fps['c'] / fps['b']:.2f} wall. The original's faces: {fa}, of which "
            f"this project found {m}; it found {res['c']['faces']} in all.",
        ]
        write_table(args.write, "preprocess-speed", __file__, md)
        write_rates(
            "preprocess-speed",
            __file__,
            {
                "sampled_frames_per_core_s": round(cps["c"], 3),
                "runs": [round(cps["c"], 3)],
                "clip": f"benchmarks/preprocess.py's clip ({args.duration:g} s, "
                f"1280x720, 30 fps, six faces per frame, faces: all, a sample "
                f"every {INTERVAL} s, one core)",
            },
        )
        if sweep_md:
            write_table(args.write, "preprocess-sweep", __file__, sweep_md)


if __name__ == "__main__":
    main()
