"""How planning the workflow scales with the number of videos.

For 1,000, 10,000 and 128,154 videos (the size of the full DFDC), writes a
synthetic manifest and 8:1:1 split into a temporary working directory (as
`ingest` and the `split` checkpoint would), then times a dry run of the whole
workflow with the SLURM profile (`snakemake -n --profile profiles/slurm
--configfile config/dfdc.yaml`) and records its peak memory. From the dry run
it counts the preprocessing batch jobs (ceil(videos / videos_per_job) per
split) and the SLURM submissions they become (group jobs of up to 20 batches,
`group-components` in profiles/slurm).

    .venv/bin/python benchmarks/dag_scale.py [--sizes 1000 10000 128154]

Targets: a dry run of 128,154 videos in under 60 s and 4 GB; at most one
preprocessing submission per 100 videos. Prints a table and writes
benchmarks/out/dag_scale.csv. Nothing is asserted.

    .venv/bin/python benchmarks/dag_scale.py --cross [--protocols ...]

plans the study's three datasets at full size instead (Celeb-DF 6,229, DFD
3,431 and DFDC 128,154 videos, `config/study.yaml`) under each
`evaluation.protocol` (pooled, cross_dataset, leave_one_out): dry-run time
and peak memory, the jobs per rule and the GPU jobs (train and predict: one
SLURM submission each). Writes benchmarks/out/dag_scale_cross.csv.

``--write docs/cluster.md`` also puts the table into that file's ``dag-scale``
block (``dag-scale-cross`` with ``--cross``), with the command, the commit
and the machine.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from _markdown import write_table

from deepfake_ensemble.ingest.synthetic import synthetic_manifest, write_split_tree

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "dfdc.yaml"
STUDY = ROOT / "config" / "study.yaml"
#: the study's datasets at full size (videos)
FULL_SIZE = {"celebdf": 6229, "dfd": 3431, "dfdc": 128154}
PROTOCOLS = ("pooled", "cross_dataset", "leave_one_out")
GPU_RULES = ("train", "predict")
PROFILE = ROOT / "profiles" / "slurm"
OUT = ROOT / "benchmarks" / "out"
RULE_LINE = re.compile(r"^(\s*)(?:local)?(?:rule|checkpoint) (\w+):$")
#: the first line of a group job in a dry run's output, and its group
GROUP_LINE = re.compile(r"\] Group job (\w+)")


def write_split(workdir: Path, n_videos: int, seed: int = 1) -> dict[str, int]:
    """A manifest of `n_videos` videos (pairs sharing a source) and an 8:1:1
    split by source, newer than everything they derive from."""
    return write_split_tree(workdir, synthetic_manifest(n_videos), seed=seed)


def dry_run(
    workdir: Path, timeout: float, configfiles: tuple[Path, ...] = (CONFIG,)
) -> tuple[str, float, float, bool]:
    """Output, wall seconds and peak resident memory (MB) of a dry run."""
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--profile",
        str(PROFILE),
        "--configfile",
        *map(str, configfiles),
        "-n",
    ]
    log = workdir / "dryrun.log"
    with open(log, "w") as handle:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=workdir, stdout=handle, stderr=handle)
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > timeout:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                timed_out = True
                break
            time.sleep(0.05)
        seconds = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    output = log.read_text()
    if proc.returncode != 0 and not timed_out:
        raise RuntimeError(f"dry run failed ({proc.returncode}):\n{output[-3000:]}")
    return output, seconds, usage.ru_maxrss / 1024, timed_out


def count_jobs(output: str) -> dict[str, int]:
    """Batch jobs, group submissions (preprocessing's, ensembles') and all
    jobs of a dry run's output."""
    groups: dict[str, list[set[str]]] = {"preprocess": [], "ensemble": []}
    batches: set[str] = set()
    rule, name = None, None
    for line in output.splitlines():
        match = GROUP_LINE.search(line)
        if match:
            name = match.group(1)
            groups.setdefault(name, []).append(set())
            continue
        match = RULE_LINE.match(line)
        if match:
            rule = match.group(2)
            if not match.group(1):
                name = None
            continue
        stripped = line.strip()
        if rule and stripped.startswith("jobid: "):
            jobid = stripped.removeprefix("jobid: ")
            if rule == "preprocess_batch":
                batches.add(jobid)
            if name:
                groups[name][-1].add(jobid)
            rule = None

    # A dry run never finishes a job, and Snakemake 9.27 then re-groups the
    # printed group jobs into unions of them; a submission is a smallest one.
    unique = {name: {frozenset(g) for g in sets} for name, sets in groups.items()}
    minimal = {
        name: [g for g in sets if not any(other < g for other in sets)]
        for name, sets in unique.items()
    }
    total = re.search(r"^total\s+(\d+)", output, re.MULTILINE)
    return {
        "batch_jobs": len(batches),
        "submissions": len(minimal["preprocess"]),
        "largest_group": max((len(g) for g in minimal["preprocess"]), default=0),
        "merged_groups_printed": len(unique["preprocess"]) - len(minimal["preprocess"]),
        "ensemble_submissions": len(minimal["ensemble"]),
        "dag_jobs": int(total.group(1)) if total else 0,
    }


def job_stats(output: str) -> dict[str, int]:
    """Jobs per rule, from the first "Job stats" table of a dry run."""
    stats: dict[str, int] = {}
    lines = output.splitlines()
    try:
        start = next(i for i, ln in enumerate(lines) if ln.startswith("Job stats"))
    except StopIteration:
        return stats
    for line in lines[start + 3 :]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        stats[parts[0]] = int(parts[1])
    return stats


def cross_dataset_scale(protocols: list[str], timeout: float) -> pd.DataFrame:
    """The three datasets of the study at full size, planned under each
    protocol with the SLURM profile."""
    rows = []
    for protocol in protocols:
        with tempfile.TemporaryDirectory(prefix=f"dag-{protocol}-") as tmp:
            workdir = Path(tmp)
            manifest = pd.concat(
                [synthetic_manifest(n, d) for d, n in FULL_SIZE.items()],
                ignore_index=True,
            )
            write_split_tree(workdir, manifest, seed=1)
            overlay = workdir / "protocol.yaml"
            overlay.write_text(f"evaluation:\n  protocol: {protocol}\n")
            output, seconds, peak_mb, timed_out = dry_run(
                workdir, timeout, (STUDY, overlay)
            )
        stats = job_stats(output)
        jobs = count_jobs(output)
        rows.append(
            {
                "protocol": protocol,
                "videos": len(manifest),
                "dry_run_s": round(seconds, 1),
                "peak_mb": round(peak_mb),
                "dag_jobs": jobs["dag_jobs"],
                "gpu_jobs": sum(stats.get(r, 0) for r in GPU_RULES),
                "train_jobs": stats.get("train", 0),
                "predict_jobs": stats.get("predict", 0),
                "evaluate_jobs": stats.get("evaluate_model", 0),
                "ensemble_fit_jobs": stats.get("ensemble", 0),
                "ensemble_test_jobs": stats.get("ensemble_test", 0),
                "batch_jobs": jobs["batch_jobs"],
                "preprocess_submissions": jobs["submissions"],
                "timed_out": timed_out,
            }
        )
        print(rows[-1], file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 128154])
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument(
        "--cross",
        action="store_true",
        help="the study's three datasets at full size, under each protocol",
    )
    parser.add_argument("--protocols", nargs="+", default=list(PROTOCOLS))
    parser.add_argument("--write", type=Path, default=None, help="markdown file")
    args = parser.parse_args()
    if args.cross:
        table = cross_dataset_scale(args.protocols, args.timeout)
        print(table.to_string(index=False))
        OUT.mkdir(parents=True, exist_ok=True)
        table.to_csv(OUT / "dag_scale_cross.csv", index=False)
        if args.write:
            write_table(args.write, "dag-scale-cross", __file__, cross_markdown(table))
        return

    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix=f"dag-{n}-") as tmp:
            workdir = Path(tmp)
            counts = write_split(workdir, n)
            output, seconds, peak_mb, timed_out = dry_run(workdir, args.timeout)
        jobs = count_jobs(output)
        expected = sum(math.ceil(c / 100) for c in counts.values())
        rows.append(
            {
                "videos": n,
                "dry_run_s": round(seconds, 1),
                "peak_mb": round(peak_mb),
                "dag_jobs": jobs["dag_jobs"],
                "batch_jobs": jobs["batch_jobs"],
                "expected_batches": expected,
                "submissions": jobs["submissions"],
                "largest_group": jobs["largest_group"],
                "submissions_per_100_videos": round(100 * jobs["submissions"] / n, 3),
                "merged_groups_printed": jobs["merged_groups_printed"],
                "timed_out": timed_out,
            }
        )
        print(rows[-1], file=sys.stderr, flush=True)

    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    growth = [
        (b["dry_run_s"] / a["dry_run_s"]) ** (1 / math.log10(b["videos"] / a["videos"]))
        for a, b in zip(rows, rows[1:], strict=False)
    ]
    if growth:
        print(
            "dry-run time per 10x videos: "
            + ", ".join(f"x{g:.2f}" for g in growth)
            + f"; {table['dry_run_s'].iloc[-1]:.1f} s and "
            f"{table['peak_mb'].iloc[-1]:.0f} MB at {rows[-1]['videos']:,} videos"
        )
    OUT.mkdir(parents=True, exist_ok=True)
    table.to_csv(OUT / "dag_scale.csv", index=False)
    if args.write:
        write_table(args.write, "dag-scale", __file__, sizes_markdown(table))


def _timed(row) -> str:
    return f"{row.dry_run_s:.1f} s" + (" (timed out)" if row.timed_out else "")


def sizes_markdown(table: pd.DataFrame) -> list[str]:
    """The sizes table as Markdown."""
    lines = [
        "Dry run with the SLURM profile (`videos_per_job: 100`, 20 batches per "
        "submission):",
        "",
        "| videos | dry run | peak memory | batch jobs | SLURM submissions for "
        "preprocessing |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.videos:,} | {_timed(r)} | {r.peak_mb} MB | {r.batch_jobs:,} | "
            f"{r.submissions:,} |"
        )
    return lines


def cross_markdown(table: pd.DataFrame) -> list[str]:
    """The protocols table as Markdown."""
    lines = [
        f"The study's three datasets at full size ({table['videos'].iloc[0]:,} "
        "videos), dry run with the SLURM profile:",
        "",
        "| protocol | dry run | peak memory | jobs | GPU jobs (train + predict) | "
        "ensemble fit / test jobs | preprocessing batches (submissions) |",
        "|---|---:|---:|---:|---|---|---|",
    ]
    for r in table.itertuples():
        lines.append(
            f"| `{r.protocol}` | {_timed(r)} | {r.peak_mb} MB | {r.dag_jobs:,} | "
            f"{r.gpu_jobs} ({r.train_jobs} + {r.predict_jobs}) | "
            f"{r.ensemble_fit_jobs} / {r.ensemble_test_jobs} | "
            f"{r.batch_jobs:,} ({r.preprocess_submissions}) |"
        )
    return lines


if __name__ == "__main__":
    main()
