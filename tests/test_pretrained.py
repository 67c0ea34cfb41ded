"""How the detectors start: the pinned catalogue of backbone files, the config
rules of `weights` / `pretrained`, the normalisation that follows from the
weights, the start-up table, and the dry runs of the real-dataset configs."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, snakemake
from snakemake.utils import update_config, validate

from deepfake_ensemble.errors import InputError
from deepfake_ensemble.ingest.synthetic import synthetic_manifest, write_split_tree
from deepfake_ensemble.layout import MODEL_NAMES
from deepfake_ensemble.pretrained import (
    BACKBONES,
    CATALOG,
    KWARG_DEFAULTS,
    START_COLUMNS,
    check_model_start,
    fetchable,
    load_catalog,
    read_catalog,
    resolve_model_starts,
    source_url,
    start_markdown,
    start_normalisation,
    start_table_rows,
)

SCHEMA = str(ROOT / "config" / "schema" / "config.schema.yaml")
REAL_CONFIGS = ["study.yaml", "celebdf.yaml", "dfd.yaml", "dfdc.yaml"]


def merged_config(name: str) -> dict:
    """config.yaml with ``name`` merged on top, as `--configfile` does."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    update_config(config, yaml.safe_load((ROOT / "config" / name).read_text()))
    validate(config, SCHEMA)
    return config


# -- the catalogue ---------------------------------------------------------------
def test_catalog_matches_torchvision_and_timm():
    """URLs, published hash prefixes and normalisation, read from the
    installed libraries rather than typed by hand."""
    import timm
    import torchvision.models as tvm
    from torch.hub import HASH_REGEX

    from deepfake_ensemble.train.models import NORMALISATIONS

    enums = {
        "vgg19-dcbb9e9d.pth": tvm.VGG19_Weights.IMAGENET1K_V1,
        "resnet50-0676ba61.pth": tvm.ResNet50_Weights.IMAGENET1K_V1,
        "vgg16-397923af.pth": tvm.VGG16_Weights.IMAGENET1K_V1,
        "vgg16_bn-6c64b313.pth": tvm.VGG16_BN_Weights.IMAGENET1K_V1,
    }
    for name, weights in enums.items():
        entry = CATALOG[name]
        assert entry.url == weights.url and entry.url.endswith("/" + name)
        assert entry.sha256 == HASH_REGEX.search(name).group(1)
        transform = weights.transforms()
        _, mean, std = NORMALISATIONS[entry.normalisation]
        assert list(mean) == list(transform.mean)
        assert list(std) == list(transform.std)
        assert entry.source.endswith(str(weights).split(".", 1)[1])
    cfg = timm.models.get_pretrained_cfg("legacy_xception")
    entry = CATALOG["xception-43020ad28.pth"]
    assert entry.url == cfg.url
    assert entry.sha256 == HASH_REGEX.search(Path(cfg.url).name).group(1)
    _, mean, std = NORMALISATIONS[entry.normalisation]
    assert tuple(mean) == tuple(cfg.mean) and tuple(std) == tuple(cfg.std)
    b4 = timm.models.get_pretrained_cfg("tf_efficientnet_b4.ap_in1k")
    b4_entry = CATALOG["tf_efficientnet_b4_ap-dedb23e6.pth"]
    assert b4_entry.url == b4.url and b4_entry.models == ("timm",)
    assert b4_entry.sha256 == HASH_REGEX.search(Path(b4.url).name).group(1)
    _, mean, std = NORMALISATIONS[b4_entry.normalisation]
    assert tuple(mean) == tuple(b4.mean) and tuple(std) == tuple(b4.std)
    assert set(CATALOG) == set(enums) | {entry.name, b4_entry.name}
    for model, name in BACKBONES.items():
        assert model in CATALOG[name].models


def test_kwarg_defaults_agree_with_the_registry():
    from deepfake_ensemble.train.models import get_spec

    for model, defaults in KWARG_DEFAULTS.items():
        for key, value in defaults.items():
            assert get_spec(model).default_kwargs[key] == value, (model, key)


def test_mirror_keeps_the_file_name_and_the_pin():
    entry = CATALOG["vgg19-dcbb9e9d.pth"]
    assert source_url(entry) == entry.url
    assert (
        source_url(entry, "https://mirror.example.org/torch/")
        == "https://mirror.example.org/torch/vgg19-dcbb9e9d.pth"
    )
    assert source_url(entry, "file:///srv/w") == "file:///srv/w/vgg19-dcbb9e9d.pth"
    with pytest.raises(InputError, match="weights_mirror"):
        source_url(entry, "/srv/w")
    assert fetchable("resources/weights/vgg19-dcbb9e9d.pth", CATALOG) is entry
    assert fetchable("./resources/weights/vgg19-dcbb9e9d.pth", CATALOG) is entry
    assert fetchable("/data/vgg19-dcbb9e9d.pth", CATALOG) is None
    assert fetchable("resources/weights/capsule_21.pt", CATALOG) is None


def test_an_extra_catalogue_adds_files_but_never_changes_a_pin(tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text(
        '{"mine-0123abcd.pth": {"url": "http://127.0.0.1/mine-0123abcd.pth", '
        '"sha256": "0123abcd", "models": ["xception"], "normalisation": "half"}}'
    )
    cat = load_catalog(path)
    assert set(cat) == set(CATALOG) | {"mine-0123abcd.pth"}
    assert cat["vgg19-dcbb9e9d.pth"] is CATALOG["vgg19-dcbb9e9d.pth"]
    path.write_text(
        '{"vgg19-dcbb9e9d.pth": {"url": "http://127.0.0.1/x", "sha256": '
        '"00000000", "models": ["capsule"], "normalisation": "imagenet"}}'
    )
    with pytest.raises(InputError, match="would replace the shipped pin"):
        read_catalog(path)
    path.write_text(
        '{"x.pth": {"url": "u", "sha256": "xyz", "models": ["capsule"], '
        '"normalisation": "imagenet"}}'
    )
    with pytest.raises(InputError, match="sha256 must be 8 to 64 hex digits"):
        read_catalog(path)


# -- the config rules ------------------------------------------------------------
def test_pretrained_defaults_to_required_with_weights_and_none_without():
    assert check_model_start("xception", {"weights": "a.pt"}) == "required"
    assert check_model_start("xception", {"weights": ["a.pt", "b.pt"]}) == "required"
    assert check_model_start("xception", {}) == "none"
    assert check_model_start("xception", {"weights": None}) == "none"
    assert (
        check_model_start("xception", {"weights": "a.pt", "pretrained": "optional"})
        == "optional"
    )


def test_weights_with_pretrained_none_is_an_error_naming_the_model():
    with pytest.raises(InputError) as err:
        check_model_start(
            "dsp_fwa", {"weights": "resources/weights/x.pth", "pretrained": "none"}
        )
    first = str(err.value).splitlines()[0]
    assert "models.dsp_fwa.pretrained" in first and "model dsp_fwa" in first
    assert "resources/weights/x.pth" in first


def test_required_without_weights_names_the_key_and_the_file_to_use():
    with pytest.raises(InputError) as err:
        check_model_start("xception", {"pretrained": "required"})
    assert str(err.value).startswith("config key models.xception.weights: not set")
    assert "resources/weights/xception-43020ad28.pth" in str(err.value)
    with pytest.raises(InputError, match="vgg16_bn-6c64b313.pth"):
        check_model_start(
            "ictu_oculi", {"pretrained": "required", "kwargs": {"batch_norm": True}}
        )


def test_a_backbone_must_fit_its_model():
    with pytest.raises(InputError, match="starts capsule, not dsp_fwa"):
        check_model_start(
            "dsp_fwa", {"weights": "resources/weights/vgg19-dcbb9e9d.pth"}
        )
    with pytest.raises(InputError, match=r"kwargs.batch_norm: vgg16-397923af.pth"):
        check_model_start(
            "ictu_oculi",
            {
                "weights": "resources/weights/vgg16-397923af.pth",
                "kwargs": {"batch_norm": True},
            },
        )
    assert (
        check_model_start(
            "ictu_oculi",
            {
                "weights": "resources/weights/vgg16_bn-6c64b313.pth",
                "kwargs": {"batch_norm": True},
            },
        )
        == "required"
    )


def test_a_frozen_capsule_stem_needs_weights():
    with pytest.raises(InputError) as err:
        check_model_start("capsule", {})
    assert str(err.value).startswith("config key models.capsule.kwargs.freeze_stem")
    with pytest.raises(InputError, match="freeze_stem"):
        check_model_start("capsule", {"kwargs": {"freeze_stem": True}})
    assert check_model_start("capsule", {"kwargs": {"freeze_stem": False}}) == "none"
    vgg = "resources/weights/vgg19-dcbb9e9d.pth"
    assert check_model_start("capsule", {"weights": [vgg]}) == "required"
    # left to the check on the loaded tensors (training)
    assert check_model_start("capsule", {}, check_frozen=False) == "none"


def test_normalisation_follows_the_weights():
    vgg16 = "resources/weights/vgg16-397923af.pth"
    assert start_normalisation("ictu_oculi", None, "none", "raw255")[0] == "raw255"
    norm, why = start_normalisation("ictu_oculi", [vgg16], "required", "raw255")
    assert norm == "imagenet" and "VGG16_Weights.IMAGENET1K_V1" in why
    assert start_normalisation("ictu_oculi", [vgg16], "none", "raw255")[0] == "raw255"
    xc = "resources/weights/xception-43020ad28.pth"
    assert start_normalisation("xception", [xc], "required", "half")[0] == "half"
    ff = "resources/weights/all_c23_state_dict.pt"
    assert start_normalisation("xception", ff, "required", "half")[0] == "half"
    caps = ["resources/weights/vgg19-dcbb9e9d.pth", "resources/weights/capsule_21.pt"]
    assert start_normalisation("capsule", caps, "required", "imagenet")[0] == "imagenet"
    with pytest.raises(InputError, match="different input normalisations"):
        start_normalisation(
            "xception",
            [xc, "resources/weights/x.pth"],
            "required",
            "half",
            catalog={
                **CATALOG,
                "x.pth": CATALOG["vgg19-dcbb9e9d.pth"],
            },
        )


def test_train_config_resolution_applies_the_same_rules():
    from deepfake_ensemble.train.loop import resolve_config

    vgg16 = "resources/weights/vgg16-397923af.pth"
    cfg = resolve_config("ictu_oculi", {"weights": vgg16})
    assert cfg["pretrained"] == "required" and cfg["normalisation"] == "imagenet"
    cfg = resolve_config("ictu_oculi", None)
    assert cfg["pretrained"] == "none" and cfg["normalisation"] == "raw255"
    explicit = resolve_config("ictu_oculi", {"weights": vgg16, "normalisation": "unit"})
    assert explicit["normalisation"] == "unit"
    with pytest.raises(InputError, match="model xception"):
        resolve_config("xception", {"weights": "a.pt", "pretrained": "none"})


# -- the shipped configs ---------------------------------------------------------
@pytest.mark.parametrize("name", REAL_CONFIGS)
def test_real_dataset_configs_start_every_model_from_a_pinned_backbone(name):
    config = merged_config(name)
    files = resolve_model_starts(config, MODEL_NAMES)
    for model in MODEL_NAMES:
        assert config["models"][model]["pretrained"] == "required", model
        (path,) = files[model]
        entry = fetchable(path, CATALOG)
        assert entry is not None and model in entry.models, (model, path)
    # nothing of the demo's settings carries over (nested keys merge)
    assert config["models"]["ictu_oculi"]["kwargs"] == {
        "fc6_dim": 4096,
        "fc6_pool": 7,
        "batch_norm": False,
    }
    assert config["models"]["capsule"]["kwargs"] == {"freeze_stem": True}
    # the authors' checkpoints are offered as commented lines
    text = (ROOT / "config" / name).read_text()
    for ckpt in ("capsule_21.pt", "SPP-res50.pth", "all_c23_state_dict.pt"):
        assert re.search(rf"^\s*# weights: .*{ckpt}", text, re.M), ckpt


def test_the_demo_configs_start_from_random_weights_and_say_so():
    for overlay in ({}, yaml.safe_load((ROOT / "config/ci.yaml").read_text())):
        config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
        update_config(config, copy.deepcopy(overlay))
        validate(config, SCHEMA)
        files = resolve_model_starts(config, MODEL_NAMES)
        assert files == {m: [] for m in MODEL_NAMES}
    assert "RANDOM weights" in (ROOT / "config/config.yaml").read_text()


# -- the start-up table (summary side, no torch) ---------------------------------
def test_start_table_rows_and_markdown():
    records = {
        "capsule": {
            "model": "capsule",
            "pretrained": "required",
            "normalisation": "imagenet",
            "tensors": 297,
            "random": 281,
            "files": [
                {
                    "file": "resources/weights/vgg19-dcbb9e9d.pth",
                    "sha256": "dcbb9e9d" + "0" * 56,
                    "source": "torchvision VGG19_Weights.IMAGENET1K_V1",
                    "loaded": 16,
                    "missing": 281,
                    "unused": 22,
                }
            ],
        },
        "xception": {
            "model": "xception",
            "pretrained": "none",
            "normalisation": "half",
            "tensors": 276,
            "random": 276,
            "files": [],
        },
    }
    rows = start_table_rows(records)
    assert [tuple(r) for r in rows] == [START_COLUMNS, START_COLUMNS]
    assert rows[0]["loaded"] == 16 and rows[0]["unused"] == 22
    assert rows[1]["file"] == "(random initialisation)" and rows[1]["missing"] == 276
    md = start_markdown(rows).splitlines()
    assert md[0].startswith("| model | pretrained | file | sha256 |")
    assert (
        "`vgg19-dcbb9e9d.pth` | dcbb9e9d0000 | 16 | 281 | 22 | 281 | imagenet |"
        in md[2]
    )


# -- dry runs ------------------------------------------------------------------------
def test_fetch_weights_dry_run_lists_the_study_backbones(tmp_path):
    out = snakemake(
        tmp_path, "fetch_weights", "-n", "--configfile", str(ROOT / "config/study.yaml")
    ).stdout
    for model, name in BACKBONES.items():
        assert f"output: resources/weights/{name}" in out, (model, out[-3000:])
    assert "output: resources/weights/SHA256SUMS" in out


def test_training_depends_on_the_fetched_weights(tmp_path):
    write_split_tree(tmp_path, synthetic_manifest(60))
    out = snakemake(
        tmp_path, "--configfile", str(ROOT / "config/study.yaml"), "--dag"
    ).stdout
    labels = dict(re.findall(r'\t(\d+)\[label = "([^"]+)"', out))
    edges = re.findall(r"\t(\d+) -> (\d+)", out)
    pairs = {(labels[a].split("\\n")[0], labels[b].split("\\n")[0]) for a, b in edges}
    assert ("fetch_weights_file", "train") in pairs
    n_fetch = sum(1 for v in labels.values() if v.startswith("fetch_weights_file"))
    assert n_fetch == 4


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_study_dry_run_without_a_models_weights_fails_naming_the_key(tmp_path, model):
    text = (ROOT / "config/study.yaml").read_text()
    config = yaml.safe_load(text)
    del config["models"][model]["weights"]
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "-n", "--configfile", str(path), check=False)
    assert result.returncode != 0
    err = result.stdout + result.stderr
    assert f"config key models.{model}.weights: not set" in err, err[-2000:]
    assert "Traceback" not in err


def test_pretrained_none_with_weights_fails_the_dry_run_naming_the_model(tmp_path):
    overlay = tmp_path / "none.yaml"
    overlay.write_text("models:\n  dsp_fwa:\n    pretrained: none\n")
    result = snakemake(
        tmp_path,
        "-n",
        "--configfile",
        str(ROOT / "config/study.yaml"),
        str(overlay),
        check=False,
    )
    assert result.returncode != 0
    err = result.stdout + result.stderr
    assert "model dsp_fwa has 'pretrained: none'" in err, err[-2000:]
