"""The four detectors: shapes, gradients, learning, checkpoints and weights."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torchvision.models import resnet50

from deepfake_ensemble import layout
from deepfake_ensemble.errors import InputError
from deepfake_ensemble.train.models import (
    MODEL_NAMES,
    create_model,
    get_spec,
    register,
    registered_names,
)
from deepfake_ensemble.train.models.base import vgg_features
from deepfake_ensemble.train.models.weights import load_weights

# small settings per model: (input size, kwargs)
DEMO = {
    "capsule": (32, {}),
    "dsp_fwa": (32, {}),
    "ictu_oculi": (32, {"fc6_dim": 32, "fc6_pool": 1, "batch_norm": True}),
    "xception": (48, {}),
}


def make_input(name: str, size: int, batch: int = 4, steps: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    if get_spec(name).input_kind == "eye_sequence":
        raw = torch.randint(0, 256, (batch, steps, 2, 3, size, size), generator=g)
        mask = torch.ones(batch, steps, dtype=torch.bool)
        mask[0, -1] = False
    else:
        raw = torch.randint(0, 256, (batch, 3, size, size), generator=g)
        mask = None
    return raw.to(torch.uint8), mask


def forward(model, x, mask):
    return model(x, mask) if mask is not None else model(x)


def test_registry():
    assert MODEL_NAMES is layout.MODEL_NAMES
    assert registered_names() == layout.MODEL_NAMES
    assert MODEL_NAMES == ("capsule", "dsp_fwa", "ictu_oculi", "xception")
    sizes = {n: get_spec(n).input_size for n in MODEL_NAMES}
    assert sizes == {"capsule": 300, "dsp_fwa": 224, "ictu_oculi": 224, "xception": 299}
    assert get_spec("ictu_oculi").input_kind == "eye_sequence"
    assert get_spec("ictu_oculi").normalisation == "raw255"
    assert get_spec("xception").early_stopping == 10
    assert get_spec("dsp_fwa").optimizer["name"] == "sgd"
    with pytest.raises(InputError, match="unknown model 'nope'"):
        get_spec("nope")
    with pytest.raises(InputError, match="unknown kwargs"):
        create_model("dsp_fwa", width=3)


def test_register_refuses_a_name_outside_the_layout():
    spec = dataclasses.replace(get_spec("xception"), name="xception2")
    with pytest.raises(ValueError, match="not in layout.MODEL_NAMES"):
        register(spec)
    assert registered_names() == layout.MODEL_NAMES
    with pytest.raises(InputError, match="unknown model"):
        get_spec("xception2")


def test_prepare_resizes_normalises_and_flips_eyes():
    spec = get_spec("xception")
    x = torch.full((2, 3, 40, 40), 255, dtype=torch.uint8)
    y = spec.prepare(x, input_size=20)
    assert y.shape == (2, 3, 20, 20)
    assert torch.allclose(y, torch.ones_like(y))  # (1 - 0.5) / 0.5
    raw = get_spec("ictu_oculi").prepare(
        torch.full((1, 1, 2, 3, 8, 8), 7, dtype=torch.uint8)
    )
    # raw values, not normalised (resizing rounds in float32)
    assert raw.shape == (1, 1, 2, 3, 224, 224)
    assert float(raw.max()) == pytest.approx(7.0, abs=1e-5)
    # a flip mirrors every crop and swaps the two eyes
    eyes = torch.zeros(1, 1, 2, 3, 4, 4, dtype=torch.uint8)
    eyes[0, 0, 0, :, :, 0] = 255  # left eye: bright first column
    spec = get_spec("ictu_oculi")
    flipped = None
    for seed in range(20):
        g = torch.Generator().manual_seed(seed)
        out = spec.prepare(eyes, input_size=4, train=True, generator=g)
        if not torch.equal(out, eyes.float()):
            flipped = out
            break
    assert flipped is not None
    assert float(flipped[0, 0, 1, 0, 0, 3]) == 255.0  # now right eye, last column
    assert float(flipped[0, 0, 0].abs().sum()) == 0.0


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_forward_backward_demo_size(name):
    torch.manual_seed(0)
    size, kw = DEMO[name]
    model = create_model(name, **kw).train()
    spec = get_spec(name)
    raw, mask = make_input(name, size + 8)
    x = spec.prepare(raw, input_size=size, train=True)
    out = forward(model, x, mask)
    y = torch.tensor([0, 1, 0, 1])
    logits = model.logits(out, mask)
    scores = spec.scores(out, mask)
    assert logits.shape == (4, 2) and torch.isfinite(logits).all()
    assert scores.shape == (4,) and ((scores >= 0) & (scores <= 1)).all()
    loss = spec.loss(out, y, mask)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_forward_at_original_input_size(name):
    torch.manual_seed(0)
    model = create_model(name).eval()  # the paper's kwargs (fc6 4096 for ictu)
    spec = get_spec(name)
    raw, mask = make_input(name, spec.input_size, batch=1, steps=2)
    with torch.no_grad():
        out = forward(model, spec.prepare(raw), mask)
    assert spec.logits(out, mask).shape == (1, 2)
    assert torch.isfinite(out).all()


OVERFIT = {  # optimiser and learning rate that memorise 4 items quickly
    "capsule": ("adam", 2e-2),
    "dsp_fwa": ("adam", 1e-3),
    "ictu_oculi": ("sgd", 1e-2),
    "xception": ("adam", 1e-3),
}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_overfits_a_tiny_batch(name):
    torch.manual_seed(0)
    size, kw = DEMO[name]
    model = create_model(name, **kw).train()
    spec = get_spec(name)
    raw, mask = make_input(name, size, batch=4)
    x = spec.prepare(raw, input_size=size)
    y = torch.tensor([0, 1, 0, 1])
    opt_name, lr = OVERFIT[name]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = (
        torch.optim.Adam(params, lr=lr)
        if opt_name == "adam"
        else torch.optim.SGD(params, lr=lr, momentum=0.9)
    )
    # capsule's loss is a sum of 4 cross-entropies on softmaxed activations:
    # it starts near 2.8 and cannot go below about 1.25
    losses = []
    for _ in range(30):
        loss = spec.loss(forward(model, x, mask), y, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        target = losses[0] - 0.5 if name == "capsule" else 0.4 * losses[0]
        if losses[-1] < target:
            break
    assert losses[-1] < target, losses


# -- weights -------------------------------------------------------------------
def _outputs(model, name, seed=1):
    size, _ = DEMO[name]
    raw, mask = make_input(name, size, batch=2, seed=seed)
    with torch.no_grad():
        return forward(model.eval(), get_spec(name).prepare(raw, input_size=size), mask)


def _to_capsule_original(sd):
    """This project's capsule keys -> the authors' CapsuleNet naming."""
    layer = {
        "conv_a": 0,
        "bn_a": 1,
        "conv_b": 3,
        "bn_b": 4,
        "proj_a": 7,
        "proj_bn_a": 8,
        "proj_b": 9,
        "proj_bn_b": 10,
    }
    out = {}
    for k, v in sd.items():
        if k.startswith("primary."):
            _, i, name, rest = k.split(".", 3)
            out[f"fea_ext.capsules.{i}.{layer[name]}.{rest}"] = v
        elif k == "route_weights":
            out["routing_stats.route_weights"] = v
        elif k.startswith("stem."):
            out["vgg_ext.vgg_1." + k[len("stem.") :]] = v
    return out


def test_capsule_loads_original_naming_with_wrappers(tmp_path):
    torch.manual_seed(0)
    src = create_model("capsule")
    sd = _to_capsule_original(src.state_dict())
    path = tmp_path / "capsule_21.pt"
    torch.save({"state_dict": {"module." + k: v for k, v in sd.items()}}, path)
    torch.manual_seed(1)
    dst = create_model("capsule")
    assert not torch.allclose(_outputs(src, "capsule"), _outputs(dst, "capsule"))
    (report,) = load_weights(dst, "capsule", path, "required")
    assert report["matched"] == len(src.state_dict())
    assert report["missing"] == 0 and report["unexpected"] == 0
    assert torch.allclose(_outputs(src, "capsule"), _outputs(dst, "capsule"))
    # ImageNet VGG19 (torchvision layout): features 0-18 fill the stem
    vgg = vgg_features(19)
    path = tmp_path / "vgg19.pth"
    torch.save({f"features.{k}": v for k, v in vgg.state_dict().items()}, path)
    (report,) = load_weights(dst, "capsule", path, "required")
    assert report["matched"] == 16 and report["unexpected"] == 16
    assert torch.equal(dst.stem[16].weight, vgg[16].weight)


def test_xception_loads_faceforensics_naming(tmp_path):
    torch.manual_seed(0)
    src = create_model("xception")
    ff = {}
    for k, v in src.state_dict().items():
        k = k.removeprefix("net.")
        if k.startswith("fc."):
            k = "last_linear.1." + k[3:]  # TransferModel with dropout
        if k.endswith("pointwise.weight"):
            v = v[:, :, 0, 0]  # Keras-port layout: 2-D pointwise weights
        ff["model." + k] = v
    path = tmp_path / "all_c23_state_dict.pt"
    torch.save(ff, path)
    dst = create_model("xception")
    (report,) = load_weights(dst, "xception", path, "required")
    assert report["missing"] == 0 and report["unexpected"] == 0
    assert torch.allclose(_outputs(src, "xception"), _outputs(dst, "xception"))


def test_dsp_fwa_loads_original_checkpoint_and_imagenet_body(tmp_path):
    torch.manual_seed(0)
    src = create_model("dsp_fwa")
    orig = {}
    for k, v in src.state_dict().items():
        orig["resnet.resnet." + k[5:] if k.startswith("body.") else k] = v
    orig["resnet.fc.weight"] = torch.zeros(2, 2048)  # unused layer of the original
    path = tmp_path / "SPP-res50.pth"
    torch.save({"epoch": 3, "net": orig}, path)
    dst = create_model("dsp_fwa")
    (report,) = load_weights(dst, "dsp_fwa", path, "optional")
    assert report["missing"] == 0 and report["unexpected"] == 1
    assert torch.allclose(_outputs(src, "dsp_fwa"), _outputs(dst, "dsp_fwa"))
    # torchvision ImageNet layout: body only, the 1000-class fc is unused
    tv = resnet50(weights=None)
    path = tmp_path / "resnet50.pth"
    torch.save(tv.state_dict(), path)
    (report,) = load_weights(dst, "dsp_fwa", path, "required")
    assert report["missing"] == 2 and report["unexpected"] == 2
    assert torch.equal(dst.body.conv1.weight, tv.conv1.weight)


def test_ictu_oculi_loads_imagenet_vgg16_and_skips_other_fc6_width(tmp_path):
    # torchvision VGG16 layout; fc6 (classifier.0) 4096 wide, here cut to
    # its first 8 inputs to keep the file small: the width differs -> skipped
    features = vgg_features(16)
    sd = {f"features.{k}": v for k, v in features.state_dict().items()}
    sd["classifier.0.weight"] = torch.zeros(4096, 8)
    sd["classifier.0.bias"] = torch.zeros(4096)
    sd["classifier.6.weight"] = torch.zeros(1000, 4096)
    path = tmp_path / "vgg16.pth"
    torch.save(sd, path)
    model = create_model("ictu_oculi", fc6_dim=16, fc6_pool=1)
    (report,) = load_weights(model, "ictu_oculi", path, "required")
    assert report["skipped_keys"] == ["fc6.weight", "fc6.bias"]
    assert report["matched"] == 26 and report["unexpected"] == 1
    assert torch.equal(model.cnn[28].weight, features[28].weight)


def test_weights_errors(tmp_path):
    model = create_model("dsp_fwa")
    missing = tmp_path / "SPP-res50.pth"
    with pytest.raises(InputError) as e:
        load_weights(model, "dsp_fwa", missing, "required")
    assert str(missing) in str(e.value) and "resources/README.md" in str(e.value)
    with pytest.warns(UserWarning, match="resources/README.md"):
        assert load_weights(model, "dsp_fwa", missing, "optional") == []
    assert load_weights(model, "dsp_fwa", None, "none") == []
    with pytest.raises(InputError, match="model dsp_fwa: .*pretrained is 'none'"):
        load_weights(model, "dsp_fwa", missing, "none")  # never dropped silently
    with pytest.raises(InputError, match="weights is not set"):
        load_weights(model, "dsp_fwa", None, "required")
    bad = tmp_path / "bad.pt"
    torch.save({"classifier.weight": torch.zeros(2, 7)}, bad)
    with pytest.raises(InputError, match="'classifier.weight' has shape"):
        load_weights(model, "dsp_fwa", bad, "required")
    other = tmp_path / "other.pt"
    torch.save({"foo.weight": torch.zeros(3)}, other)
    with pytest.raises(InputError, match="no tensor matches model dsp_fwa"):
        load_weights(model, "dsp_fwa", other, "required")
    pickled = tmp_path / "all_c23.p"
    torch.save(torch.nn.Linear(2, 2), pickled)  # a whole pickled model
    with pytest.raises(InputError, match="converted to a state dict"):
        load_weights(create_model("xception"), "xception", pickled, "required")
