"""Image-quality metrics, delegated to scikit-image so the numbers match the literature.

* PSNR: ``skimage.metrics.peak_signal_noise_ratio`` on RGB uint8, data range 255.
  Identical images would give +inf; we cap at :data:`PSNR_CAP` dB so averages stay finite.
* SSIM: ``skimage.metrics.structural_similarity`` with Wang et al. (2004)'s settings:
  11x11 Gaussian window (sigma 1.5), population covariance, K1=0.01, K2=0.03,
  computed per channel and averaged (``channel_axis``), data range 255.
* Detail ratio: how much fine detail an output has relative to the truth (PSNR rewards smooth
  averages; this shows the "painted" look). No learned weights, so it runs offline.
"""

from __future__ import annotations

import math

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
