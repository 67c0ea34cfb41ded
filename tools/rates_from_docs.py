"""Convert the figures of the benchmark blocks in the docs into rates files.

A one-off: the benchmarks now write ``resources/rates/<name>.json`` with
``--write`` (``benchmarks/_markdown.write_rates``), but the blocks in the
docs were measured before they did. This reads each block's table as it
stands and writes its rates file, naming the page, the block and the
block's first line (the commit and the machine it was measured on) as its
provenance:

* ``train-throughput`` (docs/benchmarks.md) -> train-throughput-<gpu>.json:
  real-shard images/s (frames/s for In Ictu Oculi), the batch, the input
  size (``--size 0``: the model's original size, from the model registry)
  and the peak GPU memory of each model;
* ``preprocess-speed`` (docs/preprocessing.md) -> preprocess-speed.json:
  this project's sampled frames/s on one core, the mean of the block's runs;
* ``loader`` (docs/shards.md) -> loader.json: KiB per face of each layout
  at the block's face size, and reads/s.

    .venv/bin/python tools/rates_from_docs.py [--check]

``--check`` exits 1 when a rates file differs from what the block gives.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from deepfake_ensemble.bundle.plan import RATES_DIR, kind_slug, rates_document  # noqa: E402

COMMIT = re.compile(r"\bcommit ([0-9a-f]{7,40})\b")


def block(page: Path, name: str) -> tuple[str, list[list[str]]]:
    """The first line and the table rows (cells) of block ``name``."""
    text = page.read_text()
    begin = re.search(rf"<!-- {re.escape(name)}:begin[^>]*-->\n", text)
    if not begin:
        raise SystemExit(f"{page}: no block {name}")
    body = text[begin.end() : text.index(f"<!-- {name}:end -->")]
    rows = [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in body.splitlines()
        if line.startswith("|") and not line.startswith("|---")
    ]
    return body.splitlines()[0], rows[1:]


def number(cell: str) -> float:
    return float(re.match(r"[\d,.]+", cell).group(0).replace(",", ""))


def provenance(page: str, name: str, first: str) -> dict:
    commit = COMMIT.search(first)
    return {
        "commit": commit.group(1) if commit else "unknown",
        "command": f"tools/rates_from_docs.py (block {name} of {page})",
        "source": f"converted from block {name} of {page}, whose first line "
        f"reads: {first}",
    }


def train_throughput() -> tuple[str, dict]:
    from deepfake_ensemble.train.models import get_spec

    page = "docs/benchmarks.md"
    first, rows = block(ROOT / page, "train-throughput")
    gpu = re.search(r"\bone (NVIDIA [A-Za-z0-9 -]+?)(?: \(|,|$)", first)
    machine = gpu.group(1) if gpu else "unknown GPU"
    seq = re.search(r"--seq-len (\d+)", first)
    original = "--size 0" in first
    models = {}
    for cells in rows:
        m = re.match(r"(\w+) \((\d+)", cells[0])
        name, batch = m.group(1), int(m.group(2))
        spec = get_spec(name)
        eye = spec.input_kind == "eye_sequence"
        models[name] = {
            "per_s": number(cells[1]),
            "unit": "frames/s" if eye else "images/s",
            "batch": batch,
            "input_size": spec.input_size if original else None,
            "seq_len": int(seq.group(1)) if eye and seq else None,
            "peak_gpu_gib": number(cells[5]),
            "data": "real shards (JPEG), 7 loader workers, bf16 + channels-last",
        }
    doc = rates_document(
        "train-throughput",
        {"models": models},
        machine=machine,
        kind=kind_slug(machine),
        **provenance(page, "train-throughput", first),
    )
    return f"train-throughput-{kind_slug(machine)}.json", doc


def preprocess_speed() -> tuple[str, dict]:
    page = "docs/preprocessing.md"
    first, rows = block(ROOT / page, "preprocess-speed")
    runs = [number(cells[3]) for cells in rows]
    doc = rates_document(
        "preprocess-speed",
        {
            "sampled_frames_per_core_s": round(statistics.mean(runs), 6),
            "runs": runs,
            "clip": "benchmarks/preprocess.py's clip (20 s, 1280x720, 30 fps, "
            "six faces per frame, faces: all, a sample every 0.5 s, one core)",
        },
        machine="not named in the block (an otherwise idle machine)",
        **provenance(page, "preprocess-speed", first),
    )
    return "preprocess-speed.json", doc


def loader() -> tuple[str, dict]:
    page = "docs/shards.md"
    first, rows = block(ROOT / page, "loader")
    text = (ROOT / page).read_text()
    size = re.search(r"reads of (\d+)×\d+ face crops", text)
    machine = re.search(r", on (.+):$", first)
    layouts = {"folder": "files", "raw": "raw", "JPEG bytes": "jpeg"}
    per_face, reads = {}, {}
    for cells in rows:
        key = next(v for k, v in layouts.items() if k in cells[0])
        per_face[key] = number(cells[3]) * 1024
        reads[key] = number(cells[1])
    doc = rates_document(
        "loader",
        {
            "face_size": int(size.group(1)),
            "bytes_per_face": per_face,
            "reads_per_s": reads,
        },
        machine=machine.group(1) if machine else "unknown",
        **provenance(page, "loader", first),
    )
    return "loader.json", doc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    status = 0
    for make in (train_throughput, preprocess_speed, loader):
        name, doc = make()
        path = RATES_DIR / name
        text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
        if args.check:
            if not path.is_file() or path.read_text() != text:
                print(f"differs: {path.relative_to(ROOT)}")
                status = 1
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"written: {path.relative_to(ROOT)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
