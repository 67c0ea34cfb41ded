"""Orchestration: the demo dataset's cues, videos, metadata.json and tables."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from ...defaults import DEFAULTS
from ...errors import InputError
from ...io import write_csv, write_json
from ...layout import DEMO_LAYOUTS
from .encode import to_uint8, write_video
from .identities import MAX_VARIANTS, Identity, load_identities
from .render import Scene, degrade, make_scene, render_frame
from .swap import (
    ARTEFACT_KINDS,
    clean_params,
    pick_source,
    source_candidates,
    swap_face,
)

_NAME = re.compile(r"^(real|fake)_\d{4,}\.mp4$")

#: per-video cue columns: ``artefacts`` (a fake whose swap shows warping
#: artifacts and a blend seam), ``no_blink`` (a video whose face never blinks:
#: a fake's cue, a real's confounder), ``low_quality`` (a real downscaled and
#: blurred like a low-quality upload: a confounder)
CUES = ("artefacts", "no_blink", "low_quality")
OVERLAPS = ("minimal", "independent")
DEFAULT_CUES: dict[str, Any] = {
    key: DEFAULTS[f"demo.cues.{key}"] for key in ("artefacts", "no_blink", "overlap")
}
DEFAULT_CONFOUNDERS: dict[str, float] = {
    key: DEFAULTS[f"demo.confounders.{key}"] for key in ("low_quality", "no_blink")
}
DEFAULT_CRF = tuple(DEFAULTS["demo.crf"])
# a low-quality upload: the frame downscaled to this fraction, then blurred
# (Gaussian sigma at the small size) and scaled back
LOW_QUALITY_FACTOR = (0.4, 0.65)
LOW_QUALITY_BLUR = (0.4, 0.8)


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


def _share(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"demo: {where} must be a number in [0, 1] (got {value!r})")
    if not 0 <= value <= 1:
        raise InputError(f"demo: {where} must be in [0, 1] (got {value})")
    return float(value)


def _check_cues(
    cues: Mapping[str, Any] | None,
    confounders: Mapping[str, Any] | None,
    crf: tuple[int, int] | list[int],
) -> tuple[dict[str, Any], dict[str, float], tuple[int, int]]:
    """The cue settings with defaults filled in; InputError for bad ones."""
    cues = {**DEFAULT_CUES, **(cues or {})}
    confounders = {**DEFAULT_CONFOUNDERS, **(confounders or {})}
    for key, allowed in (
        (cues, {"artefacts", "no_blink", "overlap"}),
        (confounders, {"low_quality", "no_blink"}),
    ):
        extra = sorted(set(key) - allowed)
        if extra:
            raise InputError(
                f"demo: unknown key {extra[0]!r} "
                f"(allowed: {', '.join(sorted(allowed))})"
            )
    out_cues = {
        "artefacts": _share("cues.artefacts", cues["artefacts"]),
        "no_blink": _share("cues.no_blink", cues["no_blink"]),
        "overlap": cues["overlap"],
    }
    if out_cues["overlap"] not in OVERLAPS:
        raise InputError(
            f"demo: cues.overlap must be one of {', '.join(OVERLAPS)} "
            f"(got {cues['overlap']!r})"
        )
    out_conf = {k: _share(f"confounders.{k}", v) for k, v in confounders.items()}
    try:
        lo, hi = (int(c) for c in crf)
    except (TypeError, ValueError) as err:
        raise InputError(
            f"demo: crf must be two integers [min, max] (got {crf!r})"
        ) from err
    if not 0 <= lo <= hi <= 51:
        raise InputError(f"demo: crf must satisfy 0 <= min <= max <= 51 (got {crf!r})")
    return out_cues, out_conf, (lo, hi)


def _count(share: float, n: int) -> int:
    """``share`` of ``n``, rounded half up."""
    return int(np.floor(share * n + 0.5))


def _stratified_order(
    n: int, rng: np.random.Generator, strata: np.ndarray | None
) -> np.ndarray:
    """The indices ``0..n-1`` in random order, each stratum's items together
    (strata in random order)."""
    order = rng.permutation(n)
    if strata is None:
        return order
    labels = np.asarray(strata)[order]
    _, first = np.unique(labels, return_index=True)
    rank = {labels[i]: r for r, i in enumerate(rng.permutation(first))}
    keys = np.array([rank[x] for x in labels])
    return order[np.argsort(keys, kind="stable")]


def _spread(items: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` of ``items`` (kept in their order), evenly spaced along it from a
    random offset: with items ordered stratum by stratum, every stratum gets
    its share, up to one item."""
    n = len(items)
    if n == 0 or k <= 0:
        return items[:0]
    r = np.arange(n)
    u = rng.uniform()
    pick = np.floor((r + 1) * k / n + u) - np.floor(r * k / n + u) > 0
    return items[pick]


def assign_fake_cues(
    n: int,
    artefacts: float,
    no_blink: float,
    overlap: str,
    rng: np.random.Generator,
    strata: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean cue flags (artefacts, no_blink) of ``n`` fakes.

    Exactly ``round(share * n)`` fakes carry each cue, chosen at random; with
    ``strata`` (e.g. the identity group of each fake) spread evenly over the
    strata, so that every group, and so every split, holds about the
    configured shares. With ``overlap="minimal"`` as few fakes as possible
    carry both, so that every fake carries at least one cue whenever the
    shares add up to 1 or more (a share ``max(0, artefacts + no_blink - 1)``
    carries both, and ``max(0, 1 - artefacts - no_blink)`` none). With
    ``"independent"`` the two cues are drawn independently of each other
    (about ``(1 - artefacts) * (1 - no_blink)`` of the fakes carry none).
    """
    a, b = _count(artefacts, n), _count(no_blink, n)
    art = np.zeros(n, bool)
    nob = np.zeros(n, bool)
    order = _stratified_order(n, rng, strata)
    art[_spread(order, a, rng)] = True
    if overlap == "minimal":
        both = max(0, a + b - n)
        nob[_spread(order[art[order]], both, rng)] = True
        nob[_spread(order[~art[order]], b - both, rng)] = True
    else:
        nob[_spread(_stratified_order(n, rng, strata), b, rng)] = True
    return art, nob


def _chosen(
    n: int, share: float, rng: np.random.Generator, strata: np.ndarray | None = None
) -> np.ndarray:
    """Boolean flags: ``round(share * n)`` of ``n`` items, chosen at random
    and spread evenly over the ``strata``."""
    flags = np.zeros(n, bool)
    flags[_spread(_stratified_order(n, rng, strata), _count(share, n), rng)] = True
    return flags


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


def _crf(seed: int, kind: int, index: int, crf: tuple[int, int]) -> int:
    """The compression of one video, uniform over the configured range."""
    return int(
        np.random.default_rng([seed, 9, kind, index]).integers(crf[0], crf[1] + 1)
    )


def _blink_frames(closure: np.ndarray) -> str:
    return " ".join(str(k) for k in np.flatnonzero(closure >= 1))


def _write_real(
    scene: Scene,
    base: list[np.ndarray],
    path: Path,
    fps: float,
    crf: int,
    flags: dict[str, bool],
    quality_rng: np.random.Generator,
    name: str | None = None,
) -> dict:
    """Write the real video of ``scene``; returns its table row (``name``:
    its path relative to the dataset root, default the file name)."""
    closure = np.zeros_like(scene.closure) if flags["no_blink"] else scene.closure
    real = [
        render_frame(scene, k, float(c)) if c > 0 else base[k]
        for k, c in enumerate(closure)
    ]
    if flags["low_quality"]:
        factor = float(quality_rng.uniform(*LOW_QUALITY_FACTOR))
        blur = float(quality_rng.uniform(*LOW_QUALITY_BLUR))
        real = [degrade(f, factor, blur) for f in real]
    write_video([to_uint8(f) for f in real], path, fps, crf)
    return dict(
        name=name or path.name,
        label="REAL",
        original=None,
        identity=scene.identity.name,
        person=scene.identity.person,
        n_frames=len(base),
        blinks=0 if flags["no_blink"] else len(scene.blink_starts),
        source_identity=scene.identity.name,
        source_person=scene.identity.person,
        blink_frames=_blink_frames(closure),
        group=scene.identity.name,
        artefacts=False,
        no_blink=flags["no_blink"],
        low_quality=flags["low_quality"],
        crf=crf,
    )


def _write_fake(
    scene: Scene,
    base: list[np.ndarray],
    candidates: list[Identity],
    seed: int,
    j: int,
    original: str,
    path: Path,
    fps: float,
    crf: int,
    flags: dict[str, bool],
    artefact_kind: str = DEFAULTS["demo.artefact_kind"],
    name: str | None = None,
) -> dict:
    """Write fake ``j``, another face swapped onto ``base`` (the frames of
    ``original`` without blinks); returns its table row (``name``: its path
    relative to the dataset root, default the file name). A fake with the
    ``artefacts`` cue shows the artefacts of ``artefact_kind``
    (:data:`deepfake_ensemble.ingest.demo.swap.ARTEFACT_KINDS`).

    The swapped face blinks when the fake lacks the ``no_blink`` cue, with the
    lids of the scene's blink schedule (a face swap follows the expressions of
    the video it is made from; a real clip that does not blink, a confounder,
    still has a schedule that its fakes follow)."""
    frng = np.random.default_rng([seed, 1, j])
    source = pick_source(frng, candidates, scene.identity)
    if flags["artefacts"]:
        params = ARTEFACT_KINDS[artefact_kind](frng, source, (seed, 4, j))
    else:
        params = clean_params(source, (seed, 4, j))
    blinks = not flags["no_blink"]
    params.closure = scene.closure if blinks else None
    fake = [swap_face(scene, k, base[k], params) for k in range(len(base))]
    write_video([to_uint8(f) for f in fake], path, fps, crf)
    return dict(
        name=name or path.name,
        label="FAKE",
        original=original,
        identity=scene.identity.name,
        person=scene.identity.person,
        n_frames=len(base),
        blinks=len(scene.blink_starts) if blinks else 0,
        source_identity=source.name,
        source_person=source.person,
        blink_frames=_blink_frames(scene.closure) if blinks else "",
        group=scene.identity.name,
        artefacts=flags["artefacts"],
        no_blink=flags["no_blink"],
        low_quality=False,
        crf=crf,
    )


def _write_metadata(out_dir: Path, rows: list[dict]) -> None:
    """Remove videos of an earlier, larger run, then write metadata.json."""
    metadata = {
        row["name"]: {
            "label": row["label"],
            "split": "train",
            "original": row["original"],
            "group": row["group"],
            "cues": {cue: bool(row[cue]) for cue in CUES},
            "crf": int(row["crf"]),
            "shut_frames": [int(k) for k in row["blink_frames"].split()],
        }
        for row in rows
    }
    # files of an earlier, larger run would otherwise linger beside the new ones
    for path in out_dir.iterdir():
        if _NAME.match(path.name) and path.name not in metadata:
            path.unlink()
    write_json(dict(sorted(metadata.items())), out_dir / "metadata.json")


def _write_csv_index(out_dir: Path, rows: list[dict]) -> None:
    """Remove videos of an earlier, larger run, then write videos.csv (the
    ``csv`` layout: paths relative to ``out_dir``, labels, groups, originals)."""
    table = pd.DataFrame(
        {
            "path": [row["name"] for row in rows],
            "label": [row["label"].lower() for row in rows],
            "group": [row["group"] for row in rows],
            "original": [row["original"] or "" for row in rows],
        }
    ).sort_values("path", kind="mergesort")
    listed = set(table["path"])
    for sub in ("real", "fake"):
        folder = out_dir / sub
        for path in folder.iterdir() if folder.is_dir() else ():
            if _NAME.match(path.name) and f"{sub}/{path.name}" not in listed:
                path.unlink()
    write_csv(table, out_dir / DEMO_LAYOUTS["csv"])


def cue_table(videos: pd.DataFrame, dataset: str = "demo") -> pd.DataFrame:
    """The tidy per-video cue table: ``video_id`` as the manifest names the
    video (``<dataset>/<file without extension>``), ``label`` (0 real, 1 fake),
    one boolean column per cue (:data:`CUES`), ``crf``, and the photographed
    people behind the video (``person``: of the scene, ``source_person``: of
    the face shown; synthetic identities that are variants of one person
    share it); sorted by id."""
    table = pd.DataFrame(
        {
            "video_id": [
                f"{dataset}/{Path(n).with_suffix('').as_posix()}"
                for n in videos["name"]
            ],
            "label": (videos["label"] == "FAKE").astype(int),
            **{cue: videos[cue].astype(bool) for cue in CUES},
            "crf": videos["crf"].astype(int),
            "person": videos["person"].astype(str),
            "source_person": videos["source_person"].astype(str),
        }
    )
    return table.sort_values("video_id", kind="mergesort").reset_index(drop=True)


@dataclass(frozen=True)
class _Plan:
    """What every scene task needs: identities, cue draws, names, settings."""

    out_dir: Path
    identities: list[Identity]
    candidates: Any
    order: list[int]
    fakes_of: dict[int, list[int]]
    real_lq: np.ndarray
    real_nob: np.ndarray
    fake_art: np.ndarray
    fake_nob: np.ndarray
    folders: dict[str, str]
    seed: int
    n_frames: int
    fps: float
    size: int
    crf_range: tuple[int, int]
    artefact_kind: str


def _write_scene(plan: _Plan, i: int) -> list[dict]:
    """Real clip ``i`` and the fakes made from its scene: their rows."""
    seed = plan.seed
    rng = np.random.default_rng([seed, 0, i])
    scene = make_scene(
        rng,
        plan.identities[plan.order[i]],
        plan.n_frames,
        plan.fps,
        plan.size,
        (seed, 2, i),
    )
    base = [render_frame(scene, k, 0.0) for k in range(plan.n_frames)]
    real_name = f"{plan.folders['real']}real_{i:04d}.mp4"
    flags = {"low_quality": bool(plan.real_lq[i]), "no_blink": bool(plan.real_nob[i])}
    rows = [
        _write_real(
            scene,
            base,
            plan.out_dir / real_name,
            plan.fps,
            _crf(seed, 0, i, plan.crf_range),
            flags,
            np.random.default_rng([seed, 8, i]),
            name=real_name,
        )
    ]
    for j in plan.fakes_of.get(i, []):
        flags = {
            "artefacts": bool(plan.fake_art[j]),
            "no_blink": bool(plan.fake_nob[j]),
        }
        fake_name = f"{plan.folders['fake']}fake_{j:04d}.mp4"
        rows.append(
            _write_fake(
                scene,
                base,
                plan.candidates,
                seed,
                j,
                real_name,
                plan.out_dir / fake_name,
                plan.fps,
                _crf(seed, 1, j, plan.crf_range),
                flags,
                artefact_kind=plan.artefact_kind,
                name=fake_name,
            )
        )
    return rows


def _map_scenes(plan: _Plan, n_real: int, workers: int):
    """Rows of every scene, in index order, from ``workers`` threads."""
    if workers <= 1:
        for i in range(n_real):
            yield _write_scene(plan, i)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(partial(_write_scene, plan), range(n_real))


def generate_demo_dataset(
    out_dir: str | os.PathLike,
    wheel_path: str | os.PathLike,
    n_real: int = DEFAULTS["demo.n_real"],
    n_fake: int = DEFAULTS["demo.n_fake"],
    duration_s: float = DEFAULTS["demo.duration_s"],
    fps: float = DEFAULTS["demo.fps"],
    size: int = DEFAULTS["demo.size"],
    seed: int = DEFAULTS["demo.seed"],
    identity_variants: int = DEFAULTS["demo.identity_variants"],
    cues: Mapping[str, Any] | None = None,
    confounders: Mapping[str, Any] | None = None,
    crf: tuple[int, int] | list[int] = DEFAULT_CRF,
    progress: bool = True,
    first_variant: int = DEFAULTS["demo.first_variant"],
    artefact_kind: str = DEFAULTS["demo.artefact_kind"],
    layout: str = "dfdc",
    workers: int = 1,
) -> pd.DataFrame:
    """Write the demo dataset to ``out_dir`` and describe it.

    ``cues`` gives the shares of the fakes that carry each cue (``artefacts``,
    ``no_blink``) and how they overlap (:func:`assign_fake_cues`);
    ``confounders`` the shares of the real videos that never blink
    (``no_blink``) or are low-quality uploads (``low_quality``), chosen
    independently; ``crf`` the range of the per-video H.264 compression.
    Missing keys take :data:`DEFAULT_CUES` and :data:`DEFAULT_CONFOUNDERS`.

    A second demo dataset made another way (``evaluation.protocol:
    cross_dataset``): ``first_variant`` is the first synthetic identity
    variant it uses (variants ``first_variant`` to ``first_variant +
    identity_variants - 1`` of the eight people, so two datasets with
    disjoint ranges share no identity), ``artefact_kind`` what its
    ``artefacts`` cue looks like (``warp`` or ``colour``,
    :data:`deepfake_ensemble.ingest.demo.swap.ARTEFACT_KINDS`) and ``layout`` how it
    is written (:data:`deepfake_ensemble.layout.DEMO_LAYOUTS`: ``dfdc``, or
    ``csv`` with the videos in ``real/`` and ``fake/``).

    ``workers`` threads write the videos (each real clip with its fakes is
    one task, seeded by its index alone; numpy, OpenCV and the encoder
    release the GIL), so the files are the same for any number of workers.

    Returns one row per video (``name``: its path relative to ``out_dir``)
    with columns ``name, label, original, identity, person, n_frames, blinks,
    source_identity, source_person, blink_frames, group, artefacts, no_blink,
    low_quality, crf``: ``identity`` is the person of the scene (for a
    fake, the person of its original) and ``group`` the same (the split keeps an
    identity's videos together), ``source_identity`` the face shown (for a fake,
    the person swapped in), ``person`` and ``source_person`` the photographed
    people those synthetic identities are variants of, ``blink_frames`` the
    frame indices with the lids fully shut (space-separated; a half-closed
    frame comes before and after each blink), then the cue flags and the
    constant rate factor.
    """
    n_frames = int(round(duration_s * fps))
    _check_args(n_real, n_fake, n_frames, duration_s, fps, size)
    cue_cfg, conf_cfg, crf_range = _check_cues(cues, confounders, crf)
    if artefact_kind not in ARTEFACT_KINDS:
        raise InputError(
            f"demo: artefact_kind must be one of {', '.join(ARTEFACT_KINDS)} "
            f"(got {artefact_kind!r})"
        )
    if layout not in DEMO_LAYOUTS:
        raise InputError(
            f"demo: layout must be one of {', '.join(DEMO_LAYOUTS)} (got {layout!r})"
        )
    if first_variant < 0 or first_variant + identity_variants > MAX_VARIANTS:
        raise InputError(
            f"demo: variants {first_variant} to "
            f"{first_variant + identity_variants - 1} (first_variant, "
            f"identity_variants) must lie within 0 to {MAX_VARIANTS - 1}"
        )
    identities = load_identities(wheel_path, first_variant + identity_variants)
    per_variant = len(identities) // (first_variant + identity_variants)
    identities = identities[first_variant * per_variant :]
    candidates = source_candidates(identities)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # an interrupted run must not leave a finished-looking dataset behind
    (out_dir / DEMO_LAYOUTS[layout]).unlink(missing_ok=True)
    folders = {"real": "", "fake": ""}
    if layout == "csv":
        folders = {"real": "real/", "fake": "fake/"}
        for sub in folders.values():
            (out_dir / sub).mkdir(exist_ok=True)
    order = _identity_order(seed, n_real, len(identities))
    fakes_of = _fakes_of(n_real, n_fake)
    # cues and confounders spread evenly over the identity groups
    real_group = np.asarray(order[:n_real])
    fake_group = np.empty(n_fake, int)
    for i, fakes in fakes_of.items():
        fake_group[fakes] = real_group[i]
    fake_art, fake_nob = assign_fake_cues(
        n_fake,
        cue_cfg["artefacts"],
        cue_cfg["no_blink"],
        cue_cfg["overlap"],
        np.random.default_rng([seed, 5]),
        strata=fake_group,
    )
    real_lq = _chosen(
        n_real, conf_cfg["low_quality"], np.random.default_rng([seed, 6]), real_group
    )
    real_nob = _chosen(
        n_real, conf_cfg["no_blink"], np.random.default_rng([seed, 7]), real_group
    )
    plan = _Plan(
        out_dir=out_dir,
        identities=identities,
        candidates=candidates,
        order=order,
        fakes_of=fakes_of,
        real_lq=real_lq,
        real_nob=real_nob,
        fake_art=fake_art,
        fake_nob=fake_nob,
        folders=folders,
        seed=seed,
        n_frames=n_frames,
        fps=fps,
        size=size,
        crf_range=crf_range,
        artefact_kind=artefact_kind,
    )
    rows: list[dict] = []
    bar = tqdm(
        total=n_real + n_fake,
        desc="demo videos",
        unit="video",
        disable=None if progress else True,
    )
    for written in _map_scenes(plan, n_real, workers):
        rows += written
        bar.update(len(written))
    bar.close()
    if layout == "csv":
        _write_csv_index(out_dir, rows)
    else:
        _write_metadata(out_dir, rows)
    df = pd.DataFrame(rows)
    df = df.sort_values(["label", "name"], ascending=[False, True])
    return df.reset_index(drop=True)
