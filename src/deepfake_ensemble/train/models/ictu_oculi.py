"""In Ictu Oculi (Li, Chang and Lyu, WIFS 2018): an LRCN over eye crops.

Per time step the two eye crops (left = landmarks 36-41, right = 42-47) go
through one shared VGG16 (torchvision ``features``) and fc6 (ReLU, dropout
0.5). Choices made here, where the paper's single-eye model needs them:

* both eyes use the same CNN; their fc6 vectors are concatenated per step
  (``eye_fusion="concat"``, the LSTM sees which eye is which) or averaged
  (``"mean"``);
* the conv map is average-pooled to ``fc6_pool x fc6_pool`` before fc6
  (adaptive, as torchvision's VGG16: 7 x 7 at 224 px, so ImageNet fc6 weights
  fit; small demo inputs may use ``fc6_pool=1`` to keep fc6 small);
* ``fc6_dim`` defaults to the paper's 4096 (VGG16 fc6 alone is then 102 M
  parameters); a CPU demo uses e.g. 64-256.
* ``batch_norm=True`` swaps in VGG16 with BatchNorm (torchvision ``vgg16_bn``)
  - not the paper's network, but a randomly initialised plain VGG16 maps all
  inputs to nearly the same features and barely trains from scratch; use it
  when no ImageNet VGG16 weights are available (e.g. the CPU demo).

An LSTM (256 hidden) runs over the sequence and a linear layer gives two-class
logits per step: outputs are ``B x T x 2``. The paper predicts eye state per
frame; here every step is trained on the video label (real/fake):
``loss`` = mean cross-entropy over the valid (unmasked) steps, and the
sequence's fake probability (``scores``) = mean of the per-step
probabilities over valid steps. Padded steps sit after the valid ones, so the
(causal) LSTM never lets them change a valid step's output.

Input normalisation follows the start (``deepfake_ensemble.pretrained``):
ImageNet mean/std with torchvision's VGG16 weights, which expect it; raw 0-255
values, as the original TensorFlow code, from random weights (the registry's
default).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import InputError
from .base import EYE_SEQUENCE, Detector, ModelSpec, register, vgg_features


def _valid(outputs: torch.Tensor, mask) -> torch.Tensor:
    if mask is None:
        return torch.ones(outputs.shape[:2], dtype=outputs.dtype, device=outputs.device)
    m = mask.to(device=outputs.device, dtype=outputs.dtype)
    return m


class IctuOculi(Detector):
    input_kind = EYE_SEQUENCE

    def __init__(
        self,
        fc6_dim: int = 4096,
        fc6_pool: int = 7,
        lstm_hidden: int = 256,
        dropout: float = 0.5,
        eye_fusion: str = "concat",
        num_classes: int = 2,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        if eye_fusion not in ("concat", "mean"):
            raise InputError(
                f"ictu_oculi: eye_fusion must be 'concat' or 'mean', not {eye_fusion!r}"
            )
        self.cnn = vgg_features(16, batch_norm=bool(batch_norm))
        self.fc6_pool = int(fc6_pool)
        self.fc6 = nn.Linear(512 * self.fc6_pool**2, fc6_dim)
        self.dropout = nn.Dropout(dropout)
        self.eye_fusion = eye_fusion
        lstm_in = fc6_dim * (2 if eye_fusion == "concat" else 1)
        self.lstm = nn.LSTM(lstm_in, lstm_hidden, batch_first=True)
        self.head = nn.Linear(lstm_hidden, num_classes)

    def forward(self, x: torch.Tensor, mask=None) -> torch.Tensor:
        if x.dim() != 6 or x.shape[2] != 2:
            raise InputError(
                "ictu_oculi expects B x T x 2 x 3 x H x W eye crops, "
                f"got {tuple(x.shape)}"
            )
        b, t = x.shape[:2]
        f = self.cnn(x.flatten(0, 2))
        f = F.adaptive_avg_pool2d(f, self.fc6_pool).flatten(1)
        f = self.dropout(F.relu(self.fc6(f)))
        f = f.view(b, t, 2, -1)
        f = f.flatten(2) if self.eye_fusion == "concat" else f.mean(2)
        h, _ = self.lstm(f)
        return self.head(h)

    @staticmethod
    def loss(outputs, target, mask=None):
        b, t, c = outputs.shape
        per_step = F.cross_entropy(
            outputs.float().reshape(b * t, c),
            target.repeat_interleave(t),
            reduction="none",
        ).view(b, t)
        m = _valid(per_step, mask)
        per_seq = (per_step * m).sum(1) / m.sum(1).clamp_min(1)
        return per_seq.mean()

    @staticmethod
    def _mean_probs(outputs, mask=None):
        p = torch.softmax(outputs.float(), dim=-1)
        m = _valid(p, mask).unsqueeze(-1)
        return (p * m).sum(1) / m.sum(1).clamp_min(1)

    @staticmethod
    def logits(outputs, mask=None):
        return torch.log(IctuOculi._mean_probs(outputs, mask) + 1e-12)

    @staticmethod
    def scores(outputs, mask=None):
        return IctuOculi._mean_probs(outputs, mask)[:, 1]


SPEC = register(
    ModelSpec(
        name="ictu_oculi",
        input_kind=EYE_SEQUENCE,
        input_size=224,
        normalisation="raw255",
        optimizer={"name": "sgd", "lr": 1e-4, "momentum": 0.9, "weight_decay": 1e-3},
        scheduler={"name": "plateau", "factor": 0.9, "min_lr": 0.0, "patience": 10},
        epochs=100,
        batch_size=40,
        early_stopping=None,
        builder=IctuOculi,
        default_kwargs={
            "fc6_dim": 4096,
            "fc6_pool": 7,
            "lstm_hidden": 256,
            "dropout": 0.5,
            "eye_fusion": "concat",
            "num_classes": 2,
            "batch_norm": False,
        },
        seq_len=20,
        description="In Ictu Oculi: LRCN, VGG16 + fc6 per eye crop, LSTM 256, "
        "per-step linear",
    )
)
