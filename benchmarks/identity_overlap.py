"""Identity overlap of the test fakes under each split mode, Celeb-DF shaped.

Writes a Celeb-DF v2 shaped tree of empty files into a temporary folder
(``synthetic.write_celebdf_tree``: ``--identities`` identities with
``--real-clips`` real clips each, fakes of every target with every other
identity as source, YouTube clips without identity), ingests it and splits it
8:1:1 by ``video``, ``group`` and ``identity``. For each mode prints the
videos per split, the dropped fakes and the share of test fakes whose source
identity (the swapped-in face) appears in train.

    .venv/bin/python benchmarks/identity_overlap.py [--identities 59] [--seed 1]

Nothing is asserted (tests/test_splits.py checks the identity split).
``--write docs/statistics.md`` puts the table into that file's
``identity-overlap`` block, with the command, the commit and the machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from deepfake_ensemble.ingest.manifest import build_manifest  # noqa: E402
from deepfake_ensemble.ingest.splits import SPLIT_BY, assign_splits, identity_overlap  # noqa: E402
from deepfake_ensemble.ingest.synthetic import write_celebdf_tree  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _markdown import write_table  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--identities", type=int, default=59)
    ap.add_argument("--real-clips", type=int, default=10)
    ap.add_argument("--youtube", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--write", type=Path, default=None, help="markdown file to update")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = write_celebdf_tree(
            Path(tmp) / "Celeb-DF-v2",
            n_identities=args.identities,
            real_clips=args.real_clips,
            youtube=args.youtube,
        )
        manifest = build_manifest(
            [{"name": "celebdf", "layout": "celebdf", "root": root}]
        )
    counts = manifest["label"].value_counts()
    print(
        f"Celeb-DF-shaped tree: {len(manifest)} videos ({counts.get(0, 0)} real, "
        f"{counts.get(1, 0)} fake), {args.identities} identities, seed {args.seed}"
    )
    print("split_by   train  val  test  dropped  test fakes  source in train  overlap")
    md = [
        f"Celeb-DF shaped tree: {len(manifest)} videos ({counts.get(0, 0)} real, "
        f"{counts.get(1, 0)} fake), {args.identities} identities, split 8:1:1 "
        f"with seed {args.seed}:",
        "",
        "| split_by | train | val | test | dropped | test fakes | source in train "
        "| overlap |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mode in SPLIT_BY:
        assigned = assign_splits(manifest, split_by=mode, seed=args.seed)
        n = assigned["split"].value_counts()
        row = identity_overlap(assigned).iloc[0]
        overlap = "n/a" if row["overlap"] is None else f"{row['overlap']:.3f}"
        print(
            f"{mode:<10}{n.get('train', 0):>6}{n.get('val', 0):>5}{n.get('test', 0):>6}"
            f"{n.get('dropped', 0):>9}{row['test_fakes']:>12}"
            f"{row['source_in_train']:>17}  {overlap}"
        )
        md.append(
            f"| `{mode}` | {n.get('train', 0)} | {n.get('val', 0)} | "
            f"{n.get('test', 0)} | {n.get('dropped', 0)} | {row['test_fakes']} | "
            f"{row['source_in_train']} | {overlap} |"
        )
    if args.write:
        write_table(args.write, "identity-overlap", __file__, md)


if __name__ == "__main__":
    main()
