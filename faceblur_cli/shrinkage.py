"""Correction shrinkage: damp the network's change to an image when it is no larger than its error floor.

The network returns ``x + r`` for an input ``x``. On a sharp face the right ``r`` is zero, yet a
trained model still changes it by an RMS of ``sigma`` 8-bit levels (about 1 for faceblur-lite):
that is its error floor, and on a face with little blur to undo it is as large as the useful
part. On the real video clip (vd001) the best scale for lite's ``r`` was ~0.5, on the paper's
13-27 px blur ~1.0. So ``r`` is scaled per image by the Wiener factor

    a = rho^2 / (rho^2 + sigma^2),   rho = RMS of r over the image (levels),

which leaves a large correction (paper blur: rho ~10, a ~0.99) as it is and halves one at the
floor (sharp faces, real near-sharp frames). ``sigma`` is a property of each model, calibrated as
the median ``rho`` on sharp hold-out *training* faces (``benchmarks/holdout_probe.py``), never on
the test faces or the real clip; it is registered in ``weights.toml`` (``shrink_sigma``).
"""

from __future__ import annotations

import numpy as np

#: One 8-bit level in the network's [-1, 1] range.
LEVEL = 1.0 / 127.5


def correction_rms(inputs: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Per-image RMS of ``outputs - inputs`` in 8-bit levels, for N x C x H x W network batches."""
    diff = (outputs.astype(np.float64) - inputs) / LEVEL
    return np.sqrt(np.mean(diff * diff, axis=tuple(range(1, diff.ndim))))


def shrink(inputs: np.ndarray, outputs: np.ndarray, sigma: float) -> np.ndarray:
    """``inputs + a * (outputs - inputs)`` per image with the Wiener factor ``a`` (module docstring)."""
    if sigma <= 0:
        return outputs
    rho2 = correction_rms(inputs, outputs) ** 2
    a = (rho2 / (rho2 + sigma * sigma)).astype(np.float32).reshape((-1,) + (1,) * (outputs.ndim - 1))
    return inputs + a * (outputs - inputs)
