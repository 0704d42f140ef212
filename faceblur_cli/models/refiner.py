"""Fine-detail refiner: a small plain-conv stage at 1/2 resolution after the two-stage U-Net.

Not in the paper (an addition for the CPU-sized ``lite`` preset). The ``lite`` U-Net
runs at 1/4 resolution, so its 24-channel head squeezes 48 values per 4x4 block
and the finest detail it can restore is limited: its gain was +1.1 dB at 13-pixel
blur against +2.0 dB at 27 pixels, while the non-blind RL oracle gains +3.5 / +3.2.
The refiner sees the blurry input and the U-Net's output at 2x the U-Net's
resolution and adds a correction. Its last conv is zero-initialised, so adding it
to a trained model changes nothing until it trains: it can grow a model in place
(``faceblur train --init-from``) without losing what the model already learned.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import conv3x3

#: The refiner works on 2x2 pixel blocks (12 channels per image) regardless of the U-Net's fold.
REFINE_UNSHUFFLE = 2


class Refiner(nn.Module):
    """``depth`` 3x3 conv + ReLU layers of ``width`` channels on (blurry, coarse), output added to coarse."""

    def __init__(self, width: int, depth: int):
        super().__init__()
        s = REFINE_UNSHUFFLE
        self.unshuffle, self.shuffle = nn.PixelUnshuffle(s), nn.PixelShuffle(s)
        layers: list[nn.Module] = [conv3x3(6 * s * s, width), nn.ReLU(inplace=True)]
        for _ in range(depth - 1):
            layers += [conv3x3(width, width), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.out = conv3x3(width, 3 * s * s)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)  # type: ignore[arg-type]  # conv3x3 has a bias

    def forward(self, blurry: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        r = self.shuffle(self.out(self.body(self.unshuffle(torch.cat([blurry, coarse], dim=1)))))
        return torch.clamp(coarse + r, -1.0, 1.0)
