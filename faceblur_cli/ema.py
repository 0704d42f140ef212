"""Exponential moving average of the generator's weights (``faceblur train --ema 0.999``).

At the small batches we train with on CPU, consecutive snapshots of one run differ by ~0.1 dB on
the hold-out: the weights jitter around the optimum at the current learning rate. The average
over the last ~1/(1 - decay) steps sits nearer its centre, so it is what a run releases,
validates and fine-tunes from, while the optimiser keeps stepping the raw weights.
"""

from __future__ import annotations

import copy

import torch


class WeightEMA:
    """``avg <- decay * avg + (1 - decay) * weights`` after every step; buffers are copied."""

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"--ema must lie in (0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        for avg, new in zip(self.model.parameters(), model.parameters()):
            avg.lerp_(new.detach(), 1.0 - self.decay)
        for buf, new_buf in zip(self.model.buffers(), model.buffers()):
            buf.copy_(new_buf)

    def state_dict(self) -> dict:
        return self.model.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state)
