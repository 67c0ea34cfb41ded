"""Fetching the pretrained backbones and starting training from them.

A test HTTP server on 127.0.0.1 (started here, nothing leaves the machine)
serves state dicts generated in torchvision's and timm's layouts; a catalogue
of their own (config key ``weights_catalog``) pins their hashes, as the
shipped catalogue pins the publishers'. Checked: the fetch rule downloads,
verifies, and downloads nothing the second time; a wrong hash and a stopped
server fail with one line naming the file or the URL and leave no file; a
``file://`` mirror works; training reads the fetched files (never the
network), loads every expected tensor, keeps a frozen stem as loaded, stores
the normalisation that follows from the weights, and prediction uses it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from conftest import ROOT, fixture_dir, snakemake
from test_train import TinyEyes, TinyFrames

import deepfake_ensemble.train.loop as train_module
from deepfake_ensemble.errors import InputError
from deepfake_ensemble.pretrained import WeightsFile, sha256_file
from deepfake_ensemble.train.fetch import fetch_file
from deepfake_ensemble.train.jobs import fetch_weights
from deepfake_ensemble.train.models import EYE_SEQUENCE, create_model
from deepfake_ensemble.train.models.weights import start_model
from deepfake_ensemble.train.predict import (
    frame_table,
    infer,
    load_checkpoint,
    predict_dataset,
)


class WeightsServer:
    """``http.server`` on 127.0.0.1 in a thread, serving ``root``; records
    the path of every GET. With ``cut_after`` it sends only that many bytes
    of a file and closes the connection; ``framing`` says what it announced
    first: ``length`` the whole file's Content-Length, ``chunked`` one chunk
    of the whole file's size, ``none`` nothing (the body ends at the close)."""

    def __init__(self, root: Path, cut_after: int | None = None, framing="length"):
        self.root = root
        self.requests: list[str] = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                server.requests.append(self.path)
                if cut_after is None:
                    super().do_GET()
                    return
                data = (server.root / self.path.lstrip("/")).read_bytes()
                self.close_connection = True
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                if framing == "length":
                    self.send_header("Content-Length", str(len(data)))
                elif framing == "chunked":
                    self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if framing == "chunked":
                    self.wfile.write(f"{len(data):x}\r\n".encode())
                self.wfile.write(data[:cut_after])
                self.wfile.flush()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
        )
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def stop(self) -> None:
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join()


@pytest.fixture
def server(tmp_path):
    srv = WeightsServer(tmp_path / "served")
    srv.root.mkdir()
    yield srv
    srv.stop()


def publish(root: Path, stem: str, state: dict, full_hash: bool = False) -> dict:
    """Save ``state`` as ``<stem>-<sha256 prefix>.pth`` in ``root`` (the
    torchvision naming) and return its catalogue entry (pinned: the prefix,
    or the full SHA-256)."""
    tmp = root / f"{stem}.tmp"
    torch.save(state, tmp)
    sha = sha256_file(tmp)
    name = f"{stem}-{sha[:8]}.pth"
    tmp.rename(root / name)
    return {
        "name": name,
        "url": "",
        "sha256": sha if full_hash else sha[:8],
        "full_sha256": sha,
    }


def small_files(root: Path, base_url: str) -> dict[str, dict]:
    """Two small files: torchvision VGG19 layout (pinned by prefix) and timm
    Xception layout (pinned by its full SHA-256)."""
    torch.manual_seed(0)
    vgg = {
        "features.0.weight": torch.randn(4, 3, 3, 3),
        "features.0.bias": torch.randn(4),
        "classifier.6.weight": torch.randn(10, 4),
    }
    xc = {"conv1.weight": torch.randn(4, 3, 3, 3), "fc.weight": torch.randn(10, 4)}
    files = {
        "capsule": {**publish(root, "vgg19", vgg), "normalisation": "imagenet"},
        "xception": {
            **publish(root, "xception", xc, full_hash=True),
            "normalisation": "half",
        },
    }
    for model, f in files.items():
        f["url"] = base_url + f["name"]
        f["models"] = [model]
        f["source"] = "generated for the test"
    return files


def write_catalog(path: Path, files: dict[str, dict]) -> Path:
    path.write_text(
        json.dumps(
            {
                f["name"]: {
                    k: f[k]
                    for k in ("url", "sha256", "models", "normalisation", "source")
                }
                for f in files.values()
            }
        )
    )
    return path


def no_leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*")) if folder.exists() else []


# -- the fetch function ------------------------------------------------------------
def test_fetch_downloads_verifies_and_never_twice(server, tmp_path):
    files = small_files(server.root, server.url)
    entry = WeightsFile.from_dict(files["capsule"]["name"], files["capsule"])
    dest = tmp_path / "weights" / entry.name
    first = fetch_file(entry, dest, progress=False)
    assert first["downloaded"] and server.requests == ["/" + entry.name]
    assert sha256_file(dest) == files["capsule"]["full_sha256"]
    again = fetch_file(entry, dest, progress=False)
    assert not again["downloaded"] and len(server.requests) == 1
    assert no_leftovers(dest.parent) == [entry.name]


def test_a_wrong_hash_fails_naming_file_and_both_hashes_and_leaves_nothing(
    server, tmp_path
):
    files = small_files(server.root, server.url)
    good = files["xception"]
    entry = WeightsFile.from_dict(good["name"], {**good, "sha256": "0" * 64})
    dest = tmp_path / "weights" / entry.name
    with pytest.raises(InputError) as err:
        fetch_file(entry, dest, progress=False)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{entry.name}: SHA-256 mismatch for {good['url']}")
    assert f"expected {'0' * 64}, got {good['full_sha256']}" in msg
    assert not dest.exists() and no_leftovers(dest.parent) == []


@pytest.fixture
def cut_server(request, tmp_path):
    """A server that sends 1000 bytes of a file, then closes the connection;
    ``request.param``: what it announced (see :class:`WeightsServer`)."""
    srv = WeightsServer(tmp_path / "served", cut_after=1000, framing=request.param)
    srv.root.mkdir()
    yield srv
    srv.stop()


@pytest.mark.parametrize("cut_server", ["length"], indirect=True)
def test_a_transfer_cut_short_of_its_content_length_says_so_and_leaves_nothing(
    cut_server, tmp_path
):
    files = small_files(cut_server.root, cut_server.url)
    good = files["xception"]
    size = (cut_server.root / good["name"]).stat().st_size
    assert size > 1000
    entry = WeightsFile.from_dict(good["name"], good)
    dest = tmp_path / "weights" / entry.name
    with pytest.raises(InputError) as err:
        fetch_file(entry, dest, progress=False)
    assert str(err.value) == (
        f"{entry.name}: the transfer from {good['url']} ended early: received "
        f"1000 of the {size} bytes announced (Content-Length); the partial "
        f"download was discarded, nothing was written to {dest}"
    )
    assert cut_server.requests == ["/" + entry.name]
    assert not dest.exists() and no_leftovers(dest.parent) == []


@pytest.mark.parametrize("cut_server", ["chunked"], indirect=True)
def test_a_chunk_cut_short_says_the_transfer_ended_early(cut_server, tmp_path):
    """No Content-Length, but the chunk's announced size is not met
    (``http.client.IncompleteRead``)."""
    files = small_files(cut_server.root, cut_server.url)
    entry = WeightsFile.from_dict(files["capsule"]["name"], files["capsule"])
    dest = tmp_path / "weights" / entry.name
    with pytest.raises(InputError) as err:
        fetch_file(entry, dest, progress=False)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(
        f"{entry.name}: the transfer from {files['capsule']['url']} ended early ("
    )
    assert "IncompleteRead" in msg
    assert "received 1000 bytes (no Content-Length announced)" in msg
    assert f"nothing was written to {dest}" in msg
    assert not dest.exists() and no_leftovers(dest.parent) == []


@pytest.mark.parametrize("cut_server", ["none"], indirect=True)
def test_without_a_content_length_the_hash_catches_a_short_transfer(
    cut_server, tmp_path
):
    files = small_files(cut_server.root, cut_server.url)
    good = files["xception"]
    entry = WeightsFile.from_dict(good["name"], good)
    dest = tmp_path / "weights" / entry.name
    with pytest.raises(InputError) as err:
        fetch_file(entry, dest, progress=False)
    msg = str(err.value)
    assert msg.startswith(f"{entry.name}: SHA-256 mismatch for {good['url']}")
    assert f"expected {good['full_sha256']}, got " in msg
    assert not dest.exists() and no_leftovers(dest.parent) == []


def test_no_network_fails_naming_the_url_and_the_mirror_key(server, tmp_path):
    files = small_files(server.root, server.url)
    entry = WeightsFile.from_dict(files["capsule"]["name"], files["capsule"])
    server.stop()
    dest = tmp_path / "weights" / entry.name
    with pytest.raises(InputError) as err:
        fetch_file(entry, dest, progress=False)
    msg = str(err.value)
    assert "\n" not in msg
    assert f"cannot fetch {entry.name} from {files['capsule']['url']}" in msg
    assert "set config key weights_mirror" in msg
    assert not dest.exists() and no_leftovers(dest.parent) == []


def test_a_file_mirror_replaces_the_url_base_and_keeps_the_pin(server, tmp_path):
    files = small_files(server.root, server.url)
    entry = WeightsFile.from_dict(
        files["capsule"]["name"],
        {
            **files["capsule"],
            "url": "https://unreachable.invalid/x/" + files["capsule"]["name"],
        },
    )
    dest = tmp_path / "weights" / entry.name
    result = fetch_file(entry, dest, mirror=server.root.as_uri(), progress=False)
    assert result["url"] == server.root.as_uri() + "/" + entry.name
    assert result["downloaded"] and server.requests == []
    # the pin is the catalogue's, whatever the mirror serves
    (server.root / "other").mkdir()
    (server.root / "other" / entry.name).write_bytes(b"something else")
    with pytest.raises(InputError, match="SHA-256 mismatch"):
        fetch_file(
            entry,
            tmp_path / "w2" / entry.name,
            mirror=(server.root / "other").as_uri(),
            progress=False,
        )


def test_fetch_weights_writes_full_checksums_and_refuses_a_changed_file(tmp_path):
    a = tmp_path / "a-00000000.pth"
    a.write_bytes(b"abc")
    sha = hashlib.sha256(b"abc").hexdigest()
    fetch_weights([a], {a.name: sha[:8]}, tmp_path / "SHA256SUMS")
    assert (tmp_path / "SHA256SUMS").read_text() == f"{sha}  {a.name}\n"
    with pytest.raises(InputError, match="is not the pinned 00000000"):
        fetch_weights([a], {a.name: "00000000"}, tmp_path / "S2")


# -- the fetch rule, as users run it ------------------------------------------------
def fetch_workdir(tmp_path: Path, files: dict, **extra) -> tuple[Path, Path]:
    workdir = tmp_path / "run"
    workdir.mkdir()
    catalog = write_catalog(tmp_path / "catalog.json", files)
    overlay = {
        "weights_catalog": str(catalog),
        "models": {
            model: {
                "weights": [f"resources/weights/{f['name']}"],
                "pretrained": "required",
            }
            for model, f in files.items()
        },
        **extra,
    }
    overlay["models"]["capsule"]["kwargs"] = {"freeze_stem": True}
    path = tmp_path / "overlay.yaml"
    path.write_text(yaml.safe_dump(overlay))
    return workdir, path


def test_fetch_rule_downloads_verifies_and_the_second_run_downloads_nothing(
    server, tmp_path
):
    files = small_files(server.root, server.url)
    workdir, overlay = fetch_workdir(tmp_path, files)
    first = snakemake(
        workdir, "fetch_weights", "--cores", "1", "--configfile", str(overlay)
    )
    assert sorted(server.requests) == sorted("/" + f["name"] for f in files.values())
    weights = workdir / "resources/weights"
    for f in files.values():
        assert sha256_file(weights / f["name"]) == f["full_sha256"]
    sums = (weights / "SHA256SUMS").read_text().splitlines()
    assert sorted(sums) == sorted(
        f"{f['full_sha256']}  {f['name']}" for f in files.values()
    )
    assert "fetch_weights_file" in first.stderr
    log = (
        workdir / f"results/logs/fetch_weights/{files['capsule']['name']}.log"
    ).read_text()
    assert "fetching " + files["capsule"]["url"] in log
    second = snakemake(
        workdir, "fetch_weights", "--cores", "1", "--configfile", str(overlay)
    )
    assert "Nothing to be done" in second.stdout + second.stderr
    assert len(server.requests) == len(files)


def test_fetch_rule_with_a_wrong_hash_fails_and_leaves_no_file(server, tmp_path):
    files = small_files(server.root, server.url)
    files["capsule"]["sha256"] = "deadbeef"
    workdir, overlay = fetch_workdir(tmp_path, files)
    result = snakemake(
        workdir,
        "fetch_weights",
        "--cores",
        "1",
        "--configfile",
        str(overlay),
        check=False,
    )
    assert result.returncode != 0
    name = files["capsule"]["name"]
    line = (
        f"error: {name}: SHA-256 mismatch for {files['capsule']['url']}: expected "
        f"deadbeef... (prefix), got {files['capsule']['full_sha256']}"
    )
    assert line in result.stderr, result.stderr[-3000:]
    assert not (workdir / "resources/weights" / name).exists()
    assert not list((workdir / "resources/weights").glob(name + "*"))


def test_fetch_rule_without_network_names_the_url_and_the_mirror_key(server, tmp_path):
    files = small_files(server.root, server.url)
    workdir, overlay = fetch_workdir(tmp_path, files)
    server.stop()
    result = snakemake(
        workdir,
        "fetch_weights",
        "--cores",
        "1",
        "--configfile",
        str(overlay),
        check=False,
    )
    assert result.returncode != 0
    for f in files.values():
        assert f"error: cannot fetch {f['name']} from {f['url']} (" in result.stderr
    assert "set config key weights_mirror to a mirror" in result.stderr


def test_fetch_rule_from_a_file_mirror(server, tmp_path):
    files = small_files(server.root, "https://unreachable.invalid/models/")
    workdir, overlay = fetch_workdir(
        tmp_path, files, weights_mirror=server.root.as_uri()
    )
    snakemake(workdir, "fetch_weights", "--cores", "1", "--configfile", str(overlay))
    for f in files.values():
        assert (
            sha256_file(workdir / "resources/weights" / f["name"]) == f["full_sha256"]
        )
    assert server.requests == []


# -- training from the fetched files ------------------------------------------------
def full_backbones(root: Path) -> dict[str, dict]:
    """Full-shape state dicts of the four backbones (random weights, the real
    layouts: torchvision VGG19, ResNet-50, VGG16-BN, timm legacy_xception)."""
    import timm
    import torchvision.models as tvm

    torch.manual_seed(0)
    made = {
        "capsule": ("vgg19", tvm.vgg19(weights=None), "imagenet"),
        "dsp_fwa": ("resnet50", tvm.resnet50(weights=None), "imagenet"),
        "ictu_oculi": ("vgg16_bn", tvm.vgg16_bn(weights=None), "imagenet"),
        "xception": ("xception", timm.create_model("legacy_xception"), "half"),
    }
    files = {}
    for model, (stem, net, norm) in made.items():
        state = net.state_dict()
        files[model] = {
            **publish(root, stem, state, full_hash=True),
            "normalisation": norm,
            "models": [model],
            "source": f"generated {stem} layout",
            "n_tensors": len(state),
        }
        del net, state
    return files


#: per model: training config (tiny) and the expected start counts
TRAINING = {
    "capsule": (
        {"input_size": 32, "batch_size": 4},
        {"loaded": 16, "missing": 281, "unused": 22, "random": 281},
    ),
    "dsp_fwa": (
        {"input_size": 32, "batch_size": 4},
        {"loaded": 318, "missing": 2, "unused": 2, "random": 2},
    ),
    "ictu_oculi": (
        {
            "input_size": 32,
            "batch_size": 2,
            "seq_len": 3,
            "kwargs": {"fc6_dim": 16, "fc6_pool": 1, "batch_norm": True},
        },
        # the 1000-class head (classifier.*) is unused, fc6 is skipped: the
        # file's 25088-wide fc6 does not fit the 512-wide pool of fc6_pool 1
        {"loaded": 91, "missing": 8, "unused": 6, "random": 8},
    ),
    "xception": (
        {"input_size": 48, "batch_size": 4},
        {"loaded": 274, "missing": 2, "unused": 2, "random": 2},
    ),
}


@pytest.fixture(scope="module")
def trained(request, tmp_path_factory):
    """Generate, serve, fetch (stage function) and train all four models on
    the fetched files with `pretrained: required`, with the network cut off
    during training; records the validation pass of In Ictu Oculi."""
    tmp = fixture_dir(request, tmp_path_factory, "pretrained")
    srv = WeightsServer(tmp / "served")
    srv.root.mkdir()
    try:
        files = full_backbones(srv.root)
        for f in files.values():
            f["url"] = srv.url + f["name"]
            fetch_file(
                WeightsFile.from_dict(f["name"], f),
                tmp / "resources/weights" / f["name"],
                progress=False,
            )
            (srv.root / f["name"]).unlink()  # keep one copy on disk
    finally:
        srv.stop()
    assert len(srv.requests) == 4

    def offline(*args, **kwargs):
        raise AssertionError("training tried to use the network")

    recorded = []

    def recording_infer(*args, **kwargs):
        out = infer(*args, **kwargs)
        recorded.append(out)
        return out

    frames = TinyFrames(seed=0), TinyFrames(n_videos=4, seed=1, prefix="w")
    eyes = TinyEyes(seed=0), TinyEyes(seed=1)
    mp = pytest.MonkeyPatch()
    mp.setattr(torch.hub, "download_url_to_file", offline)
    mp.setattr(torch.hub, "load_state_dict_from_url", offline)
    mp.setattr(urllib.request, "urlopen", offline)
    mp.setattr(train_module, "infer", recording_infer)
    out = {}
    try:
        for model, (cfg, _) in TRAINING.items():
            path = tmp / "resources/weights" / files[model]["name"]
            cfg = {
                **cfg,
                "epochs": 1,
                "max_steps_per_epoch": 2,
                "weights": [str(path)],
                "pretrained": "required",
            }
            recorded.clear()
            train, val = eyes if model == "ictu_oculi" else frames
            train_module.train_model(
                model,
                cfg,
                train,
                val,
                tmp / model,
                tmp / model / "resume",
                progress=False,
            )
            out[model] = {
                "dir": tmp / model,
                "file": path,
                "validation": list(recorded),
                "val": val,
            }
    finally:
        mp.undo()
    return files, out


@pytest.mark.parametrize("model", list(TRAINING))
def test_training_loads_every_expected_tensor_from_the_fetched_file(trained, model):
    files, out = trained
    start = json.loads((out[model]["dir"] / "start.json").read_text())
    expected = TRAINING[model][1]
    (row,) = start["files"]
    assert row["file"] == str(out[model]["file"])
    assert row["sha256"] == files[model]["full_sha256"]
    assert {k: row[k] for k in ("loaded", "missing", "unused")} == {
        k: expected[k] for k in ("loaded", "missing", "unused")
    }
    assert start["random"] == expected["random"]
    assert row["loaded"] + row["missing"] == start["tensors"]
    assert row["loaded"] + row["unused"] == files[model]["n_tensors"]
    assert start["pretrained"] == "required"
    # the normalisation follows the weights and travels in the checkpoint
    assert start["normalisation"] == files[model]["normalisation"]
    ckpt = torch.load(out[model]["dir"] / "best.pt", weights_only=True)
    assert ckpt["normalisation"] == files[model]["normalisation"]
    assert ckpt["start"] == start


def test_a_frozen_capsule_stem_equals_the_files_after_training(trained):
    _, out = trained
    source = torch.load(out["capsule"]["file"], weights_only=True)
    best = torch.load(out["capsule"]["dir"] / "best.pt", weights_only=True)["model"]
    stem = [k for k in best if k.startswith("stem.")]
    assert len(stem) == 16
    for key in stem:
        assert torch.equal(best[key], source["features." + key[len("stem.") :]]), key
    # the rest did train
    model = create_model("capsule")
    assert not torch.equal(best["route_weights"], model.state_dict()["route_weights"])


def test_in_ictu_oculi_gets_imagenet_inputs_and_prediction_reuses_them(trained):
    """The checkpoint's normalisation (ImageNet, from the VGG16 weights; the
    model's random-start default would be raw 0-255) gives prediction the
    same scores as the validation pass of training."""
    _, out = trained
    run = out["ictu_oculi"]
    best = run["dir"] / "best.pt"
    model, spec, ckpt = load_checkpoint(best)
    assert spec.normalisation == "raw255" and ckpt["normalisation"] == "imagenet"
    (validation,) = run["validation"]  # one epoch, one validation pass
    idx, scores, _ = validation
    during = frame_table(run["val"], EYE_SEQUENCE, idx, scores)
    predicted = predict_dataset(best, run["val"], progress=False, batch_size=3)
    pd.testing.assert_frame_equal(predicted, during, check_exact=False, atol=1e-6)
    _, raw, _ = infer(
        model,
        spec,
        run["val"],
        input_size=32,
        normalisation="raw255",
        device=torch.device("cpu"),
        progress=False,
    )
    assert abs(raw - scores).max() > 1e-4  # so the stored value matters


# -- start checks that need no download -------------------------------------------
def test_a_frozen_stem_left_random_stops_training(tmp_path):
    capsule_only = {
        k: v
        for k, v in create_model("capsule").state_dict().items()
        if not k.startswith("stem.")
    }
    path = tmp_path / "capsule_21.pt"
    torch.save(capsule_only, path)
    with pytest.raises(InputError) as err:
        start_model(
            create_model("capsule"),
            "capsule",
            [str(path)],
            "required",
            "imagenet",
            "imagenet",
        )
    msg = str(err.value)
    assert "stem is frozen but 16 of its 16 tensors were not loaded" in msg
    assert "freeze_stem: false" in msg
    # freeze_stem false: allowed, and logged
    record = start_model(
        create_model("capsule", freeze_stem=False),
        "capsule",
        [str(path)],
        "required",
        "imagenet",
        "imagenet",
    )
    assert record["random"] == 16 and record["files"][0]["loaded"] == len(capsule_only)


def test_a_shipped_file_with_another_hash_is_refused_at_training(tmp_path):
    fake = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, fake)
    with pytest.raises(InputError, match="does not match the pinned dcbb9e9d"):
        start_model(
            create_model("capsule"),
            "capsule",
            [str(fake)],
            "required",
            "imagenet",
            "imagenet",
        )


def test_random_start_record():
    record = start_model(
        create_model("xception"), "xception", None, "none", "half", "half"
    )
    assert record["files"] == [] and record["random"] == record["tensors"] == 276
    assert record["normalisation_from"].startswith("random start")
    assert (ROOT / "report/model_starts.rst").is_file()


def test_the_summary_tabulates_how_each_model_started(trained, tmp_path):
    from deepfake_ensemble.evaluate.jobs import write_model_starts
    from deepfake_ensemble.pretrained import START_COLUMNS

    files, out = trained
    md = tmp_path / "summary.md"
    md.write_text("# Summary\n")
    starts = {m: out[m]["dir"] / "start.json" for m in TRAINING}
    write_model_starts(starts, tmp_path / "model_starts.csv", md)
    table = pd.read_csv(tmp_path / "model_starts.csv")
    assert list(table.columns) == list(START_COLUMNS)
    assert list(table["model"]) == list(TRAINING)
    assert list(table["sha256"]) == [files[m]["full_sha256"] for m in TRAINING]
    assert list(table["loaded"]) == [TRAINING[m][1]["loaded"] for m in TRAINING]
    assert list(table["normalisation"]) == ["imagenet", "imagenet", "imagenet", "half"]
    text = md.read_text()
    assert "## How each model started" in text
    assert (
        f"`{files['capsule']['name']}` | {files['capsule']['full_sha256'][:12]} |"
        in text
    )
