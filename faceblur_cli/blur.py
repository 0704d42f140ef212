"""Apply a blur kernel to an image, plus the optional noise / JPEG degradations.

This is the single blur model of the project: ``synthesize``, on-the-fly
training data and ``benchmark`` all call :func:`degrade`, so training and test
blur can never drift apart.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from scipy.signal import fftconvolve


def blur(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve an H x W [x C] float image with ``kernel``; same size out, reflect padding.

    FFT convolution (SciPy) is the fast path for 13..27-pixel kernels; reflect
    padding avoids the dark frame that zero padding would add at the borders.
    """
    kh, kw = kernel.shape
    ph, pw = kh // 2, kw // 2
    img = np.asarray(image, dtype=np.float32)
    pad = ((ph, ph), (pw, pw)) + ((0, 0),) * (img.ndim - 2)
    padded = np.pad(img, pad, mode="reflect")
    k = kernel.astype(np.float32)
    if img.ndim == 3:
        k = k[:, :, None]
    # Correlation with the flipped kernel == convolution; 'valid' gives back H x W.
    return fftconvolve(padded, k, mode="valid", axes=(0, 1)).astype(np.float32)


def add_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian noise; ``sigma`` in the image's units (0-255 for uint8-scaled data)."""
    if sigma <= 0:
        return image
    return image + rng.normal(0.0, sigma, image.shape).astype(np.float32)


def jpeg_roundtrip(image_u8: np.ndarray, quality: int) -> np.ndarray:
    """Re-encode as JPEG at ``quality`` (Pillow) to mimic phone compression."""
    buf = io.BytesIO()
    Image.fromarray(image_u8).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    return np.asarray(Image.open(buf).convert(Image.fromarray(image_u8).mode))


def degrade(
    sharp_u8: np.ndarray,
    kernel: np.ndarray,
    rng: np.random.Generator | None = None,
    noise_sigma: float = 0.0,
    jpeg_quality: int | None = None,
) -> np.ndarray:
    """Blur a uint8 image with ``kernel``, then optional noise (sigma in 0-255) and JPEG; uint8 out."""
    out = blur(sharp_u8.astype(np.float32), kernel)
    if noise_sigma > 0:
        if rng is None:
            raise ValueError("noise needs an explicit numpy Generator for reproducibility")
        out = add_noise(out, noise_sigma, rng)
    out_u8 = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if jpeg_quality:
        out_u8 = jpeg_roundtrip(out_u8, jpeg_quality)
    return out_u8
