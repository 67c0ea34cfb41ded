"""How each detector starts: the pinned catalogue of backbone files, the
config rules of ``weights`` / ``pretrained``, and the start record.

Standard library only: the Snakefile (``rules/train.smk``), the fetch and
training jobs (``envs/train.yaml``) and the summary (``envs/ensemble.yaml``,
no torch) all read it.

The catalogue
    :data:`CATALOG` maps a file name to a :class:`WeightsFile`: where the
    publisher serves it, the SHA-256 it must have, which detector it starts
    and the input normalisation it was trained with. The URLs and hashes come
    from the installed libraries (``tests/test_pretrained.py`` checks them
    against torchvision's weight enums and timm's pretrained config):
    torchvision and timm publish a SHA-256 *prefix* in the file name (the part
    after the last ``-``, which ``torch.hub``'s ``check_hash`` verifies), and
    that prefix is what is pinned. A full SHA-256 may replace a prefix; rule
    ``fetch_weights`` writes the full hash of every fetched file to
    ``resources/weights/SHA256SUMS``.

    The authors' own checkpoints (Capsule-Forensics ``capsule_21.pt``,
    DSP-FWA ``SPP-res50.pth``, FaceForensics++ ``all_c23.p``) have no stable
    URL: they are user-supplied files (see resources/README.md).

The config rules (:func:`resolve_model_starts`)
    ``pretrained`` defaults to ``required`` when ``weights`` is set and to
    ``none`` when it is not; ``weights`` with ``pretrained: none`` is an
    error (nothing is dropped silently), as is ``required`` without
    ``weights``, a catalogue file given to a detector it does not fit, and a
    frozen Capsule stem with no weights to freeze.

The start record (``results/models/{train_set}/{model}/start.json``)
    written by training, read by the summary: the files loaded, their
    SHA-256, how many tensors each filled, left missing or did not use, and
    the input normalisation that follows from them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import InputError
from .layout import MODEL_NAMES

README = "resources/README.md"
#: where rule fetch_weights_file puts the catalogue's files (relative to the
#: working directory)
WEIGHTS_DIR = "resources/weights"
#: the full SHA-256 of every fetched file, written by rule fetch_weights
CHECKSUMS_NAME = "SHA256SUMS"
#: the start record written beside best.pt
START_NAME = "start.json"
PRETRAINED_CHOICES = ("none", "optional", "required")
NORMALISATION_NAMES = ("imagenet", "half", "raw255", "unit")
MIRROR_KEY = "weights_mirror"


@dataclass(frozen=True)
class WeightsFile:
    """One pretrained file the workflow can fetch and check.

    ``sha256`` is the full hash or the prefix the publisher gives (8+ hex
    digits); ``requires`` holds model kwargs the file needs (the In Ictu Oculi
    VGG16 with or without BatchNorm).
    """

    name: str
    url: str
    sha256: str
    models: tuple[str, ...]
    normalisation: str
    source: str
    requires: tuple[tuple[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["models"] = list(self.models)
        d["requires"] = dict(self.requires)
        return d

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any]) -> WeightsFile:
        return cls(
            name=name,
            url=str(d["url"]),
            sha256=str(d["sha256"]).lower(),
            models=tuple(d["models"]),
            normalisation=str(d["normalisation"]),
            source=str(d.get("source", "")),
            requires=tuple(dict(d.get("requires") or {}).items()),
        )


_TV = "https://download.pytorch.org/models/"

#: file name -> what it is; URLs and hash prefixes from torchvision 0.29's
#: weight enums and timm 1.0's pretrained config (see the module docstring)
CATALOG: dict[str, WeightsFile] = {
    f.name: f
    for f in (
        WeightsFile(
            name="vgg19-dcbb9e9d.pth",
            url=_TV + "vgg19-dcbb9e9d.pth",
            sha256="dcbb9e9d",
            models=("capsule",),
            normalisation="imagenet",
            source="torchvision VGG19_Weights.IMAGENET1K_V1",
        ),
        WeightsFile(
            name="resnet50-0676ba61.pth",
            url=_TV + "resnet50-0676ba61.pth",
            sha256="0676ba61",
            models=("dsp_fwa",),
            normalisation="imagenet",
            source="torchvision ResNet50_Weights.IMAGENET1K_V1",
        ),
        WeightsFile(
            name="vgg16-397923af.pth",
            url=_TV + "vgg16-397923af.pth",
            sha256="397923af",
            models=("ictu_oculi",),
            normalisation="imagenet",
            source="torchvision VGG16_Weights.IMAGENET1K_V1",
            requires=(("batch_norm", False),),
        ),
        WeightsFile(
            name="vgg16_bn-6c64b313.pth",
            url=_TV + "vgg16_bn-6c64b313.pth",
            sha256="6c64b313",
            models=("ictu_oculi",),
            normalisation="imagenet",
            source="torchvision VGG16_BN_Weights.IMAGENET1K_V1",
            requires=(("batch_norm", True),),
        ),
        WeightsFile(
            name="xception-43020ad28.pth",
            url=(
                "https://github.com/rwightman/pytorch-image-models/releases/"
                "download/v0.1-cadene/xception-43020ad28.pth"
            ),
            # the hex part of the published file name, as torch.hub's
            # check_hash reads it (not confirmed against a download here)
            sha256="43020ad28",
            models=("xception",),
            normalisation="half",
            source="timm legacy_xception.tf_in1k (pretrained_cfg url)",
        ),
        # EfficientNet-B4 with AdvProp, the ImageNet start of Self-Blended
        # Images (its code: EfficientNet.from_pretrained(advprop=True)); a
        # timm member with backbone tf_efficientnet_b4 reads it
        WeightsFile(
            name="tf_efficientnet_b4_ap-dedb23e6.pth",
            url=(
                "https://github.com/rwightman/pytorch-image-models/releases/"
                "download/v0.1-weights/tf_efficientnet_b4_ap-dedb23e6.pth"
            ),
            # the hex part of the published file name, as torch.hub's
            # check_hash reads it (not confirmed against a download here)
            sha256="dedb23e6",
            models=("timm",),
            normalisation="half",
            source="timm tf_efficientnet_b4.ap_in1k (pretrained_cfg url)",
        ),
    )
}

#: the ImageNet backbone each detector starts from in the real-dataset configs
BACKBONES: dict[str, str] = {
    "capsule": "vgg19-dcbb9e9d.pth",
    "dsp_fwa": "resnet50-0676ba61.pth",
    "ictu_oculi": "vgg16-397923af.pth",
    "xception": "xception-43020ad28.pth",
}

#: normalisation of a file that is not in the catalogue (the authors'
#: checkpoints, converted FaceForensics++ weights, a project checkpoint):
#: what that detector's readable releases were trained with
CHECKPOINT_NORMALISATION: dict[str, str] = {
    "capsule": "imagenet",  # Capsule-Forensics v2: ImageNet mean/std
    "dsp_fwa": "imagenet",  # this project's convention (see resources/README.md)
    "ictu_oculi": "imagenet",  # only torchvision's VGG16 layout is readable
    "xception": "half",  # FaceForensics++ / timm: mean/std 0.5
}

#: model kwargs this module must know (the registry's defaults; a test checks)
KWARG_DEFAULTS: dict[str, dict[str, Any]] = {
    "capsule": {"freeze_stem": True},
    "ictu_oculi": {"batch_norm": False},
}


# -- hashes ----------------------------------------------------------------------
def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def hash_matches(actual: str, pinned: str) -> bool:
    """Whether a full SHA-256 agrees with a pinned hash or hash prefix."""
    return bool(pinned) and actual.lower().startswith(pinned.lower())


def show_pin(pinned: str) -> str:
    return pinned if len(pinned) == 64 else f"{pinned}... (prefix)"


# -- catalogue -------------------------------------------------------------------
def read_catalog(path: str | os.PathLike) -> dict[str, WeightsFile]:
    """Further fetchable files from a JSON file ``{"<name>": {"url", "sha256",
    "models", "normalisation", "source"?, "requires"?}}`` (config key
    ``weights_catalog``). It may add files, never change a shipped pin."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"config key weights_catalog: {path} not found") from None
    except json.JSONDecodeError as e:
        raise InputError(f"config key weights_catalog: {path} is not JSON ({e})") from e
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected an object of file name -> entry")
    out = {}
    for name, entry in data.items():
        where = f"{path}: entry {name!r}"
        if name in CATALOG:
            raise InputError(f"{where} would replace the shipped pin of {name}")
        if "/" in name or not re.fullmatch(r"[\w.+-]+", name):
            raise InputError(f"{where}: a plain file name is expected")
        missing = {"url", "sha256", "models", "normalisation"} - set(entry)
        if missing:
            raise InputError(f"{where}: missing {sorted(missing)}")
        f = WeightsFile.from_dict(name, entry)
        if not re.fullmatch(r"[0-9a-f]{8,64}", f.sha256):
            raise InputError(f"{where}: sha256 must be 8 to 64 hex digits")
        if not all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", m) for m in f.models):
            raise InputError(
                f"{where}: models must be member names or kinds "
                f"(e.g. {', '.join(MODEL_NAMES)}, timm, module)"
            )
        if f.normalisation not in NORMALISATION_NAMES:
            raise InputError(f"{where}: normalisation must be in {NORMALISATION_NAMES}")
        out[name] = f
    return out


def load_catalog(extra: str | os.PathLike | None = None) -> dict[str, WeightsFile]:
    """The shipped catalogue, plus the entries of ``extra`` when given."""
    cat = dict(CATALOG)
    if extra:
        cat.update(read_catalog(extra))
    return cat


def source_url(entry: WeightsFile, mirror: str | None = None) -> str:
    """The publisher's URL, or the same file name under ``mirror``."""
    if not mirror:
        return entry.url
    if not re.match(r"^(https?|file)://", mirror):
        raise InputError(
            f"config key {MIRROR_KEY}: {mirror!r} must start with http://, "
            f"https:// or file://"
        )
    return mirror.rstrip("/") + "/" + entry.name


def fetch_path(name: str) -> str:
    return f"{WEIGHTS_DIR}/{name}"


def fetchable(path: str, catalog: Mapping[str, WeightsFile]) -> WeightsFile | None:
    """The catalogue entry rule fetch_weights_file makes ``path`` from, if any
    (a catalogue file name under ``resources/weights/``)."""
    p = os.path.normpath(path)
    if os.path.dirname(p) == WEIGHTS_DIR:
        return catalog.get(os.path.basename(p))
    return None


# -- config rules ----------------------------------------------------------------
def weights_list(weights: Any) -> list[str]:
    """``models.<name>.weights`` (a path, a list of paths or nothing) as a list."""
    if weights is None or weights == "":
        return []
    if isinstance(weights, str | os.PathLike):
        return [os.fspath(weights)]
    return [os.fspath(w) for w in weights if w not in (None, "")]


def default_pretrained(weights: Any) -> str:
    return "required" if weights_list(weights) else "none"


def example_weights(name: str, kwargs: Mapping[str, Any] | None = None) -> str:
    """A file that starts detector ``name`` as the study did."""
    if name == "ictu_oculi" and (kwargs or {}).get("batch_norm"):
        return fetch_path("vgg16_bn-6c64b313.pth")
    return fetch_path(BACKBONES.get(name, "..."))


def check_model_start(
    name: str,
    cfg: Mapping[str, Any],
    catalog: Mapping[str, WeightsFile] | None = None,
    check_frozen: bool = True,
) -> str:
    """Check one model's ``weights`` / ``pretrained`` / frozen modules and
    return the effective ``pretrained``. Raises :class:`InputError` naming
    the key. ``check_frozen=False`` leaves the frozen Capsule stem to the
    check on the loaded tensors (``models.weights.start_model``)."""
    catalog = CATALOG if catalog is None else catalog
    files = weights_list(cfg.get("weights"))
    pretrained = cfg.get("pretrained") or default_pretrained(files)
    kwargs = {**KWARG_DEFAULTS.get(name, {}), **(cfg.get("kwargs") or {})}
    key = f"models.{name}"
    if pretrained not in PRETRAINED_CHOICES:
        raise InputError(
            f"config key {key}.pretrained: must be one of {PRETRAINED_CHOICES}, "
            f"not {pretrained!r}"
        )
    if pretrained == "none" and files:
        raise InputError(
            f"config key {key}.pretrained: model {name} has 'pretrained: none', "
            f"which would ignore {key}.weights ({', '.join(files)})\n"
            f"  fix: remove {key}.weights, or set {key}.pretrained: required"
        )
    if pretrained == "required" and not files:
        raise InputError(
            f"config key {key}.weights: not set, but {key}.pretrained is "
            f"'required'\n  expected: e.g. {example_weights(name, kwargs)} "
            f"(fetched by rule fetch_weights; see {README})"
        )
    for path in files:
        entry = catalog.get(os.path.basename(path))
        if entry is None:
            continue
        if name not in entry.models and cfg.get("kind", name) not in entry.models:
            raise InputError(
                f"config key {key}.weights: {entry.name} ({entry.source}) "
                f"starts {', '.join(entry.models)}, not {name}"
            )
        for kwarg, value in entry.requires:
            if bool(kwargs.get(kwarg)) != bool(value):
                raise InputError(
                    f"config key {key}.kwargs.{kwarg}: {entry.name} needs "
                    f"{kwarg}: {str(value).lower()}\n  expected: "
                    f"{example_weights(name, kwargs)} for "
                    f"{kwarg}: {str(kwargs.get(kwarg)).lower()}"
                )
    if (
        check_frozen
        and name == "capsule"
        and kwargs.get("freeze_stem")
        and (pretrained == "none" or not files)
    ):
        raise InputError(
            f"config key {key}.kwargs.freeze_stem: the VGG19 stem is frozen "
            f"(the default, as in the original) but no weights are loaded into "
            f"it: it would stay random\n  fix: set {key}.weights: "
            f"{example_weights(name)}, or {key}.kwargs.freeze_stem: false to "
            f"train the stem from random weights"
        )
    return pretrained


def resolve_model_starts(
    config: dict[str, Any],
    models: Iterable[str],
    catalog: Mapping[str, WeightsFile] | None = None,
) -> dict[str, list[str]]:
    """Check the start of every model in ``models`` and fill in
    ``config["models"][name]["pretrained"]`` (in place). Returns model ->
    the weights files its training reads (empty for a random start)."""
    out = {}
    for name in models:
        cfg = config.setdefault("models", {}).get(name)
        if cfg is None:
            check_model_start(name, {}, catalog)
            out[name] = []
            continue
        cfg["pretrained"] = check_model_start(name, cfg, catalog)
        files = weights_list(cfg.get("weights"))
        out[name] = [] if cfg["pretrained"] == "none" else files
    return out


def start_normalisation(
    name: str,
    weights: Any,
    pretrained: str,
    default: str,
    catalog: Mapping[str, WeightsFile] | None = None,
) -> tuple[str, str]:
    """The input normalisation a model starting from ``weights`` needs, and
    why: the catalogue's entry for a known file, the detector's release
    convention for another file, the model's own default for a random start.
    Files that disagree are an error."""
    catalog = CATALOG if catalog is None else catalog
    files = [] if pretrained == "none" else weights_list(weights)
    if not files:
        return default, "random start: the model's default"
    found = {}
    for path in files:
        base = os.path.basename(path)
        entry = catalog.get(base)
        if entry is not None:
            found[base] = (entry.normalisation, entry.source)
        elif name in CHECKPOINT_NORMALISATION:
            found[base] = (CHECKPOINT_NORMALISATION[name], f"a {name} release")
        else:  # a declared member's own file: its default
            found[base] = (default, f"the {name} member's default")
    norms = {n for n, _ in found.values()}
    if len(norms) > 1:
        detail = ", ".join(f"{b}: {n}" for b, (n, _) in found.items())
        raise InputError(
            f"models.{name}.weights: the files expect different input "
            f"normalisations ({detail}); set models.{name}.normalisation"
        )
    norm = norms.pop()
    return norm, "; ".join(f"{b} ({src})" for b, (_, src) in found.items())


# -- the start record and its table ----------------------------------------------
START_COLUMNS = (
    "model",
    "pretrained",
    "file",
    "sha256",
    "source",
    "loaded",
    "missing",
    "unused",
    "random_tensors",
    "normalisation",
)


def start_rows(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per file a model loaded (one row for a random start)."""
    base = {
        "model": record["model"],
        "pretrained": record["pretrained"],
        "random_tensors": record["random"],
        "normalisation": record["normalisation"],
    }
    files = record.get("files") or []
    if not files:
        return [
            {
                **base,
                "file": "(random initialisation)",
                "sha256": "",
                "source": "",
                "loaded": 0,
                "missing": record["tensors"],
                "unused": 0,
            }
        ]
    return [
        {
            **base,
            "file": f["file"],
            "sha256": f["sha256"],
            "source": f.get("source", ""),
            "loaded": f["loaded"],
            "missing": f["missing"],
            "unused": f["unused"],
        }
        for f in files
    ]


def start_table_rows(records: Mapping[str, Mapping[str, Any]]) -> list[dict]:
    """The start-up table of several models (columns :data:`START_COLUMNS`)."""
    rows = []
    for name in records:
        rows.extend(start_rows(records[name]))
    return [{c: r[c] for c in START_COLUMNS} for r in rows]


def start_markdown(rows: Iterable[Mapping[str, Any]]) -> str:
    """A markdown table of start rows (hash shortened to 12 digits)."""
    cols = [c for c in START_COLUMNS if c != "source"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        cells = []
        for c in cols:
            v = r[c]
            if c == "sha256" and v:
                v = str(v)[:12]
            elif c == "file" and v and not str(v).startswith("("):
                v = f"`{os.path.basename(str(v))}`"
            cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
