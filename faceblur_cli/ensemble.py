"""Test-time ensembles: the network's output averaged over a mirrored and a shifted copy of its input.

Each copy is a second, partly independent estimate of the same sharp face, so their mean has a
lower error than any one of them, at one more network pass each:

* **mirrored** (``flip``): a face mirrored left-right is still an upright face with a plausible
  blur. Up-down flips are not used: the network only ever saw upright faces.
* **shifted** (``shift`` pixels): the network works on 4 x 4 pixel blocks folded into channels and
  halves the resolution twice more inside (1/16 at the bottom), so its output depends on where
  the block grid falls on the face. Reflect-padding the input by ``shift`` pixels on every side
  moves the grid by ``shift`` in both directions; the pass's output is cropped back to the input.
  With ``flip`` too, the shifted copy is also mirrored: four passes.

Measured on the validation faces (benchmarks/holdout_probe.py, faceblur-lite@everyday5): the
mirrored pair gains ~+0.1 dB over one pass; a 4-pixel shift on top of it another +0.026 on everyday
blur (+0.04 at 3 px); shifts of 2 and 8 gain less (+0.022 / +0.017); 1-2-3 or 2-4-6 (eight passes)
+0.028 / +0.039 (docs/training.md).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: The shift that gained most as the one extra offset (module docstring).
SHIFT = 4

#: The largest shift accepted: the network's coarsest grid (4x4 blocks, halved twice more).
MAX_SHIFT = 16

#: run: an N x C x H x W float32 batch in [-1, 1] -> the network's output of the same shape.
Run = Callable[[np.ndarray], np.ndarray]


def check_shift(shift: int) -> int:
    """A shift-ensemble offset in pixels: 0 (off) to :data:`MAX_SHIFT`."""
    if isinstance(shift, bool) or not isinstance(shift, int) or not 0 <= shift <= MAX_SHIFT:
        raise ValueError(f"shift_tta={shift!r}: must be an integer number of pixels, 0 (off) to {MAX_SHIFT}")
    return shift


def mirrored(run: Run, batch: np.ndarray) -> np.ndarray:
    """Mean of ``run(batch)`` and ``run(mirrored batch)`` mirrored back, in one backend call."""
    n = len(batch)
    both = run(np.concatenate([batch, batch[..., ::-1]]))
    return (both[:n] + both[n:, ..., ::-1]) / 2


def ensemble(run: Run, batch: np.ndarray, flip: bool = False, shift: int = 0) -> np.ndarray:
    """The network's output on ``batch``, averaged with its mirrored and/or ``shift``-pixel shifted copies."""
    one = (lambda b: mirrored(run, b)) if flip else run
    out = one(batch)
    h, w = batch.shape[-2:]
    if shift > 0 and shift < min(h, w):  # reflect padding needs a wider image than the pad
        pad = ((0, 0), (0, 0), (shift, shift), (shift, shift))
        moved = one(np.pad(batch, pad, mode="reflect"))[..., shift : shift + h, shift : shift + w]
        out = (out + moved) / 2
    return out
