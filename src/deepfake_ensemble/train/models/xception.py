"""XceptionNet as used by FaceForensics++ (Roessler et al., ICCV 2019).

timm's ``legacy_xception`` (the Keras-port Xception used by FaceForensics++,
same layer names) with a two-class ``fc`` head, built with random weights.
Original input 299 px with mean/std 0.5; inputs from 48 px up work (a 32 px
input leaves a 1 x 1 map before the last BatchNorm, which fails for batch 1).
"""

from __future__ import annotations

import torch

from .base import FRAMES, Detector, ModelSpec, register


class Xception(Detector):
    input_kind = FRAMES

    def __init__(self, num_classes: int = 2, drop_rate: float = 0.0) -> None:
        # timm is imported where a model is built (0.5 s of every job's start
        # otherwise, also of the jobs of the other detectors)
        import timm

        super().__init__()
        self.net = timm.create_model(
            "legacy_xception",
            pretrained=False,
            num_classes=num_classes,
            drop_rate=drop_rate,
        )

    def forward(self, x: torch.Tensor, mask=None) -> torch.Tensor:
        return self.net(x)


SPEC = register(
    ModelSpec(
        name="xception",
        input_kind=FRAMES,
        input_size=299,
        normalisation="half",
        optimizer={"name": "adam", "lr": 1e-5, "betas": [0.5, 0.999]},
        scheduler=None,
        epochs=18,
        batch_size=40,
        early_stopping=10,
        builder=Xception,
        default_kwargs={"num_classes": 2, "drop_rate": 0.0},
        description="XceptionNet (FaceForensics++): timm legacy_xception, 2-class head",
    )
)
