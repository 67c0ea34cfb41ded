"""The ``deepfake-ensemble`` command: score videos with an exported bundle.

    deepfake-ensemble score --bundle results/bundle VIDEO_OR_FOLDER... \\
        [-o scores.csv] [--ensemble all_soft] [--device auto] [--json]
    deepfake-ensemble verify results/bundle
    deepfake-ensemble plan --configfile config/study.yaml [--nodes N ...]

``score`` checks the bundle against its manifest, preprocesses every video
with the bundle's settings (a progress bar on stderr), runs each member's
forward step and the ensembles, and writes one row per video (CSV, or JSON
with ``--json``) to ``-o`` or to standard output. A file that cannot be
scored gets its status and never stops the others. Exit status: 0 when at
least one video was scored (status ``ok``), 1 when none was, 2 for a bad
bundle or command line (one line ``error: ...`` on stderr).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from ..defaults import DEFAULTS
from ..errors import InputError

log = logging.getLogger("deepfake_ensemble.cli")

EXIT_OK = 0
EXIT_NONE_SCORED = 1
EXIT_BAD_INPUT = 2


def _ensemble_names(values: Sequence[str] | None) -> list[str] | None:
    if not values:
        return None
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    if any(n == "all" for n in names):
        return None
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deepfake-ensemble",
        description="Score videos with an exported deepfake-ensemble bundle.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    score = sub.add_parser(
        "score",
        help="score videos (files, folders, or .txt lists of files)",
        description=(
            "Score videos with the members and ensembles of a bundle: one row "
            "per video with every member's and ensemble's fake probability, "
            "the decision at the threshold chosen on validation, the frames "
            "sampled, the faces found and the preprocessing status."
        ),
    )
    score.add_argument(
        "inputs",
        nargs="+",
        metavar="VIDEO_OR_FOLDER",
        help="video files, folders (every video below) or .txt/.list files "
        "(one video a line)",
    )
    score.add_argument(
        "--bundle",
        default="results/bundle",
        help="the bundle folder (rule bundle writes results/bundle)",
    )
    score.add_argument(
        "-o", "--output", help="write the table here (default: standard output)"
    )
    score.add_argument(
        "--ensemble",
        action="append",
        metavar="NAME",
        help="ensembles to report (repeat or comma-separate; default: all)",
    )
    score.add_argument(
        "--device", default="auto", help="auto (CUDA when there), cpu or cuda[:N]"
    )
    score.add_argument("--json", action="store_true", help="JSON instead of CSV")
    score.add_argument("--batch-size", type=int, default=64)
    score.add_argument(
        "--threads",
        type=int,
        default=0,
        help="CPU threads of torch and OpenCV (default: the libraries' own)",
    )
    score.add_argument(
        "--cpu-numerics",
        choices=("portable", "native"),
        default="portable",
        help="portable (default): the same scores on every x86-64 CPU with "
        "AVX2; native: the machine's fastest kernels (see the workflow's "
        "train.cpu_numerics)",
    )
    score.add_argument(
        "--cache",
        metavar="DIR",
        help="keep each video's faces in this cache folder (the workflow's "
        "results/faces works) and reuse them on the next run",
    )
    score.add_argument(
        "--quiet", action="store_true", help="no progress bars or summary"
    )
    verify = sub.add_parser(
        "verify", help="check a bundle against its manifest and describe it"
    )
    verify.add_argument("bundle")
    plan = sub.add_parser(
        "plan",
        help="the bill before a run: core-hours, storage, GPU-hours, "
        "submissions and wall time of a config, from measured rates",
        description=(
            "Plan a run of the workflow before anything runs: preprocessing "
            "core-hours, shard storage, GPU-hours per member, SLURM "
            "submissions and the wall time on --nodes nodes, every rate read "
            "from resources/rates/ (see docs/cluster.md#the-bill-before-the-run)."
        ),
    )
    from .plan import add_arguments

    add_arguments(plan)
    return parser


def version_notes(bundle) -> list[str]:
    """Differences between the libraries the bundle was made with and these."""
    from importlib import metadata

    from ..preprocess.shards import package_versions

    notes = []
    pre = bundle.index.get("versions", {}).get("preprocessing", {})
    for name, here in package_versions().items():
        there = pre.get(name)
        if there and there != here and name in ("dlib", "av", "opencv"):
            notes.append(f"{name} {there} at training, {here} here")
    made = bundle.index.get("versions", {}).get("export", {})
    for dist in ("torch", "timm"):
        here = metadata.version(dist)
        if made.get(dist) and made[dist] != here:
            notes.append(f"{dist} {made[dist]} at export, {here} here")
    return notes


def run_score(
    bundle_dir: str | Path,
    inputs: Sequence[str],
    *,
    ensembles: Sequence[str] | None = None,
    device: str = DEFAULTS["train.device"],
    batch_size: int = 64,
    cache: str | Path | None = None,
    progress: bool = True,
    timings: dict | None = None,
):
    """Score ``inputs`` with a bundle; returns ``(bundle, table)``.
    ``timings`` receives the seconds of ``preprocess`` and of each member."""
    from ..preprocess.shards import ShardSet
    from .archive import read_bundle
    from .score import (
        batch_of,
        list_videos,
        predict_members,
        preprocess_videos,
        score_table,
    )

    bundle = read_bundle(bundle_dir)
    names = bundle.select(ensembles)
    videos = list_videos(inputs)
    if videos.empty:
        raise InputError(f"no videos in {', '.join(map(str, inputs))}")
    timings = {} if timings is None else timings
    with tempfile.TemporaryDirectory(prefix="dfe-score-") as tmp:
        t0 = time.perf_counter()
        if cache is None:
            shards = Path(tmp) / "score.h5"
            report = preprocess_videos(
                videos, bundle.preprocess, shards, progress=progress
            )
        else:
            from ..preprocess.pipeline import pack_shards, run_batch

            cfg = bundle.preprocess
            report = run_batch(
                batch_of(videos, 0, len(videos)), cache, cfg, progress=progress
            )
            shards = Path(tmp) / "shards"
            pack_shards(report, shards, cfg, split="score", progress=False)
        timings["preprocess"] = time.perf_counter() - t0
        shard_set = ShardSet(shards)
        try:
            frames = predict_members(
                bundle,
                shard_set,
                device=device,
                batch_size=batch_size,
                progress=progress,
                timings=timings,
            )
        finally:
            shard_set.close()
    table = score_table(videos, report, frames, bundle, names)
    return bundle, table


def _write(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from ..io import write_text

    write_text(text, output)


def cmd_score(args: argparse.Namespace) -> int:
    from ..numerics import pin
    from .score import table_records

    if args.threads:
        from ..workflow import limit_threads

        limit_threads(args.threads)
    pin(args.cpu_numerics)
    progress = not args.quiet
    ensembles = _ensemble_names(args.ensemble)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    bundle, table = run_score(
        args.bundle,
        args.inputs,
        ensembles=ensembles,
        device=args.device,
        batch_size=args.batch_size,
        cache=args.cache,
        progress=progress,
        timings=timings,
    )
    if args.json:
        text = json.dumps(table_records(table, bundle, ensembles), indent=2) + "\n"
    else:
        text = table.to_csv(index=False)
    _write(text, args.output)
    n_ok = int((table["status"] == "ok").sum())
    if progress:
        counts = ", ".join(
            f"{n} {status}" for status, n in table["status"].value_counts().items()
        )
        print(
            f"scored {n_ok} of {len(table)} video(s) ({counts}) with "
            f"{len(bundle.members)} members and "
            f"{len(bundle.select(ensembles))} ensembles in "
            f"{time.perf_counter() - t0:.1f} s"
            + (f" -> {args.output}" if args.output else ""),
            file=sys.stderr,
        )
        for note in version_notes(bundle):
            print(f"warning: {note}: scores may differ slightly", file=sys.stderr)
    return EXIT_OK if n_ok else EXIT_NONE_SCORED


def cmd_verify(args: argparse.Namespace) -> int:
    from .archive import manifest_digest, read_bundle

    bundle = read_bundle(args.bundle)
    files = bundle.manifest["files"]
    print(
        f"{bundle.root}: {len(files)} files match the manifest "
        f"(SHA-256 of manifest.json {manifest_digest(bundle.root)})\n"
        f"created {bundle.index.get('created')}, commit {bundle.index.get('commit')}\n"
        f"members: {', '.join(bundle.members)}\n"
        f"ensembles: {', '.join(bundle.ensembles)}"
    )
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    from .plan import markdown, run, write_csv

    plan = run(args)
    print("\n".join(markdown(plan)))
    write_csv(plan, args.output)
    print(f"written: {args.output}", file=sys.stderr)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        if args.command == "score":
            return cmd_score(args)
        if args.command == "plan":
            return cmd_plan(args)
        return cmd_verify(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
