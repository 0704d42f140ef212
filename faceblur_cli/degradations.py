"""The degradation model: how a sharp face becomes the blurry input the network must undo.

One module for training, synthesis and evaluation, so the three never drift apart.
A :class:`DegradationMix` names the share of each **blur component** and the
probabilities of the **post-processing** that follows it:

========== =================================================================================
component  what it models
========== =================================================================================
sharp      no blur at all: input == target, so the network learns to leave clean faces alone
paper      Boracchi-Foi camera-shake trajectories of 13-27 px (the paper's 800-kernel bank)
mild       the same random trajectories, 3-11 px (slight hand shake)
linear     near-linear paths of 2-11 px, continuous or as 2-9 discrete "ghosts"
           (a moving face; video frames averaged over the exposure look like this)
defocus    a disk of radius 0.6-3.5 px (missed focus)
gaussian   Gaussian blur, sigma 0.4-1.8 px (soft lenses, upscaled video)
shake      random trajectories of 5-17 px: the hand shake of a phone held at arm's length
streak     straight continuous streaks of 5-17 px (a subject or a phone moving during exposure)
disk       defocus disks 5-17 px across (a phone focused on the background)
soft       Gaussian blur 5-17 px across (sigma = extent / 6: beauty filters, cheap lenses)
roll       spatially varying shake of up to 3-13 px: the camera rolls, zooms and shifts during the
           exposure (or a head turns in video), so the blur's length and direction change across
           the face (:class:`RollPath`); every other component is one kernel for the whole image
========== =================================================================================

The last four are the **everyday** kinds (:data:`EVERYDAY_KINDS`): the ``everyday`` protocol
draws them at fixed sizes with sensor noise and JPEG as phones apply them.

Post-processing, in this order: blur in **linear light** (sRGB decoded, blurred,
re-encoded, as a real exposure integrates light), mild **down/up-scaling**,
**Gaussian noise** and **signal-dependent (shot) noise**, **JPEG**. ``sharp``
samples get none of it: a clean face must map to itself exactly.

Every random choice is drawn from the ``numpy.random.Generator`` the caller
passes, which the dataset seeds with ``(seed, sample index)``: a sample is a
pure function of its index, so resume stays exact. The ``paper`` mix draws in
exactly the order the project did before this module existed, so
``--degradation paper`` reproduces those samples bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from functools import cached_property

import numpy as np

from .blur import ImageSpectrum, finish
from .kernels import PAPER_SIZES, KernelBank, _splat, motion_kernel

COMPONENTS = (
    "sharp", "paper", "mild", "linear", "defocus", "gaussian", "shake", "streak", "disk", "soft", "roll"
)  # fmt: skip
MILD_SIZES: tuple[int, ...] = (3, 5, 7, 9, 11)
#: Offset of the mild bank's seed from the paper bank's, so the two banks never share a walk.
MILD_BANK_SEED_OFFSET = 7_919
#: The blur phones make, each drawn at an extent of 5-17 px (:func:`everyday_kernel`).
EVERYDAY_KINDS: tuple[str, ...] = ("shake", "streak", "disk", "soft")
EVERYDAY_SIZES: tuple[int, ...] = tuple(range(5, 18, 2))
#: What a phone does after the blur: read noise (sigma, 0-255) and its JPEG quality.
EVERYDAY_NOISE, EVERYDAY_JPEG = 2.0, 90


@dataclass(frozen=True)
class DegradationMix:
    """Shares of the blur components (normalised to sum 1) and the post-processing probabilities."""

    shares: dict = field(default_factory=lambda: {"paper": 1.0})
    noise_max: float = 2.0  # Gaussian sigma ~ U(0, noise_max), 0-255 units, drawn for every blurred sample
    shot_prob: float = 0.0  # share with signal-dependent noise, variance = gain * intensity
    shot_gain_max: float = 0.5
    jpeg_prob: float = 0.3
    jpeg_quality: tuple[int, int] = (70, 95)
    linear_light_prob: float = 0.0
    resize_prob: float = 0.0
    resize_scale: tuple[float, float] = (0.5, 0.9)
    paper_kernels: int = 800
    mild_kernels: int = 400
    kernel_seed: int = 0

    def __post_init__(self):
        unknown = set(self.shares) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"unknown blur component(s) {sorted(unknown)}; choose from {', '.join(COMPONENTS)}")
        if any(v < 0 for v in self.shares.values()) or sum(self.shares.values()) <= 0:
            raise ValueError("component shares must be >= 0 and not all 0")
        for name in ("shot_prob", "jpeg_prob", "linear_light_prob", "resize_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1]")

    @property
    def active(self) -> list[tuple[str, float]]:
        """(component, probability) of every component with a share > 0, in :data:`COMPONENTS` order."""
        total = sum(self.shares.values())
        return [(c, self.shares[c] / total) for c in COMPONENTS if self.shares.get(c, 0) > 0]


#: Named mixes. ``paper`` is the paper's protocol (and the project's behaviour before the
#: mix existed); ``real`` is the training default, chosen by measurement (README, "Degradation
#: mix"): a share of untouched faces teaches the network to leave sharp faces alone; a third of
#: the paper's 13-27 px keeps its gain there; the largest share is mild 3-11 px shake, the blur
#: people have most (raising it from 20 % to 35 % lifted the mild gain, at some cost on 13-27 px);
#: ghosted and continuous short paths for moving faces in video; a little defocus and Gaussian.
MIXES: dict[str, DegradationMix] = {
    "paper": DegradationMix(),
    "real": DegradationMix(
        shares={"sharp": 0.12, "paper": 0.33, "mild": 0.35, "linear": 0.12, "defocus": 0.04, "gaussian": 0.04},
        noise_max=2.0,
        shot_prob=0.2,
        jpeg_prob=0.4,
        jpeg_quality=(60, 95),
        linear_light_prob=0.3,
        resize_prob=0.15,
    ),
    # Issue 28: the blur phones make. Half the samples are the everyday kinds at 5-17 px, the rest keep
    # what the shipped models were measured on (paper, mild, sharp); phone-like noise, JPEG and resizing.
    "everyday": DegradationMix(
        shares={
            "sharp": 0.06,
            "paper": 0.30,
            "mild": 0.14,
            "shake": 0.14,
            "streak": 0.14,
            "disk": 0.11,
            "soft": 0.08,
            "linear": 0.03,
        },
        noise_max=2.5,
        shot_prob=0.2,
        shot_gain_max=0.3,
        jpeg_prob=0.5,
        jpeg_quality=(75, 95),
        linear_light_prob=0.2,
        resize_prob=0.12,
        resize_scale=(0.6, 0.95),
    ),
}


def _parse_value(current, text: str):
    if isinstance(current, tuple):
        parts = text.replace("-", ":").split(":") if isinstance(current[0], int) else text.split(":")
        return tuple(type(current[0])(p) for p in parts)
    return type(current)(text)


def get_mix(name: str, overrides: str | None = None, **fixed) -> DegradationMix:
    """A named mix with ``key=value`` overrides ("sharp=0.2,mild=0,jpeg_prob=0.5,jpeg_quality=60:90").

    A component name as key sets its share (0 switches it off); any other key is a
    :class:`DegradationMix` field. ``fixed`` are keyword overrides from code.
    """
    if name not in MIXES:
        raise ValueError(f"unknown degradation {name!r}; choose from {', '.join(MIXES)}")
    mix = MIXES[name]
    shares, changes = dict(mix.shares), dict(fixed)
    field_names = {f.name for f in fields(DegradationMix)} - {"shares"}
    for item in filter(None, (s.strip() for s in (overrides or "").split(","))):
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise ValueError(f"--degradation-set: {item!r} is not key=value")
        try:
            if key in COMPONENTS:
                shares[key] = float(value)
            elif key in field_names:
                changes[key] = _parse_value(getattr(mix, key), value.strip())
            else:
                raise ValueError(
                    f"unknown key {key!r} (components: {', '.join(COMPONENTS)}; fields: "
                    f"{', '.join(sorted(field_names))})"
                )
        except (TypeError, IndexError) as e:
            raise ValueError(f"--degradation-set {item!r}: {e}") from None
    return replace(mix, shares=shares, **changes)


# -- kernels of the parametric components ------------------------------------------------------
def _odd(n: float) -> int:
    return max(1, int(np.ceil(n)) | 1)


def linear_kernel(length: float, angle: float, bend: float, ghosts: int) -> np.ndarray:
    """A near-linear motion path of ``length`` px; ``bend`` curves it; ``ghosts`` > 0 samples it at that
    many discrete instants (frames averaged over a movement), 0 = continuous."""
    n = ghosts if ghosts > 0 else 200
    t = np.linspace(-0.5, 0.5, n)
    pts = length * t + 1j * bend * length * (t**2 - 1 / 12)
    pts = pts * np.exp(1j * angle)
    pts -= pts.mean()
    size = _odd(2 * np.abs(pts).max() + 2)
    psf = _splat(pts + complex((size - 1) / 2, (size - 1) / 2), size)
    return (psf / psf.sum()).astype(np.float32)


def disk_kernel(radius: float) -> np.ndarray:
    """Defocus: a uniform disk, anti-aliased by 8x supersampling."""
    size = _odd(2 * radius + 1)
    ss = 8
    c = (np.arange(size * ss) + 0.5) / ss - size / 2
    inside = (c[:, None] ** 2 + c[None, :] ** 2 <= radius**2).astype(np.float64)
    k = inside.reshape(size, ss, size, ss).mean(axis=(1, 3))
    return (k / k.sum()).astype(np.float32)


def gaussian_kernel(sigma: float) -> np.ndarray:
    size = _odd(6 * sigma + 1)
    x = np.arange(size) - size // 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    k = np.outer(g, g)
    return (k / k.sum()).astype(np.float32)


IDENTITY = np.ones((1, 1), np.float32)


@dataclass(frozen=True)
class RollPath:
    """A camera path during one exposure: roll (radians) about a centre, zoom and shift, each swept
    linearly (with a little curvature) over the exposure. Spatially varying: the blur at a pixel is
    its displacement under the path, longest far from the centre of rotation. Sizes in pixels of
    the image it is applied to; the centre is relative to that image's centre."""

    extent: float  # the largest displacement over a 160 px crop, px
    centre: tuple[float, float]
    roll: float
    zoom: float
    shift: tuple[float, float]
    bend: float
    steps: int = 16

    @property
    def margin(self) -> int:
        return int(np.ceil(self.extent)) + 1

    @classmethod
    def draw(cls, rng: np.random.Generator, extent: float | None = None) -> RollPath:
        """A path whose largest displacement over a 160 px crop is ``extent`` (3-13 px when drawn)."""
        extent = float(rng.uniform(3, 13)) if extent is None else extent
        angle, dist = rng.uniform(0, 2 * np.pi), rng.uniform(0, 160)
        centre = (dist * np.cos(angle), dist * np.sin(angle))
        reach = dist + 113  # the farthest corner of a 160 px crop from the centre of rotation
        parts = rng.dirichlet((2.0, 1.0, 1.0))  # roll, zoom, shift shares of the extent
        direction = rng.uniform(0, 2 * np.pi)
        shift = (parts[2] * extent * np.cos(direction), parts[2] * extent * np.sin(direction))
        sign = rng.choice((-1.0, 1.0), 2)
        roll, zoom = sign * parts[:2] * extent / reach
        return cls(extent, centre, float(roll), float(zoom), shift, float(rng.uniform(-0.3, 0.3)))

    def blur(self, img: np.ndarray) -> np.ndarray:
        """The mean of ``img`` warped along the path (H x W x C in, float32 of the same shape out)."""
        import cv2

        img = np.asarray(img, np.float32)
        h, w = img.shape[:2]
        cx, cy = (w - 1) / 2 + self.centre[0], (h - 1) / 2 + self.centre[1]
        acc = np.zeros(img.shape, np.float64)
        for t in np.linspace(-0.5, 0.5, self.steps):
            u = t + self.bend * (t * t - 1 / 12)
            m = cv2.getRotationMatrix2D((cx, cy), np.degrees(u * self.roll), 1.0 + u * self.zoom)
            m[:, 2] += (u * self.shift[0], u * self.shift[1])
            warped = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
            acc += warped.reshape(img.shape)
        return (acc / self.steps).astype(np.float32)


def everyday_kernel(kind: str, size: float, rng: np.random.Generator) -> np.ndarray:
    """A kernel of one everyday ``kind`` whose extent is ``size`` px (drawn fresh from ``rng``)."""
    if kind == "shake":
        return motion_kernel(_odd(size), rng)
    if kind == "streak":
        return linear_kernel(float(size), rng.uniform(0, np.pi), rng.uniform(-0.05, 0.05), 0)
    if kind == "disk":
        return disk_kernel(size / 2)
    if kind == "soft":
        return gaussian_kernel(size / 6)
    raise ValueError(f"unknown everyday kind {kind!r}; choose from {', '.join(EVERYDAY_KINDS)}")


# -- sRGB <-> linear light -----------------------------------------------------------------------
def srgb_to_linear(u: np.ndarray) -> np.ndarray:
    x = np.asarray(u, np.float32) / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0, 1)
    return (255.0 * np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)).astype(np.float32)


@dataclass
class Recipe:
    """Everything random about one degradation, drawn before the crop (so its margin is known)."""

    component: str
    kernel: np.ndarray
    noise: float = 0.0
    jpeg_quality: int | None = None
    linear_light: bool = False
    resize: float = 1.0
    shot_gain: float = 0.0
    roll: RollPath | None = None

    @property
    def margin(self) -> int:
        return max(self.kernel.shape[0] // 2, self.roll.margin if self.roll else 0)


class Degrader:
    """Draws and applies degradations of one :class:`DegradationMix` (kernel banks built once)."""

    def __init__(self, mix: DegradationMix, paper_bank: KernelBank | None = None):
        self.mix = mix
        self._active = mix.active
        self._probs = np.array([p for _, p in self._active])
        if paper_bank is not None:
            self.__dict__["paper_bank"] = paper_bank

    @cached_property
    def paper_bank(self) -> KernelBank:
        return KernelBank.generate(self.mix.paper_kernels, PAPER_SIZES, self.mix.kernel_seed)

    @cached_property
    def mild_bank(self) -> KernelBank:
        return KernelBank.generate(self.mix.mild_kernels, MILD_SIZES, self.mix.kernel_seed + MILD_BANK_SEED_OFFSET)

    @cached_property
    def shake_bank(self) -> KernelBank:
        return KernelBank.generate(
            self.mix.mild_kernels, EVERYDAY_SIZES, self.mix.kernel_seed + 2 * MILD_BANK_SEED_OFFSET
        )

    def _kernel(self, component: str, rng: np.random.Generator) -> np.ndarray:
        if component == "sharp":
            return IDENTITY
        if component == "paper":
            return self.paper_bank.kernels[int(rng.integers(len(self.paper_bank)))]
        if component == "mild":
            return self.mild_bank.kernels[int(rng.integers(len(self.mild_bank)))]
        if component == "linear":
            ghosts = int(rng.integers(2, 10)) if rng.random() < 0.5 else 0
            return linear_kernel(rng.uniform(2, 11), rng.uniform(0, np.pi), rng.uniform(-0.3, 0.3), ghosts)
        if component == "defocus":
            return disk_kernel(rng.uniform(0.6, 3.5))
        if component == "gaussian":
            return gaussian_kernel(rng.uniform(0.4, 1.8))
        if component == "shake":
            return self.shake_bank.kernels[int(rng.integers(len(self.shake_bank)))]
        if component in EVERYDAY_KINDS:
            return everyday_kernel(component, rng.uniform(EVERYDAY_SIZES[0], EVERYDAY_SIZES[-1]), rng)
        raise ValueError(component)

    def draw(self, rng: np.random.Generator) -> Recipe:
        """Draw one degradation. With a single component no choice is drawn (the paper mix's old order)."""
        m = self.mix
        component = (
            self._active[0][0]
            if len(self._active) == 1
            else self._active[int(rng.choice(len(self._probs), p=self._probs))][0]
        )
        kernel = IDENTITY if component == "roll" else self._kernel(component, rng)
        if component == "sharp":
            return Recipe(component, kernel)
        roll = RollPath.draw(rng) if component == "roll" else None
        noise = float(rng.uniform(0, m.noise_max))
        quality = int(rng.integers(m.jpeg_quality[0], m.jpeg_quality[1] + 1)) if rng.random() < m.jpeg_prob else None
        recipe = Recipe(component, kernel, noise, quality, roll=roll)
        if m.linear_light_prob > 0:
            recipe.linear_light = bool(rng.random() < m.linear_light_prob)
        if m.resize_prob > 0 and rng.random() < m.resize_prob:
            recipe.resize = float(rng.uniform(*m.resize_scale))
        if m.shot_prob > 0 and rng.random() < m.shot_prob:
            recipe.shot_gain = float(rng.uniform(0, m.shot_gain_max))
        return recipe

    @staticmethod
    def apply(
        image_u8: np.ndarray, recipe: Recipe, rng: np.random.Generator, spectrum: ImageSpectrum | None = None
    ) -> np.ndarray:
        """Degrade a uint8 H x W x 3 image by ``recipe`` (noise drawn from ``rng``); uint8 out, same size.

        Pass the image's :class:`ImageSpectrum` to blur one image with many kernels cheaply
        (not used in linear light, which blurs a different image).
        """
        if recipe.component == "sharp":
            return image_u8
        k = max(recipe.kernel.shape) | 1
        if recipe.roll is not None:
            blur = recipe.roll.blur
        elif spectrum is not None and not recipe.linear_light:  # the caller's transform of this very image
            blur = lambda img: spectrum.blur(recipe.kernel)  # noqa: E731
        else:
            blur = lambda img: ImageSpectrum(img, k).blur(recipe.kernel)  # noqa: E731
        out = linear_to_srgb(blur(srgb_to_linear(image_u8))) if recipe.linear_light else blur(image_u8)
        if recipe.resize < 1.0:
            out = rescale(out, recipe.resize)
        return finish(out, rng, recipe.noise, recipe.jpeg_quality, recipe.shot_gain)


def rescale(img: np.ndarray, scale: float) -> np.ndarray:
    """Down-sample by ``scale`` (area) and back up (bilinear): the softness of a resized upload."""
    import cv2

    h, w = img.shape[:2]
    small = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


# -- evaluation protocols ------------------------------------------------------------------------
#: Benchmark protocols: name -> kernel sizes (0 = the untouched sharp face).
#: ``everyday`` and ``wild`` are built by :mod:`faceblur_cli.evaluation` (kinds, noise, JPEG; whole photos).
PROTOCOLS: dict[str, tuple[int, ...]] = {
    "paper": PAPER_SIZES,
    "mild": MILD_SIZES,
    "sharp": (0,),
    "everyday": (5, 9, 13, 17),
    "wild": (7, 11, 15),
}


def everyday_degrade(
    sharp_u8: np.ndarray, kind: str, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The everyday protocol's case: ``kind`` blur of ``size`` px, noise sigma 2, JPEG 90. (blurry, kernel)."""
    kernel = everyday_kernel(kind, size, rng)
    blurred = ImageSpectrum(sharp_u8, max(kernel.shape) | 1).blur(kernel)
    return finish(blurred, rng, EVERYDAY_NOISE, EVERYDAY_JPEG), kernel
