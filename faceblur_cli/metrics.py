"""Image-quality metrics, delegated to scikit-image so the numbers match the literature.

* PSNR: ``skimage.metrics.peak_signal_noise_ratio`` on RGB uint8, data range 255.
  Identical images would give +inf; we cap at :data:`PSNR_CAP` dB so averages stay finite.
* SSIM: ``skimage.metrics.structural_similarity`` with Wang et al. (2004)'s settings:
  11x11 Gaussian window (sigma 1.5), population covariance, K1=0.01, K2=0.03,
  computed per channel and averaged (``channel_axis``), data range 255.
* Detail ratio: how much fine detail an output has relative to the truth (PSNR rewards smooth
  averages; this shows the "painted" look). No learned weights, so it runs offline.
* GMSD (Xue et al. 2014): spread of the gradient-magnitude similarity; a full-reference structure
  metric that tracks human judgements better than SSIM at no cost and with no weights. Lower is better.
* VGG distance: relative error of VGG19 relu3_1 features (the bundled conv1-3 weights: offline),
  the perceptual loss used as a metric. Lower is better.
* Colour shift: largest per-channel difference of mean RGB (0-255 levels); a GAN must not tint faces.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

PSNR_CAP = 100.0


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    with np.errstate(divide="ignore"):
        value = peak_signal_noise_ratio(reference, test, data_range=255)
    return PSNR_CAP if math.isinf(value) else min(float(value), PSNR_CAP)


def ssim(reference: np.ndarray, test: np.ndarray) -> float:
    return float(
        structural_similarity(
            reference,
            test,
            data_range=255,
            channel_axis=2 if reference.ndim == 3 else None,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
    )


def sharpness(image: np.ndarray) -> float:
    """No-reference sharpness: variance of the Laplacian of the luminance (higher = sharper)."""
    from scipy.ndimage import laplace

    return float(laplace(_luma(image)).var())


def _luma(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float64) @ [0.299, 0.587, 0.114] if image.ndim == 3 else image.astype(np.float64)


def detail_ratio(reference: np.ndarray, test: np.ndarray, sigma: float = 1.5) -> float:
    """var(LoG_sigma(luma(test))) / var(LoG_sigma(luma(reference))): 1.0 = as detailed as the sharp
    face, below 1 = smoother (a 13-27 px blurry input scores about 0.1), above 1 = over-sharpened."""
    from scipy.ndimage import gaussian_laplace

    ref = gaussian_laplace(_luma(reference), sigma).var()
    return float(gaussian_laplace(_luma(test), sigma).var() / max(ref, 1e-12))


def gmsd(reference: np.ndarray, test: np.ndarray) -> float:
    """Gradient Magnitude Similarity Deviation (Xue et al. 2014) on luma, 0-255, after the paper's
    2x2 average down-sampling; c = 170 as published. 0 = same structure."""
    from scipy.ndimage import convolve

    def prep(img):
        y = _luma(img)
        y = convolve(y, np.full((2, 2), 0.25), mode="nearest")
        return y[::2, ::2]

    px = np.array([[1, 0, -1]] * 3, dtype=np.float64) / 3.0

    def grad(y):
        return np.hypot(convolve(y, px, mode="nearest"), convolve(y, px.T, mode="nearest"))

    g_r, g_t = grad(prep(reference)), grad(prep(test))
    gms = (2 * g_r * g_t + 170.0) / (g_r**2 + g_t**2 + 170.0)
    return float(gms.std())


def colour_shift(reference: np.ndarray, test: np.ndarray) -> float:
    """max over channels of |mean(test) - mean(reference)|, in 0-255 levels."""
    axes = tuple(range(reference.ndim - 1)) if reference.ndim == 3 else None
    diff = test.astype(np.float64).mean(axis=axes) - reference.astype(np.float64).mean(axis=axes)
    return float(np.abs(diff).max())


@lru_cache(maxsize=1)
def _vgg():
    from .losses import VGGPerceptual
    from .weights import resolve

    return VGGPerceptual(resolve("vgg19-conv3_1")[0])


def vgg_distance(reference: np.ndarray, test: np.ndarray) -> float:
    """||phi(test) - phi(reference)||^2 / ||phi(reference)||^2 with phi = VGG19 relu3_1 (offline weights)."""
    import torch

    from .data import to_tensor

    with torch.no_grad():
        f_r, f_t = (_vgg().features_of(to_tensor(img)[None]) for img in (reference, test))
        return float(((f_t - f_r) ** 2).sum() / (f_r**2).sum().clamp_min(1e-12))
