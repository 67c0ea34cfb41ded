"""The evaluation rules' code runs without the deep-learning stack.

``evaluate_model``, ``ensemble`` and ``summarize`` run in ``envs/ensemble.yaml``
(numpy, pandas, scipy, scikit-learn, matplotlib, pillow only). Their modules
must not import torch & co., not even lazily on the way to a plot.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "timm", "torchvision", "tqdm", "h5py")
LIGHT = (
    "deepfake_ensemble.evaluate.ensemble",
    "deepfake_ensemble.evaluate.metrics",
    "deepfake_ensemble.evaluate.stats",
    "deepfake_ensemble.evaluate.summary",
    "deepfake_ensemble.predictions",
    "deepfake_ensemble.layout",
    "deepfake_ensemble.pretrained",
    "deepfake_ensemble.evaluate.videos",
    "deepfake_ensemble.evaluate.cross_dataset",
    "deepfake_ensemble.protocols",
    "deepfake_ensemble.evaluate.cues",
    "deepfake_ensemble.evaluate.jobs",
)

SCRIPT = """
import importlib, json, sys, tempfile
from pathlib import Path

import pandas as pd

for name in {light!r}:
    importlib.import_module(name)

from deepfake_ensemble.predictions import HISTORY_COLUMNS
from deepfake_ensemble.evaluate.summary import plot_training_curves

history = pd.DataFrame(
    [
        [1, 0.7, 0.7, 0.6, 0.62, 1e-4, 10.0, None, 4],
        [2, 0.5, 0.6, 0.7, 0.75, 1e-4, 9.5, None, 4],
    ],
    columns=list(HISTORY_COLUMNS),
)
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "history.csv"
    history.to_csv(path, index=False)
    out = Path(tmp) / "curves.png"
    plot_training_curves({{"a": history, "b": path}}, out)
    assert out.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def last_json(script: str, cwd: Path, **env: str):
    """The JSON value ``script`` prints last, run in a fresh interpreter with
    the package's source on its path (``env``: variables added)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), **env)
    env.pop("PYTHONSTARTUP", None)
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_evaluation_modules_do_not_import_the_deep_learning_stack(tmp_path):
    script = SCRIPT.format(light=LIGHT, heavy=HEAVY)
    loaded = last_json(script, tmp_path, MPLBACKEND="Agg")
    assert loaded == [], f"imported by the evaluation modules: {loaded}"


def test_prediction_imports_neither_the_training_loop_nor_scikit_learn(tmp_path):
    """A prediction job (rules predict, robust_predict, score_predict) loads
    what scoring needs: not the training loop nor scikit-learn (1.3 s of
    imports a job; the training job alone computes validation AUCs)."""
    script = (
        "import json, sys\n"
        "from deepfake_ensemble.train.jobs import predict\n"
        "try:\n"
        "    predict('missing.pt', 'no-shards', 'out.csv', {'device': 'cpu'})\n"
        "except Exception as exc:\n"
        "    assert 'missing.pt' in str(exc), exc\n"
        "else:\n"
        "    raise AssertionError('predicted from a missing checkpoint')\n"
        "mods = ('sklearn', 'scipy', 'deepfake_ensemble.train.loop')\n"
        "print(json.dumps([m for m in mods if m in sys.modules]))\n"
    )
    assert last_json(script, tmp_path) == []


def test_only_the_detectors_built_on_timm_import_it(tmp_path):
    """timm (0.5 s of a job's start) is imported where an Xception or a timm
    member is built, not by the training and prediction code of the others."""
    script = (
        "import json, sys\n"
        "import deepfake_ensemble.train.jobs, deepfake_ensemble.train.loop\n"
        "from deepfake_ensemble.train.models import create_model\n"
        "for name in ('capsule', 'dsp_fwa', 'ictu_oculi'):\n"
        "    create_model(name)\n"
        "before = 'timm' in sys.modules\n"
        "create_model('xception')\n"
        "print(json.dumps([before, 'timm' in sys.modules]))\n"
    )
    assert last_json(script, tmp_path) == [False, True]
