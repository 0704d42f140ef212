"""Building blocks of the generator, named as in Qi et al. 2020 (Figs. 2-3).

Bottom-up: RecurrentConv -> RecurrentResidualBlock -> RRRB (stage 1);
ResBlock (stage 2); ResidualDenseBlock -> RRDB -> DRDBU (enhancement module).
"""

from __future__ import annotations

import torch
from torch import nn


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class RecurrentConv(nn.Module):
    """A recurrent convolutional layer unrolled ``steps`` times (R2U-Net style).

    The same conv is applied to ``x + h`` repeatedly, which grows the receptive
    field without adding parameters: h0 = f(x), h_t = f(x + h_{t-1}).
    No normalisation: it keeps the block export-friendly and train/eval identical.
    """

    def __init__(self, channels: int, steps: int = 2):
        super().__init__()
        self.steps = steps
        self.conv = conv3x3(channels, channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.conv(x))
        for _ in range(self.steps):
            h = self.act(self.conv(x + h))
        return h


class RecurrentResidualBlock(nn.Module):
    """Two recurrent conv layers with an identity skip."""

    def __init__(self, channels: int, steps: int = 2):
        super().__init__()
        self.body = nn.Sequential(RecurrentConv(channels, steps), RecurrentConv(channels, steps))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class RRRB(nn.Module):
    """Recurrent residual-in-residual block: two recurrent residual blocks inside an outer skip."""

    def __init__(self, channels: int, steps: int = 2):
        super().__init__()
        self.body = nn.Sequential(RecurrentResidualBlock(channels, steps), RecurrentResidualBlock(channels, steps))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResBlock(nn.Module):
    """3 x (conv - InstanceNorm - ReLU) with an identity skip (stage 2 of the paper).

    InstanceNorm is affine with no running statistics, so eval == train and the
    graph exports to ONNX unchanged.
    """

    def __init__(self, channels: int):
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(3):
            layers += [conv3x3(channels, channels), nn.InstanceNorm2d(channels, affine=True), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class PlainConvs(nn.Module):
    """Ablation stand-in: two conv-ReLU layers, no recurrence and no skip (paper Table 2)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            conv3x3(channels, channels), nn.ReLU(inplace=True), conv3x3(channels, channels), nn.ReLU(inplace=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class ResidualDenseBlock(nn.Module):
    """ESRGAN's dense block: each conv sees all earlier features; output scaled by 0.2.

    The 0.2 residual scaling keeps the many stacked identity paths stable at init.
    """

    def __init__(self, channels: int, growth: int = 8, convs: int = 5, res_scale: float = 0.2):
        super().__init__()
        self.res_scale = res_scale
        self.convs = nn.ModuleList(conv3x3(channels + i * growth, growth) for i in range(convs - 1))
        self.fuse = conv3x3(channels + (convs - 1) * growth, channels)
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for conv in self.convs:
            feats.append(self.act(conv(torch.cat(feats, 1))))
        return x + self.res_scale * self.fuse(torch.cat(feats, 1))


class RRDB(nn.Module):
    """Residual-in-residual dense block: ``blocks`` dense blocks inside a 0.2-scaled skip."""

    def __init__(self, channels: int, growth: int = 8, blocks: int = 3, convs: int = 5, res_scale: float = 0.2):
        super().__init__()
        self.res_scale = res_scale
        self.body = nn.Sequential(*(ResidualDenseBlock(channels, growth, convs, res_scale) for _ in range(blocks)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


class DRDBU(nn.Module):
    """Enhancement module: RRDBs with dense connections between them and a global skip.

    Block i receives a 1x1 fusion of the input and every earlier block's output
    (global dense connectivity); all block outputs are fused again and added to
    the input with residual scaling.
    """

    def __init__(
        self,
        channels: int,
        num_blocks: int = 3,
        growth: int = 8,
        rdb_per_block: int = 3,
        convs_per_rdb: int = 5,
        res_scale: float = 0.2,
    ):
        super().__init__()
        self.res_scale = res_scale
        self.blocks = nn.ModuleList(
            RRDB(channels, growth, rdb_per_block, convs_per_rdb, res_scale) for _ in range(num_blocks)
        )
        self.links = nn.ModuleList(
            nn.Conv2d(channels * (i + 1), channels, 1) if i else nn.Identity() for i in range(num_blocks)
        )
        self.fuse = nn.Conv2d(channels * num_blocks, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for link, block in zip(self.links, self.blocks):
            feats.append(block(link(torch.cat(feats, 1))))
        return x + self.res_scale * self.fuse(torch.cat(feats[1:], 1))
