"""Training data: sharp faces blurred on the fly, or pre-synthesized blurry/sharp pairs.

Every random choice of a training sample comes from ``numpy.random.default_rng
([seed, sample_index])``: sample ``j`` is the same on any machine, in any
worker, after any resume, which is what makes ``--resume`` exact without
saving data-loader state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .degradations import Degrader
from .imageio import ImageError, list_images, read_rgb

#: Salt of the held-out split; changing it would leak validation faces into training.
SPLIT_SALT = "faceblur-holdout-v1"


def is_holdout(path: str | Path, fraction: float = 0.1) -> bool:
    """True if the file (by name only) belongs to the held-out split: stable across machines and folders."""
    digest = hashlib.sha1(f"{SPLIT_SALT}:{Path(path).name}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def split_files(files: list[Path], fraction: float = 0.1) -> tuple[list[Path], list[Path]]:
    """(train, holdout) by :func:`is_holdout`."""
    hold = [f for f in files if is_holdout(f, fraction)]
    held = set(hold)
    return [f for f in files if f not in held], hold


def to_tensor(img_u8: np.ndarray) -> torch.Tensor:
    """H x W x 3 uint8 -> 3 x H x W float in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(img_u8)).permute(2, 0, 1).float().div(127.5).sub(1.0)


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """3 x H x W in [-1, 1] -> H x W x 3 uint8."""
    return t.detach().float().clamp(-1, 1).add(1).mul(127.5).round().byte().permute(1, 2, 0).cpu().numpy()


class OnTheFlyBlur(Dataset):
    """Random crops of sharp faces, degraded by a :class:`Degrader`; deterministic per sample index.

    Length is nominal (``samples``); the sampler/trainer asks for indices
    ``step * batch + i`` so each step sees fresh samples.
    """

    def __init__(
        self,
        files: list[Path],
        degrader: Degrader,
        crop: int = 150,
        seed: int = 0,
        samples: int = 10**9,
        cache: bool = True,
    ):
        if not files:
            raise ValueError("no training images")
        self.files, self.degrader, self.crop, self.seed = list(files), degrader, crop, seed
        self.samples = samples
        self._cache: dict[int, np.ndarray] | None = {} if cache else None

    def __len__(self) -> int:
        return self.samples

    def _image(self, i: int) -> np.ndarray:
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        img = read_rgb(self.files[i])
        if self._cache is not None:
            self._cache[i] = img
        return img

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        img = self._image(int(rng.integers(len(self.files))))
        recipe = self.degrader.draw(rng)
        h, w = img.shape[:2]
        c = min(self.crop, h, w)
        y, x = int(rng.integers(h - c + 1)), int(rng.integers(w - c + 1))
        # Degrade the crop plus a kernel-radius margin, then cut the margin off: the crop's
        # pixels are exactly those of blurring the whole face (real neighbours, not
        # padding), at a fraction of the cost.
        p = recipe.margin
        y0, x0 = max(y - p, 0), max(x - p, 0)
        region = img[y0 : min(y + c + p, h), x0 : min(x + c + p, w)]
        blurry = self.degrader.apply(region, recipe, rng)[y - y0 : y - y0 + c, x - x0 : x - x0 + c]
        sharp = img[y : y + c, x : x + c]
        if rng.random() < 0.5:
            blurry, sharp = blurry[:, ::-1], sharp[:, ::-1]
        return to_tensor(blurry), to_tensor(sharp)


class PairFolder(Dataset):
    """Pre-synthesized pairs (``blurry/`` and ``sharp/`` with matching names), random aligned crops."""

    def __init__(self, root: str | Path, crop: int = 150, seed: int = 0, samples: int = 10**9):
        root = Path(root)
        self.blurry = list_images(root / "blurry")
        if not self.blurry:
            raise ValueError(f"{root}: no images in blurry/")
        self.sharp = [root / "sharp" / p.relative_to(root / "blurry") for p in self.blurry]
        missing = [p for p in self.sharp if not p.exists()]
        if missing:
            raise ValueError(f"{root}: {len(missing)} blurry images have no sharp/ twin, e.g. {missing[0]}")
        self.crop, self.seed, self.samples = crop, seed, samples

    def __len__(self) -> int:
        return self.samples

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        i = int(rng.integers(len(self.blurry)))
        blurry, sharp = read_rgb(self.blurry[i]), read_rgb(self.sharp[i])
        h, w = sharp.shape[:2]
        c = min(self.crop, h, w)
        y, x = int(rng.integers(h - c + 1)), int(rng.integers(w - c + 1))
        return to_tensor(blurry[y : y + c, x : x + c]), to_tensor(sharp[y : y + c, x : x + c])


def is_pair_folder(path: str | Path) -> bool:
    p = Path(path)
    return (p / "blurry").is_dir() and (p / "sharp").is_dir()


def gather_face_files(dirs: Sequence[str | Path]) -> list[Path]:
    """All images under the given folders, sorted; a folder with none is an error."""
    files: list[Path] = []
    for d in dirs:
        found = list_images(d)
        if not found:
            raise ImageError(f"{d}: no images found")
        files.extend(found)
    return files
