"""A member of the user's own (``kind: module``) for the tests: a tiny CNN
that follows the contract of
:class:`deepfake_ensemble.train.models.members.ModuleDetector` (a batch of
face crops in, one logit per item out)."""

from __future__ import annotations

import torch
from torch import nn


class TinyCNN(nn.Module):
    """Two convolutions, global average pooling and one logit (BatchNorm
    after the first convolution unless ``batch_norm`` is false)."""

    def __init__(self, width: int = 8, batch_norm: bool = True) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1),
            nn.BatchNorm2d(width) if batch_norm else nn.Identity(),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
        )
        self.head = nn.Linear(2 * width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


NOT_A_MODULE = 3
