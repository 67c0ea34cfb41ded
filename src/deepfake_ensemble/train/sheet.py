"""The contact sheet of synthesised fakes: real faces of the training shards
beside the self-blended and face-warp fakes made from them and the masks
that made them (:mod:`.synthesis`), the report's picture of what
``models.<model>.fakes`` trains on.

The faces are spread evenly over the shards' real faces; each fake is drawn
from :func:`~.synthesis.sample_rng` of the run's seed and the face's index,
so the sheet is the same for the same shards and seed.
"""

from __future__ import annotations

import os

import numpy as np

from ..defaults import DEFAULTS
from ..errors import InputError
from ..evaluate.metrics import get_pyplot, save_figure
from .synthesis import KINDS, ShardFaces, sample_rng, synthesise

__all__ = ["contact_sheet", "plot_contact_sheet", "sheet_samples"]


def sheet_samples(
    faces: ShardFaces, n: int = 6, seed: int = DEFAULTS["seed"]
) -> list[dict]:
    """``n`` real faces (evenly spaced over ``faces``) and their fakes: one
    dict per face with ``index``, ``video_id``, ``frame_index``, ``face``
    and, per kind of :data:`~.synthesis.KINDS`, ``(image, mask)``."""
    if not len(faces):
        raise InputError("the shards hold no real face to synthesise fakes from")
    picks = np.unique(np.linspace(0, len(faces) - 1, n).round().astype(int))
    samples = []
    for i in picks.tolist():
        face, lm = faces[i]
        row = faces.meta.iloc[i]
        sample = {
            "index": i,
            "video_id": str(row["video_id"]),
            "frame_index": int(row["frame_index"]),
            "face": face,
        }
        for kind in KINDS:
            sample[kind] = synthesise(kind, face, lm, sample_rng(seed, 0, i))
        samples.append(sample)
    return samples


def plot_contact_sheet(samples: list[dict], out_png: str | os.PathLike) -> None:
    """One row per face: the real face, then each kind's fake and its mask
    (white: the fake's pixels, black: the real face's bytes)."""
    plt = get_pyplot()
    columns = [("real face", None, None)]
    for kind in KINDS:
        columns += [(kind.replace("_", "-"), kind, 0), (f"{kind} mask", kind, 1)]
    fig, axes = plt.subplots(
        len(samples),
        len(columns),
        figsize=(1.6 * len(columns), 1.7 * len(samples)),
        squeeze=False,
    )
    for r, sample in enumerate(samples):
        for c, (title, kind, part) in enumerate(columns):
            ax = axes[r][c]
            if kind is None:
                ax.imshow(sample["face"])
            elif part == 0:
                ax.imshow(sample[kind][0])
            else:
                ax.imshow(sample[kind][1], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=8)
            if c == 0:
                ax.set_ylabel(
                    f"{sample['video_id']}\nframe {sample['frame_index']}", fontsize=6
                )
    fig.suptitle("Fakes synthesised from real training faces", fontsize=9)
    save_figure(fig, out_png)


def contact_sheet(
    shards, out_png: str | os.PathLike, n: int = 6, seed: int = DEFAULTS["seed"]
) -> list[dict]:
    """Draw the contact sheet of ``n`` real faces of ``shards`` (a shard
    directory, file or list of them) into ``out_png``; return its samples."""
    samples = sheet_samples(ShardFaces(shards), n, seed)
    plot_contact_sheet(samples, out_png)
    return samples
