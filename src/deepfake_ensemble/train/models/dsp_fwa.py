"""DSP-FWA (Li and Lyu, CVPRW 2019): ResNet-50 with spatial pyramid pooling.

The ResNet-50 convolutional body (torchvision layout, random weights unless a
checkpoint is loaded) feeds layer4 (2048 channels) into max-pooling on 1x1,
2x2 and 6x6 grids; the 2048 x 41 pooled features go through one linear layer
to two classes. Pooling is adaptive, so any input from 32 px up works; at the
original 224 px (7 x 7 layer4 map) adaptive max-pooling covers exactly the
same windows as the authors' fixed kernel/stride rule (ceil/floor of 7/n).

The authors' face-warping negatives (synthesised from real faces) are not
part of this model; the workflow trains it on the dataset's real and fake
faces, as the study did.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet50

from .base import FRAMES, Detector, ModelSpec, register


class ResNetBody(nn.Module):
    """torchvision ResNet-50 without its average pool and classifier."""

    def __init__(self) -> None:
        super().__init__()
        net = resnet50(weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = (
            net.conv1,
            net.bn1,
            net.relu,
            net.maxpool,
        )
        self.layer1, self.layer2 = net.layer1, net.layer2
        self.layer3, self.layer4 = net.layer3, net.layer4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class DSPFWA(Detector):
    input_kind = FRAMES

    def __init__(self, pool_sizes=(1, 2, 6), num_classes: int = 2) -> None:
        super().__init__()
        self.pool_sizes = tuple(int(p) for p in pool_sizes)
        self.body = ResNetBody()
        n_feat = 2048 * sum(p * p for p in self.pool_sizes)
        self.classifier = nn.Linear(n_feat, num_classes)

    def forward(self, x: torch.Tensor, mask=None) -> torch.Tensor:
        f = self.body(x)
        pooled = [F.adaptive_max_pool2d(f, p).flatten(1) for p in self.pool_sizes]
        return self.classifier(torch.cat(pooled, dim=1))


SPEC = register(
    ModelSpec(
        name="dsp_fwa",
        input_kind=FRAMES,
        input_size=224,
        normalisation="imagenet",
        optimizer={"name": "sgd", "lr": 1e-4, "momentum": 0.9, "weight_decay": 1e-3},
        scheduler={"name": "plateau", "factor": 0.95, "min_lr": 1e-5, "patience": 10},
        epochs=20,
        batch_size=56,
        early_stopping=None,
        builder=DSPFWA,
        default_kwargs={"pool_sizes": [1, 2, 6], "num_classes": 2},
        description="DSP-FWA: ResNet-50 body, spatial pyramid max-pooling "
        "(1, 2, 6) -> 2048 x 41 -> linear",
    )
)
