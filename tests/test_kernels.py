import numpy as np
import pytest

from faceblur_cli.blur import blur, degrade
from faceblur_cli.kernels import PAPER_SIZES, KernelBank, motion_kernel, motion_kernels


@pytest.mark.parametrize("size", PAPER_SIZES)
def test_kernel_is_a_centred_psf(size):
    ks = motion_kernels(size, 8, np.random.default_rng(size))
    assert ks.shape == (8, size, size)
    yy, xx = np.mgrid[:size, :size]
    for k in ks:
        assert k.min() >= 0
        assert k.sum() == pytest.approx(1.0, abs=1e-5)
        # centre of mass on the central pixel: blurring must not shift the image
        assert (k * yy).sum() == pytest.approx((size - 1) / 2, abs=1e-3)
        assert (k * xx).sum() == pytest.approx((size - 1) / 2, abs=1e-3)
        ys, xs = np.nonzero(k > 1e-6)
        extent = max(np.ptp(xs), np.ptp(ys)) + 1
        assert extent >= 0.7 * size - 1, "kernel size must mean blur extent (70-100% of k)"


def test_reproducible_and_distinct():
    a = motion_kernel(21, np.random.default_rng(5))
    b = motion_kernel(21, np.random.default_rng(5))
    c = motion_kernel(21, np.random.default_rng(6))
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_bank_spreads_sizes_and_roundtrips(tmp_path):
    bank = KernelBank.generate(24, PAPER_SIZES, seed=3)
    assert len(bank) == 24
    assert sorted(set(bank.sizes.tolist())) == list(PAPER_SIZES)
    assert all(len(bank.indices_of_size(k)) == 3 for k in PAPER_SIZES)
    bank.save(tmp_path / "k.npz")
    again = KernelBank.load(tmp_path / "k.npz")
    assert all(np.array_equal(x, y) for x, y in zip(bank.kernels, again.kernels))
    assert bank.contact_sheet().dtype == np.uint8


def test_odd_size_required():
    with pytest.raises(ValueError):
        motion_kernel(14, np.random.default_rng(0))


def test_blurring_constant_image_keeps_it_constant():
    img = np.full((40, 50, 3), 123.0, np.float32)
    out = blur(img, motion_kernel(27, np.random.default_rng(1)))
    assert out.shape == img.shape
    assert np.allclose(out, 123.0, atol=1e-3)


def test_blur_really_blurs(rng):
    img = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    out = degrade(img, motion_kernel(15, rng))
    assert out.shape == img.shape and out.dtype == np.uint8
    assert out.std() < img.std() * 0.7


def test_noise_needs_explicit_rng():
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError):
        degrade(img, np.ones((3, 3)) / 9, None, noise_sigma=2.0)


def test_shared_spectrum_blur_equals_direct_convolution(rng):
    """One image FFT reused for kernels of every size gives the plain reflect-padded convolution."""
    from scipy.ndimage import convolve

    from faceblur_cli.blur import ImageSpectrum

    img = (rng.random((41, 57, 3)) * 255).astype(np.float32)
    spectrum = ImageSpectrum(img, 27)
    for k in (13, 19, 27):
        kernel = motion_kernel(k, rng)
        # scipy.ndimage 'mirror' is numpy's 'reflect' (edge pixel not repeated)
        direct = np.stack([convolve(img[..., c], kernel, mode="mirror") for c in range(3)], -1)
        assert np.abs(spectrum.blur(kernel) - direct).max() < 1e-2
        assert np.abs(blur(img, kernel) - direct).max() < 1e-2
    with pytest.raises(ValueError):
        spectrum.blur(np.ones((29, 29)) / 841)
