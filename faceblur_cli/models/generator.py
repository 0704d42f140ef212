"""The two-stage deblurring generator of Qi et al. 2020 ("Blind face images deblurring with enhancement").

    blurry -> head conv -> [stage 1: U-Net with RRRBs] -> [DRDBU enhancement]
           -> [stage 2: U-Net with ResBlocks] -> conv -> tanh -> + blurry -> sharp
           [-> optional refiner at 1/2 resolution (not in the paper; see refiner.py)]

Choices where the paper is vague (all are :class:`GeneratorConfig` fields):

* Widths: ``width`` channels at full resolution, doubled by every stride-2 conv.
* Levels: ``levels`` stride-2 steps per U-Net (3 => 1/8 resolution at the bottom,
  a receptive field large enough for 27-pixel blur).
* Skips are added, not concatenated (same channels, cheaper, as in DeblurGAN).
* Output is a **residual**: the final ``tanh`` predicts a correction in [-1, 1]
  that is added to the input and clamped to [-1, 1]. With a blurry input that
  is already close to the target, residual learning converges much faster,
  which matters for a model trained on a CPU.
* Any H x W: the input is reflect-padded to a multiple of
  ``pixel_unshuffle * 2**levels`` and the output cropped back.
* ``pixel_unshuffle`` (an addition, default 1 = the paper): fold s x s pixel
  blocks into channels before the head and unfold them after the tail (as
  Real-ESRGAN's x1/x2 models do). The whole network then runs at 1/s resolution:
  for the same FLOPs it can be s times wider, and every receptive field is s
  times larger, which suits 13-27 pixel blur on a CPU budget.

Images are tensors in [-1, 1], NCHW, RGB.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import DRDBU, RRRB, PlainConvs, ResBlock, conv3x3
from .refiner import REFINE_UNSHUFFLE, Refiner


@dataclass(frozen=True)
class GeneratorConfig:
    """Architecture hyper-parameters; the four ``use_*`` switches are the paper's Table 2 ablations."""

    width: int = 32
    levels: int = 3
    stage1_blocks: int = 3  # RRRBs per encoder level and per decoder level
    stage2_blocks: int = 3  # ResBlocks per encoder level and per decoder level
    recurrent_steps: int = 2  # each recurrent conv unrolled twice (paper)
    drdbu_blocks: int = 3  # RRDB-style blocks in the enhancement module (paper: 3)
    drdbu_growth: int = 8  # dense growth channels (paper: 8)
    drdbu_rdb_per_block: int = 3
    drdbu_convs: int = 5
    res_scale: float = 0.2  # residual scaling (paper: 0.2)
    pixel_unshuffle: int = 1  # fold s x s pixels into channels around the network (1 = off, the paper)
    use_enhancement: bool = True  # False: stage 1 alone (no DRDBU, no stage 2)
    use_drdbu: bool = True  # False: stage 1 feeds stage 2 directly
    use_rrrb: bool = True  # False: RRRB -> two plain convs
    use_resblock: bool = True  # False: ResBlock -> two plain convs
    refine_width: int = 0  # fine-detail refiner at 1/2 resolution (0 = none, the paper); see refiner.py
    refine_depth: int = 3  # its conv layers

    @classmethod
    def from_dict(cls, d: dict) -> GeneratorConfig:
        """Build from a dict, rejecting unknown keys (a typo must not silently change the model)."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown generator config keys: {sorted(unknown)}")
        cfg = cls(**d)
        cfg.check_bounds()
        return cfg

    #: Sane bounds of every numeric field: a 1 KB file must not be able to ask for a 24 GB network.
    BOUNDS = {
        "width": (1, 256),
        "levels": (1, 6),
        "stage1_blocks": (0, 16),
        "stage2_blocks": (0, 16),
        "recurrent_steps": (0, 8),
        "drdbu_blocks": (0, 16),
        "drdbu_growth": (1, 128),
        "drdbu_rdb_per_block": (1, 8),
        "drdbu_convs": (1, 12),
        "res_scale": (0.0, 10.0),
        "pixel_unshuffle": (1, 8),
        "refine_width": (0, 256),
        "refine_depth": (0, 32),
    }

    def check_bounds(self) -> None:
        """Raise ValueError for a field of the wrong type or outside :attr:`BOUNDS`."""
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name.startswith("use_"):
                if not isinstance(v, bool):
                    raise ValueError(f"generator config {f.name}={v!r}: must be true or false")
                continue
            lo, hi = self.BOUNDS[f.name]
            kind = float if isinstance(lo, float) else int
            if isinstance(v, bool) or not isinstance(v, (int, float) if kind is float else int) or not lo <= v <= hi:
                raise ValueError(f"generator config {f.name}={v!r}: must be {kind.__name__} in {lo}..{hi}")

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, GeneratorConfig] = {
    # Closest reading of the paper: 3 RRRB / 3 ResBlock per level, DRDBU of 3 RRDBs.
    "paper": GeneratorConfig(),
    # CPU-trainable and fast at inference: same topology with one block per level and a
    # one-RRDB enhancement module, run at 1/4 resolution (4x4 pixel unshuffle, 24 base
    # channels, 2 levels => 96 channels at 1/16). About 1.8 M parameters and 3.1 GFLOPs
    # at 256x256. Chosen over the full-resolution width-8 version (0.8 M, 8.2 GFLOPs) by
    # an equal-wall-time A/B on 2 CPU cores: +1.02 vs +0.79 dB after ~4 min (CHANGELOG).
    # Plus a 32-channel, 3-conv refiner at 1/2 resolution for the fine detail the 1/4-resolution
    # U-Net cannot carry (refiner.py): 1.81 M parameters, 4.04 GFLOPs at 256x256.
    "lite": GeneratorConfig(
        width=24,
        levels=2,
        pixel_unshuffle=4,
        stage1_blocks=1,
        stage2_blocks=1,
        drdbu_blocks=1,
        drdbu_rdb_per_block=1,
        drdbu_convs=4,
        refine_width=32,
    ),
    # The GPU quality tier (faceblur-base): the paper's full DRDBU and blocks, run at 1/4
    # resolution like lite but twice as wide with two blocks per level. 13.3 M parameters,
    # 26.6 GFLOPs at 256x256; ~10 it/s at batch 32 on one H200 (../shared/models/README.md).
    "base": GeneratorConfig(width=48, levels=2, pixel_unshuffle=4, stage1_blocks=2, stage2_blocks=2, refine_width=32),
}


def preset(name: str, **overrides) -> GeneratorConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    return replace(PRESETS[name], **overrides)


class EncoderDecoder(nn.Module):
    """A U-Net: per level a stride-2 conv (doubling channels) + blocks; mirrored decoder; additive skips."""

    def __init__(self, width: int, levels: int, blocks: int, block: Callable[[int], nn.Module]):
        super().__init__()
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        for i in range(levels):
            c = width * 2**i
            self.down.append(
                nn.Sequential(
                    conv3x3(c, 2 * c, stride=2), nn.ReLU(inplace=True), *(block(2 * c) for _ in range(blocks))
                )
            )
            self.up.append(
                nn.Sequential(
                    *(block(2 * c) for _ in range(blocks)),
                    nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1),
                    nn.ReLU(inplace=True),
                )
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for down in self.down:
            skips.append(x)
            x = down(x)
        for up, skip in zip(reversed(self.up), reversed(skips)):
            x = up(x) + skip
        return x


class Generator(nn.Module):
    """Two-stage U-Net deblurring generator (see module docstring)."""

    def __init__(self, config: GeneratorConfig = GeneratorConfig()):
        super().__init__()
        self.config = c = config
        stage1_block = (lambda ch: RRRB(ch, c.recurrent_steps)) if c.use_rrrb else PlainConvs
        stage2_block = ResBlock if c.use_resblock else PlainConvs
        s = c.pixel_unshuffle
        # Parameter-free, so state-dict keys are the same for every s.
        self.unshuffle, self.shuffle = nn.PixelUnshuffle(s), nn.PixelShuffle(s)
        self.head = nn.Sequential(conv3x3(3 * s * s, c.width), nn.ReLU(inplace=True))
        self.stage1 = EncoderDecoder(c.width, c.levels, c.stage1_blocks, stage1_block)
        self.enhance = (
            DRDBU(c.width, c.drdbu_blocks, c.drdbu_growth, c.drdbu_rdb_per_block, c.drdbu_convs, c.res_scale)
            if c.use_enhancement and c.use_drdbu
            else nn.Identity()
        )
        self.stage2 = (
            EncoderDecoder(c.width, c.levels, c.stage2_blocks, stage2_block) if c.use_enhancement else nn.Identity()
        )
        self.tail = conv3x3(c.width, 3 * s * s)
        # Zero-init the last conv: an untrained model is the identity (output = input),
        # so training starts from the blurry image instead of from noise.
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)  # type: ignore[arg-type]  # the tail conv has a bias
        self.refine = Refiner(c.refine_width, c.refine_depth) if c.refine_width else None

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this; :meth:`forward` pads for you."""
        m = self.config.pixel_unshuffle * 2**self.config.levels
        return math.lcm(m, REFINE_UNSHUFFLE) if self.config.refine_width else m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = self.multiple
        ph, pw = (-h) % m, (-w) % m
        # Always pad (possibly by 0) so an exported graph keeps the padding for every size.
        y = F.pad(x, (0, pw, 0, ph), mode="reflect")
        r = self.stage2(self.enhance(self.stage1(self.head(self.unshuffle(y)))))
        out = torch.clamp(y + torch.tanh(self.shuffle(self.tail(r))), -1.0, 1.0)
        if self.refine is not None:
            out = self.refine(y, out)
        return out[..., :h, :w]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def gflops(model: nn.Module, size: int = 256) -> float:
    """Forward GFLOPs (multiply-add = 2 FLOPs) for one size x size RGB image, via torch's flop counter."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros(1, 3, size, size))
    return counter.get_total_flops() / 1e9
