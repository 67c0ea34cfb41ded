"""Members declared in the configuration (``models:``): the study's four as
built-in kinds, ``kind: timm`` and ``kind: module``. Their declarations and
the dry run's checks, one training step of each, and (slow) one run of the
CI workflow with a fifth member of the user's own, its bundle scored by the
CLI as the workflow scored it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import (
    CI_CONFIG,
    ROOT,
    SNAKEMAKE_ENV,
    demo_threads,
    shared_run,
    snakemake,
)

from deepfake_ensemble.config import check_config
from deepfake_ensemble.errors import InputError
from deepfake_ensemble.layout import ENSEMBLES, MEMBER_ENSEMBLES, MODEL_NAMES
from deepfake_ensemble.members import (
    check_backbone,
    check_class_path,
    check_member,
    declared_members,
    enabled_members,
    ensemble_members,
    identity,
    member_kind,
)

TESTS = Path(__file__).resolve().parent
#: tests/ on the Python path: where members_fixture.TinyCNN is found
FIXTURE_ENV = {
    "PYTHONPATH": os.pathsep.join(
        p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p
    )
}
MODULE_MEMBER = {
    "kind": "module",
    "class": "members_fixture:TinyCNN",
    "kwargs": {"width": 4},
    "input_size": 32,
    "epochs": 2,
    "batch_size": 16,
    "max_steps_per_epoch": 4,
    "optimizer": {"name": "adam", "lr": 1.0e-3},
}


@pytest.fixture(autouse=True)
def fixture_module_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))


# -- declarations (standard library) ---------------------------------------------
def test_the_study_detectors_are_implicit_kinds_and_others_need_one():
    assert member_kind("capsule", None) == "capsule"
    assert member_kind("capsule", {"kind": "capsule"}) == "capsule"
    assert member_kind("mynet", {"kind": "timm"}) == "timm"
    with pytest.raises(InputError, match=r"^config key models\.mynet\.kind: not set"):
        member_kind("mynet", {"input_size": 32})
    # the study's detectors' resolved configs stay as they were
    assert identity("xception", {"input_size": 48}) == {}
    assert identity("m", {"kind": "timm", "backbone": "resnet10t"}) == {
        "kind": "timm",
        "backbone": "resnet10t",
    }


def test_member_order_and_the_members_the_ensembles_combine():
    models = {"zeta": {"kind": "timm"}, "dsp_fwa": {}, "alpha": {"kind": "module"}}
    assert declared_members(models) == [*MODEL_NAMES, "zeta", "alpha"]
    models["ictu_oculi"] = {"enabled": False}
    models["alpha"]["enabled"] = False
    members = enabled_members(models)
    assert members == ["capsule", "dsp_fwa", "xception", "zeta"]
    # the study's detectors when two or more are trained, else every member
    assert ensemble_members(members) == ["capsule", "dsp_fwa", "xception"]
    assert ensemble_members(["capsule", "zeta", "eta"]) == ["capsule", "zeta", "eta"]
    assert enabled_members({}) == list(MODEL_NAMES)


@pytest.mark.parametrize(
    ("name", "block", "key", "says"),
    [
        ("mynet", {"kind": "timm"}, "models.mynet.backbone", "not set"),
        ("mynet", {"kind": "module"}, "models.mynet.class", "not set"),
        (
            "mynet",
            {"kind": "timm", "backbone": "resnet_999"},
            "models.mynet.backbone",
            "no architecture of timm",
        ),
        (
            "mynet",
            {"kind": "timm", "backbone": "resnet10t", "class": "a:B"},
            "models.mynet.class",
            "only for kind: module",
        ),
        ("mynet", {"kind": "capsule"}, "models.mynet.kind", "own name"),
        ("xception", {"kind": "timm"}, "models.xception.kind", "another name"),
        ("all_soft", {"kind": "timm"}, "models.all_soft", "names an ensemble"),
        (
            "mynet",
            {**MODULE_MEMBER, "seq_len": 5},
            "models.mynet.seq_len",
            "eye-sequence",
        ),
        (
            "mynet",
            {"kind": "module", "class": "members_fixture:Nope"},
            "models.mynet.class",
            "defines no class 'Nope'",
        ),
        (
            "mynet",
            {"kind": "module", "class": "members_fixture:NOT_A_MODULE"},
            "models.mynet.class",
            "defines no class",
        ),
        (
            "mynet",
            {"kind": "module", "class": "no_such_package.nets:Net"},
            "models.mynet.class",
            "no module named 'no_such_package.nets'|cannot be found",
        ),
        (
            "mynet",
            {"kind": "module", "class": "nets.Net"},
            "models.mynet.class",
            "not a class path",
        ),
    ],
)
def test_a_declaration_that_cannot_work_is_one_line_naming_the_key(
    name, block, key, says
):
    with pytest.raises(InputError) as info:
        check_member(name, block)
    message = str(info.value)
    assert message.startswith(f"config key {key}:") and "\n" not in message
    assert re.search(says, message), message
    with pytest.raises(InputError):
        check_config({"models": {name: block}})


def test_good_declarations_pass():
    assert check_member("mynet", MODULE_MEMBER) == "module"
    assert check_member("t", {"kind": "timm", "backbone": "efficientnet_b4"}) == "timm"
    # a pretrained tag names the same architecture
    check_backbone("efficientnet_b0.ra_in1k", "k")
    check_config({"models": {"mynet": MODULE_MEMBER, "capsule": {"enabled": False}}})


def test_close_timm_names_are_suggested():
    with pytest.raises(InputError, match="did you mean efficientnet_b4"):
        check_backbone("efficentnet_b4", "models.x.backbone")


def test_the_class_check_reads_the_source_without_importing_it(tmp_path, monkeypatch):
    (tmp_path / "loud_nets.py").write_text(
        "raise RuntimeError('imported')\n"
        "from torch import nn\n"
        "from elsewhere import Imported\n"
        "class Net(nn.Module):\n    pass\n"
        "Alias = Net\n"
        "def factory():\n    return Net()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for ok in ("Net", "Alias", "Imported"):
        check_class_path(f"loud_nets:{ok}", "models.m.class")
    with pytest.raises(InputError, match="defines no class 'factory'"):
        check_class_path("loud_nets:factory", "models.m.class")
    assert "loud_nets" not in sys.modules


def test_timm_names_are_those_of_the_installed_timm():
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "timm_names.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_the_members_module_imports_no_heavy_library():
    code = (
        "import sys; import deepfake_ensemble.members as m; "
        "m.check_backbone('resnet10t', 'k'); "
        "print([x for x in ('torch', 'timm') if x in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT / "src")),
        check=True,
    )
    assert out.stdout.strip() == "[]"


# -- building and training (torch) -----------------------------------------------
def test_a_module_member_trains_predicts_and_round_trips(tmp_path):
    import torch
    from test_train import TinyFrames

    from deepfake_ensemble.train.loop import resolve_config, train_model
    from deepfake_ensemble.train.predict import load_checkpoint, predict_dataset

    cfg = resolve_config("mynet", MODULE_MEMBER)
    assert cfg["kind"] == "module" and cfg["class"] == "members_fixture:TinyCNN"
    assert cfg["kwargs"] == {"width": 4} and cfg["normalisation"] == "imagenet"
    train, val = TinyFrames(seed=0), TinyFrames(n_videos=4, seed=1, prefix="w")
    out = tmp_path / "mynet"
    hist = train_model(
        "mynet", MODULE_MEMBER, train, val, out, tmp_path / "resume", progress=False
    )
    assert len(hist) == 2 and np.isfinite(hist["train_loss"]).all()
    model, spec, ckpt = load_checkpoint(out / "best.pt")
    assert ckpt["config"]["class"] == "members_fixture:TinyCNN"
    assert type(model.net).__name__ == "TinyCNN" and spec.input_size == 32
    pred = predict_dataset(out / "best.pt", val, progress=False)
    assert pred["score"].between(0, 1).all() and len(pred) > 0
    x = spec.prepare(val.images[:3], input_size=32)
    with torch.no_grad():
        assert model(x).shape == (3,)
        assert torch.allclose(spec.scores(model(x)), torch.sigmoid(model.net(x)[:, 0]))
    start = json.loads((out / "start.json").read_text())
    assert start["pretrained"] == "none" and start["normalisation"] == "imagenet"


def test_a_module_with_the_wrong_output_shape_is_named(tmp_path):
    import torch

    from deepfake_ensemble.train.models import create_member, member_spec

    spec = member_spec("m", {"kind": "module", "class": "torch.nn:Identity"})
    model = create_member(spec, {})
    with pytest.raises(InputError, match=r"Identity.forward returned shape"):
        model(torch.zeros(2, 3, 8, 8))
    with pytest.raises(InputError, match="not a torch.nn.Module class"):
        create_member(member_spec("m", {"kind": "module", "class": "os:sep"}), {})


def test_a_timm_member_trains_one_step_and_loads_timm_weights(tmp_path):
    import timm
    import torch
    from test_train import TinyFrames

    from deepfake_ensemble.train.loop import train_model
    from deepfake_ensemble.train.models import create_member, member_spec
    from deepfake_ensemble.train.models.weights import start_model

    cfg = {
        "kind": "timm",
        "backbone": "resnet10t",
        "input_size": 32,
        "epochs": 1,
        "batch_size": 4,
        "max_steps_per_epoch": 1,
    }
    train, val = TinyFrames(seed=0), TinyFrames(n_videos=4, seed=1, prefix="w")
    hist = train_model(
        "tiny", cfg, train, val, tmp_path / "tiny", tmp_path / "r", progress=False
    )
    assert len(hist) == 1 and np.isfinite(hist["train_loss"]).all()
    # timm's own state dict (1000-class head) starts it; the head stays random
    torch.manual_seed(0)
    source = timm.create_model("resnet10t", pretrained=False, num_classes=1000)
    torch.save(source.state_dict(), tmp_path / "resnet10t.pth")
    model = create_member(member_spec("tiny", cfg), {})
    record = start_model(
        model, "tiny", str(tmp_path / "resnet10t.pth"), "required", "imagenet", "x"
    )
    (row,) = record["files"]
    assert row["loaded"] == len(model.state_dict()) - 2 and row["skipped"] == 2
    assert torch.equal(model.net.conv1[0].weight, source.conv1[0].weight)


# -- the dry run ------------------------------------------------------------------
def overlay(tmp_path: Path, models: dict) -> Path:
    path = tmp_path / "members.yaml"
    path.write_text(yaml.safe_dump({"models": models}))
    return path


def dry_run(tmp_path: Path, models: dict, check: bool = False):
    return snakemake(
        tmp_path,
        "-n",
        "--quiet",
        "rules",
        "--configfile",
        str(CI_CONFIG),
        str(overlay(tmp_path, models)),
        check=check,
        env=FIXTURE_ENV,
    )


@pytest.mark.parametrize(
    ("block", "key"),
    [
        ({"kind": "module", "class": "members_fixture:Nope"}, "models.mynet.class"),
        ({"kind": "module", "class": "no_such_mod:Net"}, "models.mynet.class"),
        ({"kind": "timm", "backbone": "efficentnet_b4"}, "models.mynet.backbone"),
        ({"input_size": 32}, "models.mynet.kind"),
    ],
)
def test_the_dry_run_refuses_a_bad_member_naming_the_key(tmp_path, block, key):
    result = dry_run(tmp_path, {"mynet": block})
    assert result.returncode != 0
    lines = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.startswith("config key")
    ]
    assert len(lines) == 1 and lines[0].startswith(f"config key {key}:"), lines


def test_the_dry_run_plans_a_declared_member_beside_the_study(tmp_path):
    result = dry_run(
        tmp_path,
        {
            "mynet": MODULE_MEMBER,
            "tiny": {"kind": "timm", "backbone": "resnet10t", "input_size": 32},
        },
        check=True,
    )
    counts = dict(
        line.split()[:2]
        for line in result.stdout.splitlines()
        if line.split()[:1] in ([rule] for rule in ("train", "predict", *FIT_RULES))
    )
    # one job per training set fits the study's ensembles, one those over
    # every member
    assert counts == {
        "train": "6",
        "predict": "6",
        "ensemble": "1",
        "ensemble_every_member": "1",
    }


def planned_jobs(tmp_path: Path, *configfiles: Path) -> list[dict]:
    """The jobs a dry run plans (tests/dag_jobs.py), with the fixture's
    module on the path."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, str(TESTS / "dag_jobs.py"), str(tmp_path)]
        + [str(c) for c in configfiles],
        capture_output=True,
        text=True,
        env={**SNAKEMAKE_ENV, **FIXTURE_ENV},
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


#: the rules that fit ensembles -> the rules that apply them
FIT_RULES = {
    "ensemble": "ensemble_test",
    "ensemble_every_member": "ensemble_every_member_test",
}


def ensemble_inputs(jobs: list[dict]) -> dict[tuple[str, str], list[str]]:
    """(rule, ensemble) -> the members whose predictions the job that fits
    or applies the ensemble reads; a fitting job's ensembles each choose
    from exactly those."""
    out = {}
    for j in jobs:
        if j["rule"] not in (*FIT_RULES, *FIT_RULES.values()):
            continue
        read = sorted(
            {
                Path(p).parts[3]
                for p in j["input"]
                if p.startswith("results/predictions")
            }
        )
        for name in j["members"] or j["ensembles"]:
            out[(j["rule"], name)] = read
        for name, members in j["members"].items():
            assert sorted(members) == read, (j["rule"], name, members)
    return out


def test_the_ensembles_over_every_member_take_every_member(tmp_path):
    """The study's ensembles combine the study's four, with or without
    declared members; the ensembles over every member (best three, all)
    exist only beside declared members and read every member."""
    study = sorted(MODEL_NAMES)
    alone = ensemble_inputs(planned_jobs(tmp_path / "ci", CI_CONFIG))
    assert set(alone) == {
        (rule, name) for rule in ("ensemble", "ensemble_test") for name in ENSEMBLES
    }
    assert all(members == study for members in alone.values())
    declared = overlay(
        tmp_path,
        {"mynet": MODULE_MEMBER, "tiny": {"kind": "timm", "backbone": "resnet10t"}},
    )
    planned = ensemble_inputs(planned_jobs(tmp_path / "declared", CI_CONFIG, declared))
    assert {k: v for k, v in planned.items() if k[1] in ENSEMBLES} == alone
    extra = {k: v for k, v in planned.items() if k[1] not in ENSEMBLES}
    assert {name for _, name in extra} == set(MEMBER_ENSEMBLES)
    assert all(v == sorted([*MODEL_NAMES, "mynet", "tiny"]) for v in extra.values())


# -- the CI workflow run with a fifth member added (slow) ------------------------------
def _add_member(local_run: Path):
    """Build a copy of the local CI run, then the same workflow with the
    module member declared: only the member's jobs and the tables over every
    member (summary, bundle) have anything to do."""

    def build(workdir: Path) -> None:
        shutil.copytree(local_run, workdir, symlinks=True, dirs_exist_ok=True)
        result = snakemake(
            workdir,
            "--profile",
            str(ROOT / "profiles" / "default"),
            "--configfile",
            str(CI_CONFIG),
            str(overlay(workdir, {"mynet": MODULE_MEMBER})),
            *demo_threads(),
            "--cores",
            "2",
            env=FIXTURE_ENV,
        )
        (workdir / "member-run.log").write_text(result.stdout + result.stderr)

    return build


def jobs_run(log: str) -> list[tuple[str, str]]:
    """(rule, wildcards line) of every job a Snakemake log shows."""
    jobs = []
    for line in log.splitlines():
        match = re.match(r"^(?:local)?(?:rule|checkpoint) (\w+):$", line)
        if match:
            jobs.append([match.group(1), ""])
        elif jobs and line.strip().startswith("wildcards:"):
            jobs[-1][1] = line.strip()
    return [tuple(j) for j in jobs]


@pytest.fixture(scope="module")
def member_run(request, tmp_path_factory, local_ci_run) -> Path:
    return shared_run(
        request, tmp_path_factory, "member-run", _add_member(local_ci_run)
    )


@pytest.mark.slow
def test_a_module_member_goes_through_the_whole_workflow(member_run):
    res = member_run / "results"
    models = [*MODEL_NAMES, "mynet"]
    summary = pd.read_csv(res / "summary.csv")
    assert set(models) <= set(summary["name"])
    for name in ("best2_hard", "small2_soft", "all_soft", "all_stacked"):
        members = json.loads(
            (res / f"ensembles/pooled/{name}/members.json").read_text()
        )
        assert set(members["members"]) <= set(MODEL_NAMES), name
    # the ensembles over every member: all five, and the three best
    allm = json.loads((res / "ensembles/pooled/allm_soft/members.json").read_text())
    assert allm["members"] == sorted(models)
    best3 = json.loads((res / "ensembles/pooled/best3m_hard/members.json").read_text())
    assert len(best3["members"]) == 3 and set(best3["members"]) <= set(models)
    rows = summary.set_index("name")
    assert set(rows.loc[list(MEMBER_ENSEMBLES), "holm_family"]) == {"members"}
    assert "the members family of the 6 comparisons" in (res / "summary.md").read_text()
    bundle = json.loads((res / "bundle/bundle.json").read_text())
    assert list(bundle["members"]) == models
    assert bundle["members"]["mynet"]["class"] == "members_fixture:TinyCNN"
    assert "kind" not in bundle["members"]["capsule"]
    assert (
        "Declared members: `mynet` (module"
        in (res / "bundle/model_card.md").read_text()
    )
    starts = pd.read_csv(res / "model_starts.csv")
    assert "mynet" in set(starts["model"])


@pytest.mark.slow
def test_declaring_a_member_leaves_the_study_jobs_as_they_were(
    member_run, local_ci_run
):
    """Declaring the member over the local CI run runs the member's jobs,
    the ensembles over every member and the tables over every member
    (summary, bundle) alone: the study's predictions and ensembles stay the
    local run's bytes. And the CI config without the member, over the run
    with it, redoes no job of the study's detectors or ensembles."""
    log = (member_run / "member-run.log").read_text()
    ran = jobs_run(log)
    assert ran, log[-2000:]
    for rule, wildcards in ran:
        assert "model=" not in wildcards or "model=mynet" in wildcards, (rule, ran)
        assert (
            "model=" in wildcards
            or rule in {"summarize", "bundle", "all"}
            or rule in {"ensemble_every_member", "ensemble_every_member_test"}
        ), ran
    for name in ENSEMBLES:
        rel = Path("results/ensembles/pooled") / name / "test/pooled/test_frames.csv"
        assert (member_run / rel).read_bytes() == (local_ci_run / rel).read_bytes()
    for model in MODEL_NAMES:
        for split in ("val", "test"):
            rel = Path("results/predictions/pooled") / model / f"{split}.csv"
            assert (member_run / rel).read_bytes() == (local_ci_run / rel).read_bytes()
    result = snakemake(
        member_run, "-n", "--quiet", "rules", "--configfile", str(CI_CONFIG)
    )
    planned = {
        line.split()[0]
        for line in result.stdout.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    }
    assert planned - {"total"} <= {"summarize", "bundle", "all"}, result.stdout


@pytest.mark.slow
def test_the_five_member_bundle_scores_as_the_workflow(member_run, tmp_path):
    from test_score import CLI

    from deepfake_ensemble.evaluate.metrics import video_scores
    from deepfake_ensemble.io import read_json
    from deepfake_ensemble.predictions import read_predictions

    res = member_run / "results"
    split = pd.read_csv(res / "splits/test.csv", dtype=str)
    out = tmp_path / "scores.csv"
    # the member's class is imported where the bundle scores: tests/ on the path
    result = subprocess.run(
        [str(CLI), "score", "--bundle", str(res / "bundle"), *split["path"]]
        + ["-o", str(out), "--device", "cpu"],
        capture_output=True,
        text=True,
        cwd=member_run,
        timeout=900,
        env={**SNAKEMAKE_ENV, **FIXTURE_ENV},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    table = pd.read_csv(out, keep_default_na=False, na_values=[""])
    table = table.merge(
        split.rename(columns={"path": "video"})[["video", "video_id"]], on="video"
    ).set_index("video_id")
    assert (table["status"] == "ok").all() and len(table) == len(split)
    bundle = read_json(res / "bundle/bundle.json")
    assert len(bundle["members"]) == 5
    for model in bundle["members"]:
        frames = read_predictions(res / f"predictions/pooled/{model}/test.csv")
        expected = video_scores(frames).set_index("video_id")["score"]
        diff = np.abs(table[model] - expected.reindex(table.index))
        assert diff.max() < 1e-5, (model, diff.max())
    for name in bundle["ensembles"]:
        ens = res / "ensembles/pooled" / name / "test/pooled"
        expected = video_scores(read_predictions(ens / "test_frames.csv"))
        diff = np.abs(table[name] - expected.set_index("video_id")["score"])
        assert diff.max() < 1e-5, (name, diff.max())


def test_the_modern_config_plans_the_b4_member_and_the_ensembles_over_it(tmp_path):
    """config/modern.yaml over config/study.yaml: valid, and its dry run
    fetches the pinned AdvProp start, trains the EfficientNet-B4 on
    self-blended fakes at 380 px and builds the ensembles over all five
    members beside the study's, which keep the study's four."""
    from deepfake_ensemble.ingest.synthetic import synthetic_manifest, write_split_tree

    write_split_tree(tmp_path, synthetic_manifest(60))
    jobs = planned_jobs(
        tmp_path, ROOT / "config/study.yaml", ROOT / "config/modern.yaml"
    )
    by_id = {j["id"]: j for j in jobs}
    (train,) = [
        j for j in jobs if j["rule"] == "train" and j["wildcards"]["model"] == "sbi_b4"
    ]
    weights = "resources/weights/tf_efficientnet_b4_ap-dedb23e6.pth"
    assert weights in train["input"]
    assert any(
        by_id[d]["rule"] == "fetch_weights_file" and weights in by_id[d]["output"]
        for d in train["deps"]
    )
    # its synthesised fakes are drawn into the report
    assert [j["rule"] for j in jobs].count("synthesis_sheet") == 1
    models = sorted([*MODEL_NAMES, "sbi_b4"])
    planned = ensemble_inputs(jobs)
    assert {name for _, name in planned} == set(ENSEMBLES) | set(MEMBER_ENSEMBLES)
    for (_, name), members in planned.items():
        assert members == (models if name in MEMBER_ENSEMBLES else sorted(MODEL_NAMES))
    config = yaml.safe_load((ROOT / "config/modern.yaml").read_text())
    b4 = config["models"]["sbi_b4"]
    assert (b4["input_size"], b4["batch_size"], b4["fakes"]) == (
        380,
        32,
        "self_blended",
    )
    check_config({"models": config["models"]})


def test_a_members_job_resources_are_its_own_and_grow_with_the_attempt(tmp_path):
    """models.<m>.resources: the member's training and prediction jobs ask
    for its memory and time limit (the schema's defaults for the others),
    the time limit times the attempt."""
    from deepfake_ensemble.defaults import DEFAULTS
    from deepfake_ensemble.members import member_resource

    models = {"b4": {"kind": "timm", "resources": {"train_runtime": 4320}}}
    assert member_resource(models, "b4", "train_runtime", 2) == 8640
    assert (
        member_resource(models, "b4", "train_mem_mb")
        == 32000
        == (DEFAULTS["models.<model>.resources.train_mem_mb"])
    )
    assert member_resource(models, "capsule", "predict_runtime", 3) == 3 * 120
    declared = overlay(
        tmp_path,
        {
            "mynet": {
                **MODULE_MEMBER,
                "resources": {"train_mem_mb": 64000, "train_runtime": 4320},
            },
            "xception": {"resources": {"predict_mem_mb": 8000}},
        },
    )
    result = snakemake(
        tmp_path,
        "-n",
        "--printshellcmds",
        "--configfile",
        str(CI_CONFIG),
        str(declared),
        env=FIXTURE_ENV,
    )
    jobs = {}
    rule = None
    for line in result.stdout.splitlines():
        match = re.match(r"^(?:local)?rule (\w+):$", line)
        if match:
            rule, wildcards = match.group(1), ""
        elif rule and line.strip().startswith("wildcards:"):
            wildcards = line.strip()
        elif rule and line.strip().startswith("resources:"):
            model = re.search(r"model=(\w+)", wildcards)
            if rule in ("train", "predict") and model:
                res = dict(re.findall(r"(\w+)=([^,\s]+)", line.split(":", 1)[1]))
                jobs[(rule, model.group(1))] = (int(res["mem_mb"]), int(res["runtime"]))
    assert jobs[("train", "mynet")] == (64000, 4320)
    assert jobs[("train", "capsule")] == (32000, 1440)
    assert jobs[("predict", "xception")] == (8000, 120)
    assert jobs[("predict", "mynet")] == (16000, 120)


def test_the_synthesis_sheet_is_drawn_on_the_demo_and_beside_synthesised_fakes():
    from deepfake_ensemble.members import draws_synthesis_sheet

    study = {"demo": {"generate": False}, "models": {"capsule": {}}}
    assert not draws_synthesis_sheet(study, MODEL_NAMES)
    assert draws_synthesis_sheet({**study, "demo": {"generate": True}}, MODEL_NAMES)
    b4 = {"models": {"b4": {"kind": "timm", "fakes": "self_blended"}}}
    assert draws_synthesis_sheet(b4, ["capsule", "b4"])
    # a disabled member draws nothing
    assert not draws_synthesis_sheet(b4, ["capsule"])
    assert not draws_synthesis_sheet(
        {"models": {"dsp_fwa": {"fakes": "dataset"}}}, ["dsp_fwa"]
    )


def test_the_throughput_benchmark_measures_a_declared_member(tmp_path):
    """benchmarks/train_throughput.py --configfile builds a declared member as
    training does and writes its own block (no rates file)."""
    config = overlay(tmp_path, {"mynet": MODULE_MEMBER})
    page = tmp_path / "page.md"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "train_throughput.py")]
        + ["--configfile", str(config), "--models", "mynet", "--size", "0"]
        + ["--batch", "2", "--steps", "1", "--write", str(page)],
        capture_output=True,
        text=True,
        env={**SNAKEMAKE_ENV, **FIXTURE_ENV},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = page.read_text()
    assert "<!-- member-throughput:begin -->" in text
    assert "train-throughput" not in text
    (row,) = [line for line in text.splitlines() if line.startswith("| mynet (2)")]
    # the member's own input size (--size 0), a positive rate
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "32" and float(cells[2].replace(",", "")) > 0


def test_the_cross_dataset_demo_overlay_adds_a_self_blended_member(tmp_path):
    """config/demo_cross_sbi.yaml: the member trains on each demo dataset's
    own real faces with self-blended fakes and joins the ensembles over
    every member of each training set."""
    jobs = planned_jobs(
        tmp_path,
        ROOT / "config/demo_cross.yaml",
        ROOT / "config/demo_cross_sbi.yaml",
    )
    train = {
        j["wildcards"]["train_set"]: j
        for j in jobs
        if j["rule"] == "train" and j["wildcards"]["model"] == "sbi"
    }
    assert set(train) == {"demo_a", "demo_b"}
    for train_set, job in train.items():
        assert f"results/shards/{train_set}/train" in job["input"]
    planned = ensemble_inputs(jobs)
    members = sorted([*MODEL_NAMES, "sbi"])
    assert {name for _, name in planned} >= set(MEMBER_ENSEMBLES)
    assert all(
        v == members for (_, name), v in planned.items() if name in MEMBER_ENSEMBLES
    )
    assert [j["rule"] for j in jobs].count("synthesis_sheet") == 1
