"""Apply a blur kernel to an image, plus the optional noise / JPEG degradations.

This is the single blur model of the project: ``synthesize``, on-the-fly
training data and ``benchmark`` all call :func:`degrade`, so training and test
blur can never drift apart.
"""

from __future__ import annotations

import io

import numpy as np
import scipy.fft as sfft
from PIL import Image


class ImageSpectrum:
    """The FFT of one reflect-padded image, reused for every kernel blurred into it.

    ``synthesize`` blurs each face with 40 kernels; transforming the image once
    (instead of once per kernel, as a plain FFT convolution does) removes about a
    third of the FFT work. Kernels up to ``max_kernel`` pixels are embedded,
    centred, in a ``max_kernel`` canvas of zeros, which leaves the convolution
    unchanged, so every kernel shares the one padded image and transform size.
    """

    def __init__(self, image: np.ndarray, max_kernel: int = 27):
        if max_kernel % 2 == 0:
            raise ValueError("max_kernel must be odd")
        img = np.asarray(image, dtype=np.float32)
        self.size, self.r = img.shape[:2], max_kernel // 2
        pad = ((self.r, self.r), (self.r, self.r)) + ((0, 0),) * (img.ndim - 2)
        padded = np.pad(img, pad, mode="reflect")
        # Linear (not circular) convolution needs padded + kernel - 1 samples per axis.
        self.fshape = tuple(sfft.next_fast_len(n + 2 * self.r, real=True) for n in padded.shape[:2])
        self.spectrum = sfft.rfft2(padded, self.fshape, axes=(0, 1))

    def blur(self, kernel: np.ndarray) -> np.ndarray:
        """``image`` convolved with ``kernel`` (odd side <= max_kernel); same size, float32."""
        kh, kw = kernel.shape
        if kh % 2 == 0 or kw % 2 == 0 or max(kh, kw) > 2 * self.r + 1:
            raise ValueError(f"kernel {kh}x{kw}: sides must be odd and at most {2 * self.r + 1}")
        canvas = np.zeros((2 * self.r + 1,) * 2, np.float32)
        y, x = self.r - kh // 2, self.r - kw // 2
        canvas[y : y + kh, x : x + kw] = kernel
        k = sfft.rfft2(canvas, self.fshape)
        if self.spectrum.ndim == 3:
            k = k[:, :, None]
        full = sfft.irfft2(self.spectrum * k, self.fshape, axes=(0, 1))
        # The 'valid' part of the full convolution starts at kernel side - 1.
        h, w = self.size
        return full[2 * self.r : 2 * self.r + h, 2 * self.r : 2 * self.r + w].astype(np.float32)


def blur(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve an H x W [x C] float image with ``kernel``; same size out, reflect padding.

    FFT convolution is the fast path for 13..27-pixel kernels; reflect padding
    avoids the dark frame that zero padding would add at the borders.
    """
    return ImageSpectrum(image, max(kernel.shape) | 1).blur(kernel)


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
    spectrum: ImageSpectrum | None = None,
) -> np.ndarray:
    """Blur a uint8 image with ``kernel``, then optional noise (sigma in 0-255) and JPEG; uint8 out.

    Pass the image's :class:`ImageSpectrum` to blur it with many kernels cheaply.
    """
    out = (spectrum or ImageSpectrum(sharp_u8, max(kernel.shape) | 1)).blur(kernel)
    return finish(out, rng, noise_sigma, jpeg_quality)


def finish(
    blurred: np.ndarray,
    rng: np.random.Generator | None,
    noise_sigma: float = 0.0,
    jpeg_quality: int | None = None,
    shot_gain: float = 0.0,
) -> np.ndarray:
    """The tail of every degradation: Gaussian noise, then signal-dependent (shot) noise with
    variance ``shot_gain * intensity``, rounding to uint8, then an optional JPEG round trip."""
    if (noise_sigma > 0 or shot_gain > 0) and rng is None:
        raise ValueError("noise needs an explicit numpy Generator for reproducibility")
    out = blurred
    if noise_sigma > 0 and rng is not None:
        out = add_noise(out, noise_sigma, rng)
    if shot_gain > 0 and rng is not None:
        std = np.sqrt(np.clip(out, 0, None) * shot_gain)
        out = out + (rng.standard_normal(out.shape) * std).astype(np.float32)
    out_u8 = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if jpeg_quality:
        out_u8 = jpeg_roundtrip(out_u8, jpeg_quality)
    return out_u8
