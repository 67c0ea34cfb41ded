"""Capsule-Forensics v2 (Nguyen, Yamagishi and Echizen, 2019).

Architecture, as in the authors' release:

* stem: VGG19 ``features[:19]`` (up to the third max-pool, 256 channels,
  stride 8). The authors keep it frozen (ImageNet weights, no gradient); here
  ``freeze_stem=True`` does the same (training then refuses to start unless
  the stem's weights are loaded from a file), ``False`` trains it too.
* 10 primary capsules, each Conv(256->64, 3)+BN+ReLU, Conv(64->16, 3)+BN+ReLU,
  statistical pooling (per-channel mean and unbiased std -> 2 x 16),
  Conv1d(2->8, 5, stride 2)+BN, Conv1d(8->1, 3)+BN -> an 8-d vector.
* squash. As in the authors' code the squash runs over the stacked capsule
  axis of the ``B x 8 x 10`` tensor; kept so their checkpoints give the same
  outputs.
* dynamic routing (2 iterations) to 2 output capsules of dimension 4, with
  Gaussian noise (std 0.01) added to the routing weights and dropout (0.05,
  unscaled) on the predictions while training.
* outputs: ``B x 4 x 2`` routed activations (one class vector per output
  dimension). ``loss`` = cross-entropy summed over the 4 dimensions, applied
  to the softmax of the activations as the original does; ``scores`` = the
  softmax averaged over the dimensions.

Works at the original 300 px and at small inputs (any side >= 24 px).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import FRAMES, Detector, ModelSpec, register, vgg_features


def squash(t: torch.Tensor, dim: int, eps: float = 1e-12) -> torch.Tensor:
    sq = (t**2).sum(dim=dim, keepdim=True)
    return sq / (1 + sq) * t / torch.sqrt(sq + eps)


class PrimaryCapsule(nn.Module):
    def __init__(self, in_channels: int = 256) -> None:
        super().__init__()
        self.conv_a = nn.Conv2d(in_channels, 64, 3, padding=1)
        self.bn_a = nn.BatchNorm2d(64)
        self.conv_b = nn.Conv2d(64, 16, 3, padding=1)
        self.bn_b = nn.BatchNorm2d(16)
        self.proj_a = nn.Conv1d(2, 8, 5, stride=2, padding=2)
        self.proj_bn_a = nn.BatchNorm1d(8)
        self.proj_b = nn.Conv1d(8, 1, 3, padding=1)
        self.proj_bn_b = nn.BatchNorm1d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn_a(self.conv_a(x)))
        x = F.relu(self.bn_b(self.conv_b(x)))
        flat = x.flatten(2)  # B x 16 x HW
        stats = torch.stack((flat.mean(2), flat.std(2)), dim=1)  # B x 2 x 16
        y = self.proj_bn_a(self.proj_a(stats))
        y = self.proj_bn_b(self.proj_b(y))  # B x 1 x 8
        return y.flatten(1)


class CapsuleForensics(Detector):
    input_kind = FRAMES

    def __init__(
        self,
        num_capsules: int = 10,
        num_classes: int = 2,
        out_dim: int = 4,
        routing_iterations: int = 2,
        routing_noise: float = 0.01,
        routing_dropout: float = 0.05,
        freeze_stem: bool = True,
    ) -> None:
        super().__init__()
        self.stem = vgg_features(19, end=19)
        self.freeze_stem = bool(freeze_stem)
        if self.freeze_stem:
            self.stem.requires_grad_(False)
        self.primary = nn.ModuleList(PrimaryCapsule() for _ in range(num_capsules))
        self.route_weights = nn.Parameter(
            torch.randn(num_classes, num_capsules, out_dim, 8)
        )
        self.routing_iterations = routing_iterations
        self.routing_noise = routing_noise
        self.routing_dropout = routing_dropout
        for m in self.primary.modules():
            if isinstance(m, nn.Conv2d | nn.Conv1d):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor, mask=None) -> torch.Tensor:
        feats = self.stem(x)
        if self.freeze_stem:
            feats = feats.detach()
        u = torch.stack([cap(feats) for cap in self.primary], dim=-1)  # B x 8 x N
        u = squash(u, dim=-1).transpose(1, 2)  # B x N x 8
        w = self.route_weights
        if self.training and self.routing_noise > 0:
            w = w + self.routing_noise * torch.randn_like(w)
        priors = torch.einsum("oidj,bij->boid", w, u)  # B x C x N x D
        if self.training and self.routing_dropout > 0:
            keep = torch.full_like(priors, 1.0 - self.routing_dropout)
            priors = priors * torch.bernoulli(keep)
        logits = torch.zeros_like(priors)
        for i in range(self.routing_iterations):
            probs = torch.softmax(logits, dim=2)
            v = squash((probs * priors).sum(dim=2, keepdim=True), dim=3)
            if i < self.routing_iterations - 1:
                logits = logits + priors * v
        return v.squeeze(2).transpose(1, 2)  # B x D x C

    @property
    def frozen_prefixes(self) -> tuple[str, ...]:
        """State-dict prefixes training never changes: they must be loaded
        from a file (see ``models.weights.start_model``)."""
        return ("stem.",) if self.freeze_stem else ()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze_stem:
            self.stem.eval()
        return self

    @staticmethod
    def loss(outputs, target, mask=None):
        classes = torch.softmax(outputs.float(), dim=-1)
        return sum(
            F.cross_entropy(classes[:, d, :], target) for d in range(classes.shape[1])
        )

    @staticmethod
    def logits(outputs, mask=None):
        return torch.log(torch.softmax(outputs.float(), dim=-1).mean(1) + 1e-12)

    @staticmethod
    def scores(outputs, mask=None):
        return torch.softmax(outputs.float(), dim=-1).mean(1)[:, 1]


SPEC = register(
    ModelSpec(
        name="capsule",
        input_kind=FRAMES,
        input_size=300,
        normalisation="imagenet",
        optimizer={"name": "adam", "lr": 5e-4, "betas": [0.9, 0.999]},
        scheduler=None,
        epochs=25,
        batch_size=64,
        early_stopping=None,
        builder=CapsuleForensics,
        default_kwargs={
            "num_capsules": 10,
            "num_classes": 2,
            "out_dim": 4,
            "routing_iterations": 2,
            "routing_noise": 0.01,
            "routing_dropout": 0.05,
            "freeze_stem": True,
        },
        description="Capsule-Forensics v2: VGG19 stem, 10 primary capsules, "
        "dynamic routing to 2 x 4-d output capsules",
    )
)
