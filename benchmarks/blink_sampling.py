"""How many of the demo's blinks a frame sampler catches, per interval.

Reads the demo's ground truth (``results/demo/metadata.json``: each clip's
``shut_frames``, the frames with the lids fully shut; a half-closed frame
comes before and after each run of them) and, for each sampling interval,
replays the interval sampler of :mod:`deepfake_ensemble.preprocess.video` (a frame is
taken at the first frame time at or past each multiple of the interval) on
the clip's frame count. Prints, per interval, the share of the clips that
blink with at least one sampled frame shut, and with one shut or half-closed.

    .venv/bin/python benchmarks/blink_sampling.py \
        [--metadata results/demo/metadata.json] [--fps 10 --duration 3]

``--write docs/demo-dataset.md`` puts the table into that file's
``blink-sampling`` block, with the command, the commit and the machine.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _markdown import write_table  # noqa: E402


def sampled_frames(n_frames: int, fps: float, interval: float) -> list[int]:
    """Frame indices the interval sampler takes (constant frame rate)."""
    out, k = [], 0
    for idx in range(n_frames):
        ts = idx / fps
        if ts + 1e-9 < k * interval:
            continue
        out.append(idx)
        k = math.floor(ts / interval + 1e-9) + 1
    return out


def half_closed(shut: set[int]) -> set[int]:
    """The frame before and after each run of shut frames."""
    return {f - 1 for f in shut if f - 1 not in shut} | {
        f + 1 for f in shut if f + 1 not in shut
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--metadata", type=Path, default=Path("results/demo/metadata.json"))
    ap.add_argument("--fps", type=float, default=None, help="the demo's (10)")
    ap.add_argument("--duration", type=float, default=None, help="s (3)")
    ap.add_argument(
        "--intervals", type=float, nargs="+", default=[0.5, 0.4, 0.3, 0.25, 0.2]
    )
    ap.add_argument("--write", type=Path, default=None, help="markdown file to update")
    args = ap.parse_args()
    meta = json.loads(args.metadata.read_text())
    fps = args.fps or 10.0
    duration = args.duration or 3.0
    n_frames = round(fps * duration)
    blinking = {
        name: set(entry["shut_frames"])
        for name, entry in meta.items()
        if entry.get("shut_frames")
    }
    print(
        f"{len(blinking)} of {len(meta)} clips blink ({args.metadata}; "
        f"{n_frames} frames at {fps:g} fps)"
    )
    print("interval_s  frames  caught_shut  caught_shut_or_half")
    md = [
        f"{len(blinking)} of {len(meta)} demo clips blink ({n_frames} frames at "
        f"{fps:g} fps); the share of those with a sampled frame:",
        "",
        "| interval (s) | sampled frames | lids shut | shut or half-closed |",
        "|---:|---:|---:|---:|",
    ]
    for interval in args.intervals:
        frames = set(sampled_frames(n_frames, fps, interval))
        shut = sum(bool(frames & s) for s in blinking.values())
        either = sum(bool(frames & (s | half_closed(s))) for s in blinking.values())
        print(
            f"{interval:>10g}  {len(frames):>6d}  {shut / len(blinking):>11.0%}  "
            f"{either / len(blinking):>19.0%}"
        )
        md.append(
            f"| {interval:g} | {len(frames)} | {shut / len(blinking):.0%} | "
            f"{either / len(blinking):.0%} |"
        )
    if args.write:
        write_table(args.write, "blink-sampling", __file__, md)


if __name__ == "__main__":
    main()
