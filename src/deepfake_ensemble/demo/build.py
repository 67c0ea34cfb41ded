"""Orchestration: the demo dataset's videos, metadata.json and table."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..errors import InputError
from ..io import write_json
from .encode import to_uint8, write_video
from .identities import Identity, load_identities
from .render import Scene, make_scene, render_frame
from .swap import SwapParams, pick_source, swap_face

_NAME = re.compile(r"^(real|fake)_\d{4,}\.mp4$")


def _check_args(
    n_real: int, n_fake: int, n_frames: int, duration_s: float, fps: float, size: int
) -> None:
    if n_real < 1 or n_fake < 0:
        raise InputError(
            f"demo: n_real must be >= 1 and n_fake >= 0 (got {n_real}, {n_fake})"
        )
    if n_frames < 1:
        raise InputError(
            f"demo: duration_s * fps gives no frames ({duration_s} s, {fps} fps)"
        )
    if size < 64 or size % 2:
        raise InputError(f"demo: size must be an even number >= 64 (got {size})")


def _identity_order(seed: int, n_real: int, n_identities: int) -> list[int]:
    """Identity index of each real video, balanced over the identities."""
    order_rng = np.random.default_rng([seed, 3])
    order: list[int] = []
    while len(order) < n_real:
        order.extend(order_rng.permutation(n_identities).tolist())
    return order


def _fakes_of(n_real: int, n_fake: int) -> dict[int, list[int]]:
    """The fakes made from each real video, by index."""
    if n_fake <= n_real:
        originals = [(j * n_real) // n_fake for j in range(n_fake)]
    else:
        originals = [j % n_real for j in range(n_fake)]
    fakes_of: dict[int, list[int]] = {}
    for j, i in enumerate(originals):
        fakes_of.setdefault(i, []).append(j)
    return fakes_of


def _write_real(scene: Scene, base: list[np.ndarray], path: Path, fps: float) -> dict:
    """Write the blinking real video of ``scene``; returns its table row."""
    real = [
        render_frame(scene, k, float(c)) if c > 0 else base[k]
        for k, c in enumerate(scene.closure)
    ]
    write_video([to_uint8(f) for f in real], path, fps)
    blink_frames = " ".join(str(k) for k in np.flatnonzero(scene.closure >= 1))
    return dict(
        name=path.name,
        label="REAL",
        original=None,
        identity=scene.identity.name,
        n_frames=len(base),
        blinks=len(scene.blink_starts),
        source_identity=scene.identity.name,
        blink_frames=blink_frames,
    )


def _write_fake(
    scene: Scene,
    base: list[np.ndarray],
    identities: list[Identity],
    seed: int,
    j: int,
    original: str,
    path: Path,
    fps: float,
) -> dict:
    """Write fake ``j``, another face swapped onto ``base`` (the frames of
    ``original`` without blinks); returns its table row."""
    frng = np.random.default_rng([seed, 1, j])
    source = pick_source(frng, identities, scene.identity)
    params = SwapParams(
        source=source,
        factor=float(frng.uniform(0.4, 0.65)),
        blur=float(frng.uniform(0.4, 0.8)),
        jitter=float(frng.uniform(0.2, 0.6)),
        seed=(seed, 4, j),
    )
    fake = [swap_face(scene, k, base[k], params) for k in range(len(base))]
    write_video([to_uint8(f) for f in fake], path, fps)
    return dict(
        name=path.name,
        label="FAKE",
        original=original,
        identity=scene.identity.name,
        n_frames=len(base),
        blinks=0,
        source_identity=source.name,
        blink_frames="",
    )


def _write_metadata(out_dir: Path, rows: list[dict]) -> None:
    """Remove videos of an earlier, larger run, then write metadata.json."""
    metadata = {
        row["name"]: {
            "label": row["label"],
            "split": "train",
            "original": row["original"],
        }
        for row in rows
    }
    # files of an earlier, larger run would otherwise linger beside the new ones
    for path in out_dir.iterdir():
        if _NAME.match(path.name) and path.name not in metadata:
            path.unlink()
    write_json(dict(sorted(metadata.items())), out_dir / "metadata.json")


def generate_demo_dataset(
    out_dir: str | os.PathLike,
    wheel_path: str | os.PathLike,
    n_real: int = 110,
    n_fake: int = 110,
    duration_s: float = 4.0,
    fps: float = 10,
    size: int = 160,
    seed: int = 7,
    progress: bool = True,
) -> pd.DataFrame:
    """Write the demo dataset (DFDC layout) to ``out_dir`` and describe it.

    Returns one row per video with columns ``name, label, original, identity,
    n_frames, blinks, source_identity, blink_frames``: ``identity`` is the person
    of the scene (for a fake, the person of its original), ``source_identity`` the
    face shown (for a fake, the person swapped in), ``blink_frames`` the frame
    indices with the lids fully shut (space-separated; a half-closed frame comes
    before and after each blink).
    """
    n_frames = int(round(duration_s * fps))
    _check_args(n_real, n_fake, n_frames, duration_s, fps, size)
    identities = load_identities(wheel_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # an interrupted run must not leave a finished-looking dataset behind
    (out_dir / "metadata.json").unlink(missing_ok=True)
    order = _identity_order(seed, n_real, len(identities))
    fakes_of = _fakes_of(n_real, n_fake)
    rows: list[dict] = []
    bar = tqdm(
        total=n_real + n_fake,
        desc="demo videos",
        unit="video",
        disable=None if progress else True,
    )
    for i in range(n_real):
        rng = np.random.default_rng([seed, 0, i])
        scene = make_scene(rng, identities[order[i]], n_frames, fps, size, (seed, 2, i))
        base = [render_frame(scene, k, 0.0) for k in range(n_frames)]
        real_name = f"real_{i:04d}.mp4"
        rows.append(_write_real(scene, base, out_dir / real_name, fps))
        bar.update()
        for j in fakes_of.get(i, []):
            path = out_dir / f"fake_{j:04d}.mp4"
            rows.append(
                _write_fake(scene, base, identities, seed, j, real_name, path, fps)
            )
            bar.update()
    bar.close()
    _write_metadata(out_dir, rows)
    df = pd.DataFrame(rows)
    df = df.sort_values(["label", "name"], ascending=[False, True])
    return df.reset_index(drop=True)
