"""The synthetic demo dataset: layout, decodable videos, faces, and the
generator's promises about its cues (no detector is trained here).

Each fake carries swap artefacts and/or no blinks, in the configured shares;
some reals are low-quality or do not blink (confounders). The tests check the
shares in the metadata, that a video without the no-blink cue does blink (the
eye region, located by dlib's landmarks, closes), that a clean swap is as sharp
as a real face while an artefact swap is not, that an oracle of either cue
separates fakes from reals better than an oracle of one cue, and that the
split keeps an identity's videos together.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import dlib
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from deepfake_ensemble.errors import InputError
from deepfake_ensemble.ingest.demo import (
    CUES,
    cue_table,
    face_model_path,
    generate_demo_dataset,
)
from deepfake_ensemble.ingest.demo.build import assign_fake_cues
from deepfake_ensemble.ingest.jobs import demo_dataset_name, generate_demo
from deepfake_ensemble.ingest.manifest import ingest_dataset

ROOT = Path(__file__).resolve().parents[1]
WHEEL = ROOT / "resources" / "demo" / "insightface-2.1-py3-none-any.whl"
N = 20  # real and fake videos each
PARAMS = dict(
    n_real=N,
    n_fake=N,
    duration_s=2.0,
    fps=10,
    size=160,
    seed=7,
    cues={"artefacts": 0.6, "no_blink": 0.6, "overlap": "minimal"},
    confounders={"low_quality": 0.15, "no_blink": 0.15},
)
N_FRAMES = 20
# landmarks that do not move when the eyes close (jaw, brows, nose, mouth)
STABLE = list(range(0, 36)) + list(range(48, 68))


def _wheel() -> Path:
    if not WHEEL.is_file():
        pytest.fail(
            f"{WHEEL} is missing: `make setup` fetches it (source of the demo "
            "face photos)"
        )
    return WHEEL


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    table = generate_demo_dataset(out, _wheel(), progress=False, **PARAMS)
    return out, table


def _decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.fixture(scope="module")
def face_tools():
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(face_model_path()))

    def landmarks(image: np.ndarray) -> np.ndarray | None:
        rects = detector(image, 1)
        if not rects:
            return None
        rect = max(rects, key=lambda r: r.width())
        shape = predictor(image, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32)

    return detector, landmarks


def test_layout_and_labels(demo):
    out, table = demo
    meta = json.loads((out / "metadata.json").read_text())
    assert len(meta) == 2 * N
    assert sorted(p.name for p in out.glob("*.mp4")) == sorted(meta)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    labels = {name: entry["label"] for name, entry in meta.items()}
    assert sorted(labels.values()) == ["FAKE"] * N + ["REAL"] * N
    for entry in meta.values():
        assert entry["split"] == "train"
        assert set(entry["cues"]) == set(CUES)
        assert 18 <= entry["crf"] <= 28
        # frames with the lids shut: none for a video with the no-blink cue
        assert bool(entry["shut_frames"]) != entry["cues"]["no_blink"]
        if entry["label"] == "REAL":
            assert entry["original"] is None
            assert entry["cues"]["artefacts"] is False
        else:
            assert (out / entry["original"]).is_file()
            assert meta[entry["original"]]["label"] == "REAL"
            # a fake belongs to the identity group of the video it was made from
            assert entry["group"] == meta[entry["original"]]["group"]
            assert entry["cues"]["low_quality"] is False
    assert list(table.columns) == [
        "name",
        "label",
        "original",
        "identity",
        "person",
        "n_frames",
        "blinks",
        "source_identity",
        "source_person",
        "blink_frames",
        "group",
        *CUES,
        "crf",
    ]
    assert set(table["name"]) == set(meta)
    assert len(set(table["crf"])) > 3  # compression varies between videos
    fakes = table[table["label"] == "FAKE"]
    # a fake shows another person's face on its original's scene
    assert (fakes["source_identity"] != fakes["identity"]).all()
    person = fakes["identity"].str.split("-v").str[0]
    assert (fakes["source_identity"].str.split("-v").str[0] != person).all()
    real_ids = table.set_index("name")["identity"]
    assert (
        fakes["identity"].to_numpy() == real_ids[fakes["original"]].to_numpy()
    ).all()
    # identities are the 8 photographed people in synthetic variants
    assert table["identity"].nunique() == N  # 48 identities, one per real here


def test_videos_decode_to_expected_frames(demo):
    out, table = demo
    for name in table["name"]:
        frames = _decode(out / name)
        assert len(frames) == N_FRAMES, name
        assert frames[0].shape == (160, 160, 3)
    with av.open(str(out / table["name"][0])) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.average_rate == 10


def test_faces_found_in_real_and_fake_frames(demo, face_tools):
    out, table = demo
    detector, _ = face_tools
    for label in ("REAL", "FAKE"):
        found = 0
        names = table.loc[table["label"] == label, "name"]
        for name in names:
            frames = _decode(out / name)
            found += sum(len(detector(frames[k], 1)) > 0 for k in (0, 10, 19))
        assert found >= 0.8 * 3 * len(names), label


def test_fakes_differ_from_original_in_face_only(demo, face_tools):
    out, table = demo
    _, landmarks = face_tools
    t = table.set_index("name")
    for _, row in table[table["label"] == "FAKE"].iterrows():
        if t.loc[row["original"], "low_quality"]:
            continue  # the whole original is degraded, its fakes are not
        fake = _decode(out / row["name"])
        real = _decode(out / row["original"])
        closed = {int(k) for k in t.loc[row["original"], "blink_frames"].split()}
        open_frames = [
            i for i in range(N_FRAMES) if all(abs(i - c) > 1 for c in closed)
        ]
        k, pts = next(
            (i, p) for i in open_frames if (p := landmarks(real[i])) is not None
        )
        face = np.zeros((160, 160), np.uint8)
        hull = cv2.convexHull(pts[:27]).astype(np.int32)
        cv2.fillConvexPoly(face, hull, 1)
        inner = cv2.erode(face, np.ones((7, 7), np.uint8)) > 0
        outer = cv2.dilate(face, np.ones((31, 31), np.uint8)) == 0
        diff = np.abs(fake[k].astype(np.float32) - real[k]).mean(axis=-1)
        assert diff[inner].mean() > 12, row["name"]
        assert diff[outer].mean() < 3, row["name"]


# --------------------------------------------------------------------------
# the cues


def test_cue_shares_match_the_configuration(demo):
    out, _ = demo
    meta = json.loads((out / "metadata.json").read_text())
    cues = pd.DataFrame(
        [{"label": e["label"], **e["cues"]} for e in meta.values()]
    ).astype({c: bool for c in CUES})
    fakes, reals = cues[cues["label"] == "FAKE"], cues[cues["label"] == "REAL"]
    # exactly round(share * n) videos carry each cue
    assert fakes["artefacts"].sum() == 12 and fakes["no_blink"].sum() == 12
    assert reals["low_quality"].sum() == 3 and reals["no_blink"].sum() == 3
    # minimal overlap: every fake keeps at least one cue, 20% carry both
    assert (fakes["artefacts"] | fakes["no_blink"]).all()
    assert (fakes["artefacts"] & fakes["no_blink"]).sum() == 4
    assert not reals["artefacts"].any() and not fakes["low_quality"].any()


@pytest.mark.parametrize(
    "artefacts, no_blink, overlap, both, none",
    [
        (0.6, 0.6, "minimal", 0.2, 0.0),
        (0.3, 0.5, "minimal", 0.0, 0.2),
        (0.6, 0.6, "independent", 0.36, 0.16),
    ],
)
def test_cue_assignment_shares(artefacts, no_blink, overlap, both, none):
    n = 2000
    art, nob = assign_fake_cues(
        n, artefacts, no_blink, overlap, np.random.default_rng(0)
    )
    assert art.mean() == artefacts and nob.mean() == no_blink
    # independent draws: the overlap within binomial noise (sd about 0.011)
    tol = 0.04 if overlap == "independent" else 0.0
    assert abs((art & nob).mean() - both) <= tol
    assert abs((~art & ~nob).mean() - none) <= tol
    # spread over strata (identity groups of 5 fakes): each gets its share
    strata = np.arange(n) // 5
    art, nob = assign_fake_cues(
        n, artefacts, no_blink, overlap, np.random.default_rng(1), strata
    )
    assert art.mean() == artefacts and nob.mean() == no_blink
    for flags, share in ((art, artefacts), (nob, no_blink)):
        per_group = np.bincount(strata, weights=flags)
        assert (np.abs(per_group - 5 * share) < 1).all()


def _eye_change(a: np.ndarray, b: np.ndarray, landmarks) -> float:
    """How much more the eyes than the rest of the face differ between two
    frames, after aligning ``b`` onto ``a`` with the landmarks that do not move
    with the eyelids (so head motion cancels out); nan without a face."""
    la, lb = landmarks(a), landmarks(b)
    if la is None or lb is None:
        return float("nan")
    m, _ = cv2.estimateAffinePartial2D(lb[STABLE], la[STABLE], method=cv2.LMEDS)
    warped = cv2.warpAffine(b, m, a.shape[1::-1]).astype(np.float32)
    diff = np.abs(a.astype(np.float32) - warped).mean(axis=-1)
    eyes = np.zeros(a.shape[:2], np.uint8)
    for start in (36, 42):
        eye = la[start : start + 6]
        width = eye[3, 0] - eye[0, 0]
        cy = eye[:, 1].mean()
        top_left = (int(eye[0, 0]), int(cy - 0.25 * width))
        bottom_right = (int(eye[3, 0]), int(cy + 0.25 * width))
        cv2.rectangle(eyes, top_left, bottom_right, 1, -1)
    face = np.zeros(a.shape[:2], np.uint8)
    hull = cv2.convexHull(la[:27]).astype(np.int32)
    cv2.fillConvexPoly(face, hull, 1)
    rest = (face > 0) & (eyes == 0)
    return float(diff[eyes > 0].mean() / diff[rest].mean())


def _blink_changes(frames, closed: list[int], landmarks) -> tuple[float, float]:
    """Eye change between a shut frame and the nearest open frame, and between
    that open frame and the next open one (head motion only)."""
    shut = closed[len(closed) // 2]
    open_frames = [k for k in range(len(frames)) if all(abs(k - c) > 1 for c in closed)]
    ref = min(open_frames, key=lambda k: abs(k - shut))
    other = min((k for k in open_frames if k != ref), key=lambda k: abs(k - ref))
    return (
        _eye_change(frames[ref], frames[shut], landmarks),
        _eye_change(frames[ref], frames[other], landmarks),
    )


def _frames_of(table: pd.DataFrame) -> pd.Series:
    return table.set_index("name")["blink_frames"]


def test_videos_without_the_blink_cue_blink(demo, face_tools):
    """Every video that is not marked ``no_blink`` (reals and fakes) closes its
    lids in at least one frame, seen at the eyes found by dlib's landmarks.
    The measure is that of an imperfect landmark detector: the blur of a
    low-quality real hides the lids from it (those are checked from the
    metadata only), and one blurred, jittering artefact swap in ten may fall
    short of the threshold."""
    out, table = demo
    _, landmarks = face_tools
    blinking = table[~table["no_blink"]]
    assert (blinking["blinks"] >= 1).all()
    assert (table.loc[table["no_blink"], "blinks"] == 0).all()
    assert (table.loc[table["no_blink"], "blink_frames"] == "").all()
    assert set(blinking["label"]) == {"REAL", "FAKE"}
    blinks, stills = [], []
    for _, row in blinking[~blinking["low_quality"]].iterrows():
        closed = [int(k) for k in row["blink_frames"].split()]
        assert closed and max(closed) < N_FRAMES
        blink, still = _blink_changes(_decode(out / row["name"]), closed, landmarks)
        blinks.append(blink)
        stills.append(still)
    blinks = np.asarray(blinks)
    assert np.isfinite(blinks).mean() >= 0.8  # dlib finds most faces
    # the lids change the eyes far more than head motion does
    assert np.mean(blinks[np.isfinite(blinks)] > 3.0) >= 0.9, blinks
    assert np.nanmedian(blinks) > 2 * np.nanmedian(stills)


def test_fakes_with_the_blink_cue_keep_their_eyes_open(demo, face_tools):
    """A ``no_blink`` fake shows open eyes where its original blinks."""
    out, table = demo
    _, landmarks = face_tools
    frames_of = _frames_of(table)
    changes = []
    for _, row in table[(table["label"] == "FAKE") & table["no_blink"]].iterrows():
        closed = frames_of[row["original"]]
        if not closed:  # the original does not blink either
            continue
        closed = [int(k) for k in closed.split()]
        frames = _decode(out / row["name"])
        changes.append(_blink_changes(frames, closed, landmarks)[0])
    changes = np.asarray(changes)
    assert np.isfinite(changes).sum() >= 5
    assert np.mean(changes[np.isfinite(changes)] < 3.0) >= 0.8, changes
    assert np.nanmedian(changes) < 2.5


def _face_sharpness(frames: list[np.ndarray], landmarks) -> float:
    """Variance of the Laplacian inside the face (landmark hull, eroded)
    relative to the variance of its grey levels (so that a darker or flatter
    face is not taken for a blurred one), averaged over three frames; nan
    without a face."""
    values = []
    for k in (0, len(frames) // 2, len(frames) - 1):
        pts = landmarks(frames[k])
        if pts is None:
            continue
        mask = np.zeros(frames[k].shape[:2], np.uint8)
        cv2.fillConvexPoly(mask, cv2.convexHull(pts[:27]).astype(np.int32), 1)
        mask = cv2.erode(mask, np.ones((5, 5), np.uint8))
        grey = cv2.cvtColor(frames[k], cv2.COLOR_RGB2GRAY).astype(np.float64)
        laplacian = cv2.Laplacian(grey, cv2.CV_64F)[mask > 0]
        values.append(laplacian.var() / grey[mask > 0].var())
    return float(np.mean(values)) if values else float("nan")


def test_clean_swaps_are_as_sharp_as_real_faces(demo, face_tools):
    out, table = demo
    _, landmarks = face_tools
    sharp = pd.Series(
        {
            name: _face_sharpness(_decode(out / name), landmarks)
            for name in table["name"]
        }
    )
    t = table.set_index("name")
    log_median = {}
    for kind, where in {
        "real": (t["label"] == "REAL") & ~t["low_quality"],
        "low_quality": t["low_quality"],
        "clean": (t["label"] == "FAKE") & ~t["artefacts"],
        "artefacts": t["artefacts"],
    }.items():
        values = sharp[where[where].index].dropna()
        assert len(values) >= 3, kind
        log_median[kind] = float(np.log(values.median()))
    # a clean swap: within a factor 1.5 of the real faces' sharpness
    assert abs(log_median["clean"] - log_median["real"]) < np.log(1.5)
    # resolution loss: less than half as sharp (and so are low-quality reals)
    assert log_median["artefacts"] < log_median["real"] - np.log(2)
    assert log_median["low_quality"] < log_median["real"] - np.log(2)


def test_either_cue_oracle_beats_single_cue_oracles(demo):
    """An oracle flagging what a detector of each cue sees: blur (artefact
    fakes and low-quality reals) or no blinks (fakes and reals)."""
    out, _ = demo
    meta = json.loads((out / "metadata.json").read_text())
    label = np.array([e["label"] == "FAKE" for e in meta.values()], int)
    cues = pd.DataFrame([e["cues"] for e in meta.values()]).astype(bool)
    blur = (cues["artefacts"] | cues["low_quality"]).to_numpy(int)
    no_blink = cues["no_blink"].to_numpy(int)
    either = blur | no_blink
    auc = {
        "blur": roc_auc_score(label, blur),
        "no_blink": roc_auc_score(label, no_blink),
        "either": roc_auc_score(label, either),
    }
    assert auc["either"] > max(auc["blur"], auc["no_blink"]) + 0.05, auc
    # and without the confounders: every fake is caught by one of the cues
    fake_cue = (cues["artefacts"] | cues["no_blink"]) & (label == 1)
    assert roc_auc_score(label, fake_cue.to_numpy(int)) == 1.0


def test_blinks_survive_the_demo_sampling_interval(demo):
    """At the demo's frame_interval_s every blinking video has a sampled frame
    with the lids shut (blinks last 0.2-0.4 s)."""
    _, table = demo
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    interval = config["preprocess"]["frame_interval_s"]
    fps = config["demo"]["fps"]
    sampled = {int(round(k * interval * fps)) for k in range(N_FRAMES)}
    for _, row in table[table["blinks"] > 0].iterrows():
        closed = {int(k) for k in row["blink_frames"].split()}
        assert closed & sampled, row["name"]


# --------------------------------------------------------------------------
# groups, the cue table and the rule's stage


def test_ingest_groups_by_identity_and_cue_table_ids_match(demo):
    out, table = demo
    manifest = ingest_dataset({"name": "demo", "layout": "dfdc", "root": str(out)})
    by_id = manifest.set_index("video_id")
    expected = table.set_index("demo/" + table["name"].str.removesuffix(".mp4"))[
        "identity"
    ]
    assert (by_id.loc[expected.index, "group"] == "demo/" + expected).all()
    assert manifest["group"].nunique() == table["identity"].nunique()
    cues = cue_table(table, "demo")
    assert list(cues.columns) == [
        "video_id",
        "label",
        *CUES,
        "crf",
        "person",
        "source_person",
    ]
    # a synthetic identity is a variant of a person; a fake shows another's face
    people = cues.merge(
        table.assign(video_id="demo/" + table["name"].str.removesuffix(".mp4")),
        on="video_id",
    )
    assert (people["identity"].str.split("-v").str[0] == people["person_x"]).all()
    fakes = people[people["label_x"] == 1]
    assert (fakes["person_x"] != fakes["source_person_x"]).all()
    assert cues["person"].nunique() < table["identity"].nunique()
    assert sorted(cues["video_id"]) == sorted(manifest["video_id"])
    merged = cues.merge(manifest, on="video_id", suffixes=("", "_manifest"))
    assert (merged["label"] == merged["label_manifest"]).all()


def test_dfdc_group_must_be_a_string(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"x")
    (tmp_path / "metadata.json").write_text(
        json.dumps({"a.mp4": {"label": "REAL", "group": 3}})
    )
    with pytest.raises(InputError, match="group 3"):
        ingest_dataset({"name": "d", "layout": "dfdc", "root": str(tmp_path)})


def test_stage_writes_cue_table(tmp_path):
    metadata = tmp_path / "demo" / "metadata.json"
    cues = tmp_path / "demo" / "cues.csv"
    datasets = [{"name": "synth", "layout": "dfdc", "root": str(metadata.parent)}]
    assert demo_dataset_name(datasets, metadata.parent) == "synth"
    assert demo_dataset_name([], metadata.parent) == "demo"
    demo_cfg = dict(n_real=2, n_fake=2, duration_s=0.5, fps=10, size=64, seed=3)
    generate_demo(_wheel(), metadata, demo_cfg, cues=cues, datasets=datasets)
    table = pd.read_csv(cues)
    assert sorted(table["video_id"]) == [
        "synth/fake_0000",
        "synth/fake_0001",
        "synth/real_0000",
        "synth/real_0001",
    ]
    assert table["label"].tolist() == [1, 1, 0, 0]
    assert metadata.is_file()


# --------------------------------------------------------------------------
# determinism and bad arguments


def test_same_seed_same_videos_for_any_workers_other_seed_differs(tmp_path):
    # both kinds of swap, a low-quality real and one that does not blink;
    # written by one process, then by two
    params = {
        **PARAMS,
        "n_real": 2,
        "n_fake": 2,
        "duration_s": 1.0,
        "confounders": {"low_quality": 0.5, "no_blink": 0.5},
    }
    first = generate_demo_dataset(tmp_path / "a", _wheel(), progress=False, **params)
    again = generate_demo_dataset(
        tmp_path / "b", _wheel(), progress=False, workers=2, **params
    )
    assert first.equals(again)
    assert first["artefacts"].sum() == 1 and first["low_quality"].sum() == 1
    names = sorted(first["name"]) + ["metadata.json"]
    for name in names:
        a, b = tmp_path / "a" / name, tmp_path / "b" / name
        assert a.read_bytes() == b.read_bytes(), name
    params["seed"] = 8
    generate_demo_dataset(tmp_path / "c", _wheel(), progress=False, **params)
    for name in first["name"]:
        frames = np.stack(_decode(tmp_path / "a" / name))
        other = np.stack(_decode(tmp_path / "c" / name))
        assert np.abs(frames.astype(np.int16) - other).mean() > 10, name


def test_missing_wheel_is_a_clear_error(tmp_path):
    missing = tmp_path / "nowhere" / "insightface-2.1-py3-none-any.whl"
    with pytest.raises(InputError, match="make setup") as err:
        generate_demo_dataset(tmp_path / "out", missing, n_real=1, n_fake=1)
    assert str(missing) in str(err.value)
    assert not (tmp_path / "out" / "metadata.json").exists()


def test_bad_size_rejected(tmp_path):
    with pytest.raises(InputError, match="size"):
        generate_demo_dataset(tmp_path, _wheel(), size=161)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"cues": {"artefacts": 1.5}}, "cues.artefacts"),
        ({"cues": {"overlap": "some"}}, "cues.overlap"),
        ({"cues": {"blur": 0.5}}, "unknown key 'blur'"),
        ({"confounders": {"no_blink": -0.1}}, "confounders.no_blink"),
        ({"crf": [30, 20]}, "crf"),
        ({"identity_variants": 13}, "identity_variants"),
    ],
)
def test_bad_cue_settings_rejected(tmp_path, kwargs, message):
    with pytest.raises(InputError, match=message):
        generate_demo_dataset(tmp_path, _wheel(), n_real=1, n_fake=1, **kwargs)
    assert not (tmp_path / "metadata.json").exists()
