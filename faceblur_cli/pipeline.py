"""The photo pipeline as three stages: **prepare** (detect, align), **network**, **finish** (paste back).

Why stages: the local engine runs them back to back on one photo; the Ray engine
(:mod:`faceblur_cli.engines.ray_data`) runs each on its own workers, with the faces of many
photos batched through one network call. One implementation of each stage means both engines
write the same bytes at the same network thread count (a test checks it).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .alignment import Face, center_face, crop_geometry, paste_back, warp_face

if TYPE_CHECKING:
    from .faces import FaceFinder

#: What ``mode`` may be: faces (detect, align, paste back), aligned (the input is one aligned face),
#: whole (the frame tiled through the network, faces through the aligned path).
MODES = ("faces", "aligned", "whole")
#: What a photo with no face gets: the whole frame, left as it is, or an error.
NO_FACE_POLICIES = ("whole", "skip", "error")


class Network(Protocol):
    """What the network stage needs of a :class:`~faceblur_cli.deblurrer.Deblurrer`."""

    def whole(self, rgb: np.ndarray) -> np.ndarray: ...

    def run_network(self, images: list[np.ndarray]) -> list[np.ndarray]: ...


class NoFaceError(Exception):
    """Raised in ``no_face='error'`` mode when the detector finds nothing."""


@dataclass
class DeblurResult:
    image: np.ndarray  # H x W x 3 uint8
    mode: str  # what was actually done: faces / aligned / whole / none
    faces: list[Face] = field(default_factory=list)
    crops: list[np.ndarray] = field(default_factory=list)  # aligned blurry crops
    restored: list[np.ndarray] = field(default_factory=list)  # their deblurred versions
    timings: dict = field(default_factory=dict)  # seconds per stage


def check_strength(strength: float) -> float:
    if not 0.0 <= float(strength) <= 1.0:
        raise ValueError(f"strength must be between 0 and 1, got {strength}")
    return float(strength)


def blend(original: np.ndarray, restored: np.ndarray, strength: float) -> np.ndarray:
    """``original + strength * (restored - original)`` in uint8: 0 gives the original exactly, 1 the restored."""
    if strength <= 0.0:
        return original.copy()
    if strength >= 1.0:
        return restored
    mixed = original.astype(np.float32) + strength * (restored.astype(np.float32) - original.astype(np.float32))
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


@dataclass
class Prepared:
    """One photo after the CPU-side first stage: what the network must see, and how to paste it back."""

    rgb: np.ndarray
    mode: str  # what will be done: faces / aligned / whole / none
    faces: list[Face] = field(default_factory=list)
    geometry: list[tuple[np.ndarray, int]] = field(default_factory=list)  # (matrix, crop side) per face
    crops: list[np.ndarray] = field(default_factory=list)  # aligned faces, the network's input
    full_frame: bool = False  # the network also runs over the whole frame (aligned, whole, no face -> whole)
    timings: dict = field(default_factory=lambda: defaultdict(float))


def prepare(
    finder: FaceFinder, rgb: np.ndarray, mode: str, no_face: str, only_center_face: bool, min_face_scale: float
) -> Prepared:
    """Detect and align (no network): raises :class:`NoFaceError` under ``no_face='error'``."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 1:
        raise ValueError(f"expected an H x W x 3 image, got shape {rgb.shape}")
    if mode == "aligned":
        return Prepared(rgb, "aligned", full_frame=True)
    t: dict = defaultdict(float)
    t0 = time.perf_counter()
    faces = finder.detect(rgb)
    if only_center_face:
        faces = center_face(faces, rgb.shape)
    t["detect"] += time.perf_counter() - t0
    if not faces and mode == "faces":
        if no_face == "error":
            raise NoFaceError("no face found")
        return Prepared(rgb, "none" if no_face == "skip" else "whole", full_frame=no_face != "skip", timings=t)
    ((geometry, crops),) = align_faces([rgb], [[f.landmarks for f in faces]], min_face_scale, t)
    return Prepared(rgb, mode, faces, geometry, crops, full_frame=mode == "whole", timings=t)


def align_faces(
    images: list[np.ndarray], landmarks: list[list[np.ndarray]], min_face_scale: float, t: dict
) -> list[tuple[list[tuple[np.ndarray, int]], list[np.ndarray]]]:
    """(geometry, aligned crops) per image for the faces at ``landmarks`` (5 x 2 each)."""
    t0 = time.perf_counter()
    out = []
    for img, lms in zip(images, landmarks):
        geometry = [crop_geometry(lm, min_face_scale) for lm in lms]
        out.append((geometry, [warp_face(img, m, side) for m, side in geometry]))
    t["align"] += time.perf_counter() - t0
    return out


def network(deblurrer: Network, preps: list[Prepared]) -> list[tuple[np.ndarray | None, list[np.ndarray]]]:
    """(deblurred full frame or None, restored crops) per photo; the crops of all photos in one batched call."""
    t0 = time.perf_counter()
    bases = [deblurrer.whole(p.rgb) if p.full_frame else None for p in preps]
    flat = iter(deblurrer.run_network([c for p in preps for c in p.crops]))
    restored = [[next(flat) for _ in p.crops] for p in preps]
    share = (time.perf_counter() - t0) / max(1, len(preps))
    for p in preps:
        p.timings["network"] += share
    return list(zip(bases, restored))


def paste_faces(
    img: np.ndarray,
    geometry: list[tuple[np.ndarray, int]],
    crops: list[np.ndarray],
    restored: list[np.ndarray],
    strength: float = 1.0,
    base: np.ndarray | None = None,
) -> np.ndarray:
    """``img`` with each restored crop pasted back (each crop first blended with its input by
    ``strength`` < 1); over ``base`` (``--whole``: the tiled frame) instead of a copy if given."""
    out = (img.copy() if crops else img) if base is None else base  # one copy: each paste touches its box
    for (m, _), c, r in zip(geometry, crops, restored):
        r = blend(c, r, strength) if strength < 1 else r
        paste_back(out, r, m, crop=c, inplace=True, original=None if base is None else img)
    return out


def finish(prep: Prepared, base: np.ndarray | None, restored: list[np.ndarray], strength: float) -> DeblurResult:
    """Paste back and apply ``strength`` (the input blended with the result; 0 = the input)."""
    t = prep.timings
    if prep.mode == "none":
        return DeblurResult(prep.rgb.copy(), "none", timings=dict(t))
    if prep.mode in ("aligned",) or (base is not None and not prep.crops):
        image = base
    else:
        t0 = time.perf_counter()
        image = paste_faces(prep.rgb, prep.geometry, prep.crops, restored, base=base)
        t["paste"] += time.perf_counter() - t0
    assert image is not None
    result = DeblurResult(image, prep.mode, prep.faces, prep.crops, restored, dict(t))
    if strength < 1.0:
        result.image = blend(prep.rgb, result.image, strength)
        result.restored = [blend(c, r, strength) for c, r in zip(result.crops, result.restored)]
    return result
