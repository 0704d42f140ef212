"""PatchGAN critic of the paper: flat conv, three stride-2 convs, a final conv, sigmoid.

WGAN-GP needs the critic's *raw* score (an unbounded real number): a sigmoid
would saturate and break the Lipschitz/gradient-penalty argument. So
``forward`` returns raw scores and :meth:`PatchCritic.probability` applies the
paper's sigmoid head for anyone who wants it. No normalisation on the first
layer (as in pix2pix); InstanceNorm elsewhere, never BatchNorm, because batch
statistics would couple the samples that the per-sample gradient penalty treats
separately.
"""

from __future__ import annotations

import torch
from torch import nn


class PatchCritic(nn.Module):
    """Maps an NCHW image in [-1, 1] to an N x 1 x h x w map of raw patch scores."""

    def __init__(self, width: int = 64, in_channels: int = 3):
        super().__init__()

        def block(cin: int, cout: int, stride: int, norm: bool = True) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Conv2d(cin, cout, 4, stride, 1)]
            if norm:
                layers.append(nn.InstanceNorm2d(cout, affine=True))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        w = width
        self.body = nn.Sequential(
            *block(in_channels, w, 1, norm=False),  # flat conv
            *block(w, 2 * w, 2),
            *block(2 * w, 4 * w, 2),
            *block(4 * w, 8 * w, 2),
            nn.Conv2d(8 * w, 1, 4, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def probability(self, x: torch.Tensor) -> torch.Tensor:
        """The paper's sigmoid head (real-vs-fake probability per patch); not used by WGAN-GP."""
        return torch.sigmoid(self.forward(x))
