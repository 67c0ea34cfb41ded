"""The model bundle: its manifest is checked before anything is read, a
changed, missing or unlisted file is an error naming it, and the exported
demo bundle holds the members, the fitted ensembles, the preprocessing, the
versions and a model card, all loadable without pickled code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import torch

from deepfake_ensemble.bundle.archive import (
    CARD_JSON,
    CARD_MD,
    INDEX_NAME,
    MANIFEST_NAME,
    git_commit,
    read_bundle,
    verify_bundle,
    write_manifest,
)
from deepfake_ensemble.errors import InputError
from deepfake_ensemble.layout import ENSEMBLES
from deepfake_ensemble.preprocess.pipeline import PreprocessConfig
from deepfake_ensemble.train.predict import load_checkpoint

CLI = Path(sys.executable).parent / "deepfake-ensemble"


def small_bundle(root: Path) -> Path:
    """A folder of a few files and its manifest."""
    (root / "models").mkdir(parents=True)
    (root / "models" / "a.pt").write_bytes(bytes(range(256)) * 8)
    (root / "ensembles").mkdir()
    (root / "ensembles" / "e.json").write_text('{"members": ["a"]}\n')
    (root / "model_card.md").write_text("# card\n")
    write_manifest(root)
    return root


def test_manifest_lists_every_file_with_its_sha256(tmp_path):
    root = small_bundle(tmp_path / "b")
    # Snakemake's empty timestamp of a directory output is let be, unlisted
    (root / ".snakemake_timestamp").write_bytes(b"")
    manifest = json.loads((root / MANIFEST_NAME).read_text())
    assert set(manifest["files"]) == {
        "models/a.pt",
        "ensembles/e.json",
        "model_card.md",
    }
    import hashlib

    expected = hashlib.sha256((root / "models/a.pt").read_bytes()).hexdigest()
    assert manifest["files"]["models/a.pt"]["sha256"] == expected
    assert verify_bundle(root) == manifest


def test_one_changed_byte_is_an_error_naming_the_file(tmp_path):
    root = small_bundle(tmp_path / "b")
    data = bytearray((root / "models/a.pt").read_bytes())
    data[1000] ^= 0x01  # same size, one bit different
    (root / "models/a.pt").write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"models/a\.pt has changed \(SHA-256"):
        verify_bundle(root)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("no manifest", r"no manifest\.json"),
        ("missing file", r"ensembles/e\.json is missing"),
        ("unlisted file", r"models/extra\.pt is not in the manifest"),
        ("escaping name", r"'\.\./outside' points outside the bundle"),
        ("truncated", r"models/a\.pt has changed \(2047 bytes"),
        ("not a manifest", r"not a bundle manifest"),
    ],
)
def test_a_damaged_bundle_is_an_error_naming_what(tmp_path, damage, message):
    root = small_bundle(tmp_path / "b")
    manifest = json.loads((root / MANIFEST_NAME).read_text())
    if damage == "no manifest":
        (root / MANIFEST_NAME).unlink()
    elif damage == "missing file":
        (root / "ensembles/e.json").unlink()
    elif damage == "unlisted file":
        (root / "models/extra.pt").write_bytes(b"x")
    elif damage == "escaping name":
        manifest["files"]["../outside"] = {"sha256": "0" * 64, "bytes": 1}
        (root / MANIFEST_NAME).write_text(json.dumps(manifest))
    elif damage == "truncated":
        (root / "models/a.pt").write_bytes((root / "models/a.pt").read_bytes()[:-1])
    elif damage == "not a manifest":
        (root / MANIFEST_NAME).write_text("[1, 2]")
    with pytest.raises(InputError, match=message):
        verify_bundle(root)


@pytest.mark.parametrize("hidden", ["models/.extra.pt", ".extra.json"])
def test_a_hidden_unlisted_file_is_refused_naming_it(tmp_path, hidden):
    """A hidden file is no exception: unlisted, it is refused like any other
    (in one line, by ``verify_bundle`` and by ``deepfake-ensemble verify``)."""
    root = small_bundle(tmp_path / "b")
    (root / ".snakemake_timestamp").write_bytes(b"")  # Snakemake's: let be
    assert verify_bundle(root)
    (root / hidden).write_bytes(b"x")
    message = f"bundle {root}: {hidden} is not in the manifest (1 unlisted file(s))"
    with pytest.raises(InputError) as caught:
        verify_bundle(root)
    assert str(caught.value) == message
    result = run_cli("verify", str(root), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [f"error: {message}"]


def test_only_snakemakes_empty_timestamp_is_let_be(tmp_path):
    """``.snakemake_timestamp`` with content, or below the top, is unlisted."""
    root = small_bundle(tmp_path / "b")
    (root / ".snakemake_timestamp").write_bytes(b"data")
    with pytest.raises(InputError, match=r": \.snakemake_timestamp is not in the"):
        verify_bundle(root)
    (root / ".snakemake_timestamp").write_bytes(b"")
    (root / "models" / ".snakemake_timestamp").write_bytes(b"")
    with pytest.raises(InputError, match=r"models/\.snakemake_timestamp is not in"):
        verify_bundle(root)


def test_a_manifest_lists_no_hidden_file(tmp_path):
    """The export writes no hidden file into a bundle (its atomic writes'
    temporary files are gone once written): one there is refused, not listed
    into a manifest that would then not verify."""
    from deepfake_ensemble.io import write_json, write_text

    root = small_bundle(tmp_path / "b")
    write_json({"members": ["a"]}, root / "ensembles" / "f.json")
    write_text("# card\n", root / CARD_MD)
    assert not list(root.rglob(".*"))
    assert "ensembles/f.json" in write_manifest(root)["files"]
    verify_bundle(root)
    (root / "models" / ".extra.pt").write_bytes(b"x")
    with pytest.raises(InputError, match=r"models/\.extra\.pt is a hidden file"):
        write_manifest(root)


def test_git_commit_is_the_checkouts_head_or_unknown(tmp_path):
    commit = git_commit()
    assert commit == "unknown" or len(commit) == 40
    assert git_commit(tmp_path) == "unknown"


# ------------------------------------------------------ the demo's bundle


@pytest.fixture(scope="module")
def demo_bundle(local_ci_run) -> Path:
    return local_ci_run / "results" / "bundle"


@pytest.mark.slow
def test_the_workflow_exports_a_checked_bundle(local_ci_run, demo_bundle):
    res = local_ci_run / "results"
    bundle = read_bundle(demo_bundle)
    manifest = bundle.manifest["files"]
    members = ["capsule", "dsp_fwa", "ictu_oculi", "xception"]
    assert bundle.members == members
    assert set(bundle.ensembles) == set(ENSEMBLES)
    assert {INDEX_NAME, CARD_MD, CARD_JSON} <= set(manifest)
    # members: weights only, nothing pickled, the trained weights
    for model in members:
        path = bundle.checkpoint(model)
        assert path.relative_to(demo_bundle).as_posix() in manifest
        slim = torch.load(path, map_location="cpu", weights_only=True)
        assert "optimizer" not in slim and slim["model_name"] == model
        best = torch.load(
            res / f"models/pooled/{model}/best.pt",
            map_location="cpu",
            weights_only=True,
        )
        assert slim["model"].keys() == best["model"].keys()
        assert all(
            torch.equal(slim["model"][k], best["model"][k]) for k in best["model"]
        )
        detector, spec, _ = load_checkpoint(path)
        assert spec.name == model
        metrics = json.loads((res / f"metrics/pooled/pooled/{model}.json").read_text())
        assert (
            bundle.member_threshold(model)
            == (metrics["test"]["at_val_threshold"]["val_threshold"])
        )
    # ensembles: fitted parameters as plain JSON, validation thresholds
    for name, ens in bundle.ensembles.items():
        method = ens["method"]
        assert ens["members"] and set(ens["members"]) <= set(members)
        assert set(ens["thresholds"]) == {"frame", "video"}
        metrics = json.loads(
            (res / f"ensembles/pooled/{name}/test/pooled/metrics.json").read_text()
        )
        assert (
            ens["thresholds"]["frame"] == metrics["at_val_threshold"]["val_threshold"]
        )
        if method == "soft":
            assert set(ens["weights"]["frame"]) == set(ens["members"])
        if method == "stacked":
            assert set(ens["meta"]["video"]["coef"]) == set(ens["members"])
        if method == "hard_calibrated":
            cals = ens["meta"]["calibrators"]["frame"]
            assert len(cals) == len(ens["members"]) and cals[0]["method"] == "platt"
        assert ens["val_fit"]
    # the preprocessing the members were trained on
    shards = res / "shards/demo/train"  # the CI run's one dataset, demo
    trained = json.loads((shards / "index.json").read_text())["config"]
    assert {k: bundle.preprocess[k] for k in trained} == trained
    PreprocessConfig.from_dict(bundle.preprocess)
    assert bundle.evaluation["no_face"] == "score"
    versions = bundle.index["versions"]
    assert versions["export"]["torch"] == metadata.version("torch")
    assert versions["preprocessing"]["dlib"]


@pytest.mark.slow
def test_the_model_card_says_what_was_trained_on_and_how_well(demo_bundle):
    card = json.loads((demo_bundle / CARD_JSON).read_text())
    md = (demo_bundle / CARD_MD).read_text()
    assert card["commit"] == "unknown" or len(card["commit"]) == 40
    assert card["created"][:2] == "20" and "T" in card["created"]
    data = card["training_data"]
    assert data["datasets"] == [{"name": "demo", "layout": "dfdc"}]
    assert data["split"]["split_by"] == "group"
    counts = {(r["split"], r["label"]): r["videos"] for r in data["counts"]}
    assert counts[("train", 0)] > 0 and counts[("test", 1)] > 0
    rows = {r["name"]: r for r in card["test_metrics"]}
    assert {"capsule", "all_soft", "all_soft@video"} <= set(rows)
    for row in rows.values():
        assert 0 <= row["video_auc"] <= 1
        assert row["video_auc_ci_lo"] <= row["video_auc"] <= row["video_auc_ci_hi"]
    for text in ("## Training data", "## Test metrics", "AUC [95% CI]", "commit"):
        assert text in md


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CLI), *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )


@pytest.mark.slow
def test_a_tampered_bundle_is_refused_naming_the_file(demo_bundle, tmp_path):
    """One byte changed in a bundled checkpoint; then no manifest at all."""
    copy = tmp_path / "bundle"
    shutil.copytree(demo_bundle, copy)
    video = tmp_path / "v.mp4"
    video.write_bytes(b"")
    assert run_cli("verify", str(copy), cwd=tmp_path).returncode == 0
    ckpt = copy / "models" / "capsule.pt"
    data = bytearray(ckpt.read_bytes())
    data[len(data) // 2] ^= 0xFF
    ckpt.write_bytes(bytes(data))
    for args in (("verify", str(copy)), ("score", "--bundle", str(copy), str(video))):
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert lines[-1].startswith("error: ") and "models/capsule.pt" in lines[-1]
        assert "has changed" in lines[-1] and "Traceback" not in result.stderr
    os.remove(copy / MANIFEST_NAME)
    result = run_cli("score", "--bundle", str(copy), str(video), cwd=tmp_path)
    assert result.returncode == 2
    assert "no manifest.json" in result.stderr and "Traceback" not in result.stderr


def test_an_older_bundle_keeps_the_preprocessing_it_was_trained_with():
    """``track_face_px`` became a setting (default 85) after tracked regions
    had been searched at 100 px: a bundle written before then scores new
    videos at 100 px, a newer one at what it recorded."""
    from deepfake_ensemble.bundle.archive import Bundle
    from deepfake_ensemble.preprocess.pipeline import PreprocessConfig

    older = Bundle(Path("."), {}, {"preprocess": {"detect_every": 5}})
    assert older.preprocess == {"detect_every": 5, "track_face_px": 100}
    assert PreprocessConfig.from_dict(older.preprocess).track_face_px == 100
    newer = Bundle(Path("."), {}, {"preprocess": {"track_face_px": 85}})
    assert newer.preprocess["track_face_px"] == 85
