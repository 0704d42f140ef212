"""The test-time ensembles (faceblur_cli/ensemble.py): what each pass sees, and how they are averaged."""

import numpy as np
import pytest

from faceblur_cli.ensemble import check_shift, ensemble


def _batch(h=20, w=24, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (2, 3, h, w)).astype(np.float32)


def test_a_shift_equivariant_network_is_unchanged_by_either_ensemble():
    """Pointwise networks commute with mirroring and shifting: any misplaced crop or flip shows here."""
    x = _batch()

    def run(b):
        return 0.5 * b + 0.1

    for flip in (False, True):
        for shift in (0, 1, 4):
            np.testing.assert_allclose(ensemble(run, x, flip, shift), run(x), atol=1e-6)


def test_the_shifted_pass_sees_the_block_grid_moved_by_the_shift():
    """A network that adds a pattern fixed to its own pixel grid (as 4x4 pixel-unshuffle blocks are):
    the shifted pass adds that pattern moved by ``shift``, and the ensemble the mean of the two."""
    x = _batch(16, 16)

    def grid(h, w):
        return ((np.arange(h)[:, None] % 4 == 0) & (np.arange(w)[None] % 4 == 0)).astype(np.float32)

    def run(b):
        return b + grid(*b.shape[-2:])

    s = 2
    moved = np.roll(np.roll(grid(16, 16), -s, 0), -s, 1)  # the padded input's (s, s) is the image's (0, 0)
    np.testing.assert_allclose(ensemble(run, x, False, s), x + (grid(16, 16) + moved) / 2, atol=1e-6)
    calls = []
    ensemble(lambda b: calls.append(b.shape) or b, x, True, s)
    assert calls == [(4, 3, 16, 16), (4, 3, 20, 20)]  # two backend calls: plain and mirrored together


def test_mirrored_pass_is_mirrored_back():
    x = _batch()

    def run(b):  # a network that is not mirror-symmetric: brightens the left half only
        out = b.copy()
        out[..., : b.shape[-1] // 2] += 1
        return out

    np.testing.assert_allclose(ensemble(run, x, True, 0), x + 0.5, atol=1e-6)


def test_shift_is_checked_and_skipped_where_the_image_is_too_small():
    assert check_shift(0) == 0 and check_shift(16) == 16
    for bad in (-1, 17, 2.5, True, "4"):
        with pytest.raises(ValueError, match="shift_tta"):
            check_shift(bad)
    x = _batch(3, 3)
    np.testing.assert_allclose(ensemble(lambda b: b + 1, x, False, 4), x + 1)  # no pad wider than the image
