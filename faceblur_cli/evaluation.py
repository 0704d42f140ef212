"""Evaluation: every protocol's cases and scores, for training validation, the benchmark and the scripts.

Why one module: the same cases must be built identically by ``faceblur benchmark``, by training
validation (``val.csv``) and by the scripts in ``benchmarks/``, so a number measured in one place
is the number measured in the others. Beyond the paper's aligned crops:

* **everyday** (aligned crops): the blur phones make (:data:`~.degradations.EVERYDAY_KINDS`:
  shake, straight streaks, defocus disks, soft Gaussian) at 5 / 9 / 13 / 17 px, then sensor
  noise (sigma 2) and JPEG 90. Every face gets every size; the kind rotates, so each kind is
  seen at each size. Scored per size and per kind.
* **wild** (whole photos): a held-out face pasted (elliptical feather) into a 960 x 640
  face-free scene at 80 / 140 / 220 px wide, the *photo* blurred at photo scale by an everyday
  kind at 7 / 11 / 15 px, noise and JPEG; run through the whole pipeline (detect, align,
  deblur, paste back) and scored on the face's box, so detection, resampling and paste-back
  are measured too. Scored per face width, per blur size and per kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import torch

from .blur import ImageSpectrum, degrade, finish
from .data import to_tensor, to_uint8
from .degradations import (
    EVERYDAY_JPEG,
    EVERYDAY_KINDS,
    EVERYDAY_NOISE,
    MILD_BANK_SEED_OFFSET,
    PROTOCOLS,
    everyday_degrade,
    everyday_kernel,
)
from .imageio import read_rgb
from .kernels import PAPER_SIZES, KernelBank
from .metrics import detail_ratio, psnr, ssim

EVERYDAY_SIZES = PROTOCOLS["everyday"]
WILD_WIDTHS = (80, 140, 220)
WILD_SIZES = PROTOCOLS["wild"]
WILD_SHAPE = (640, 960)  # H, W
#: Scenes without faces, from scikit-image's bundled samples (public domain / CC0; see its README).
SCENES = (
    "coffee",
    "rocket",
    "stereo_motorcycle",
    "brick",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
)
EVERYDAY_SEED = 2801
WILD_SEED = 2802
#: Seed of training validation's kernels (``faceblur train``'s val.csv), fixed across runs.
VAL_KERNEL_SEED = 1_000_003


@dataclass
class EverydayCase:
    name: str
    size: int
    kind: str
    sharp: np.ndarray
    blurry: np.ndarray
    kernel: np.ndarray


def everyday_cases(files: list[Path], seed: int = 0, sizes: tuple[int, ...] = EVERYDAY_SIZES) -> list[EverydayCase]:
    """Every face at every size; kind = EVERYDAY_KINDS[(face + size index) % 4]; deterministic in ``seed``."""
    cases = []
    for i, f in enumerate(files):
        sharp = read_rgb(f)
        for j, size in enumerate(sizes):
            kind = EVERYDAY_KINDS[(i + j) % len(EVERYDAY_KINDS)]
            blurry, kernel = everyday_degrade(sharp, kind, size, np.random.default_rng([EVERYDAY_SEED + seed, i, size]))
            cases.append(EverydayCase(f.name, size, kind, sharp, blurry, kernel))
    return cases


@cache
def scene(index: int) -> np.ndarray:
    """Face-free scene ``index`` (cycling over :data:`SCENES`), as a 960 x 640 RGB photo."""
    import skimage.data

    img = getattr(skimage.data, SCENES[index % len(SCENES)])()
    img = img[0] if isinstance(img, tuple) else img  # stereo_motorcycle: (left, right, disparity)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, 2)
    img = np.ascontiguousarray(img[:, :, :3])
    if img.dtype != np.uint8:
        img = (255 * (img.astype(np.float64) / max(img.max(), 1))).astype(np.uint8)
    h, w = WILD_SHAPE
    scale = max(h / img.shape[0], w / img.shape[1])
    img = cv2.resize(
        img, (int(np.ceil(img.shape[1] * scale)), int(np.ceil(img.shape[0] * scale))), interpolation=cv2.INTER_CUBIC
    )
    y, x = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
    return img[y : y + h, x : x + w].copy()


def _ellipse_alpha(h: int, w: int) -> np.ndarray:
    """1 inside an ellipse filling the box, feathered to 0 at its rim (a pasted face has no hard edge)."""
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.sqrt(((xx + 0.5 - w / 2) / (w / 2)) ** 2 + ((yy + 0.5 - h / 2) / (h / 2)) ** 2)
    return np.clip((1.0 - r) / 0.12, 0.0, 1.0).astype(np.float32)[:, :, None]


@dataclass
class WildCase:
    name: str
    width: int  # face width in the photo, px
    size: int  # blur extent at photo scale, px
    kind: str
    sharp: np.ndarray  # the whole sharp photo
    blurry: np.ndarray  # the whole degraded photo
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 of the pasted face (scored region)

    def region(self, photo: np.ndarray) -> np.ndarray:
        x1, y1, x2, y2 = self.box
        return photo[y1:y2, x1:x2]


#: Face width (cheek to cheek) per eye distance: about 140 mm for 62 mm between the pupils.
FACE_PER_EYES = 2.3


def compose(
    face: np.ndarray, eyes: np.ndarray, width: int, scene_rgb: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, tuple]:
    """``face`` scaled so the face itself is ``width`` px wide (from its eye centres ``eyes``, 2 x 2),
    its head (an ellipse 1.5 x 2 face widths, feathered) pasted at a random place in ``scene_rgb``.
    Returns the photo and the face box (``width`` wide, 1.3 x as high, centred between eyes and mouth)."""
    scale = width / (FACE_PER_EYES * float(np.linalg.norm(eyes[1] - eyes[0])))
    filt = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    big = cv2.resize(
        face, (max(1, round(face.shape[1] * scale)), max(1, round(face.shape[0] * scale))), interpolation=filt
    )
    cx, cy = (eyes[0] + eyes[1]) / 2 * scale
    cy += 0.25 * width  # the face's centre lies below the eyes
    hw, hh = int(0.75 * width), int(1.0 * width)  # head half-width / half-height
    H, W = scene_rgb.shape[:2]
    px = int(rng.integers(hw + 8, W - hw - 8))
    py = int(rng.integers(hh + 8, max(hh + 9, H - hh - 8)))
    photo = scene_rgb.astype(np.float32).copy()
    # source window around the face centre, clipped to the resized face image
    sx0, sy0 = int(round(cx)) - hw, int(round(cy)) - hh
    x0, y0 = max(0, -sx0), max(0, -sy0)
    x1, y1 = min(2 * hw, big.shape[1] - sx0), min(2 * hh, big.shape[0] - sy0)
    a = _ellipse_alpha(2 * hh, 2 * hw)[y0:y1, x0:x1]
    patch = big[sy0 + y0 : sy0 + y1, sx0 + x0 : sx0 + x1].astype(np.float32)
    ty, tx = py - hh + y0, px - hw + x0
    region = photo[ty : ty + (y1 - y0), tx : tx + (x1 - x0)]
    photo[ty : ty + (y1 - y0), tx : tx + (x1 - x0)] = a * patch + (1 - a) * region
    bh = int(round(1.3 * width))
    box = (px - width // 2, max(0, py - bh // 2), px - width // 2 + width, min(H, py - bh // 2 + bh))
    return np.clip(np.rint(photo), 0, 255).astype(np.uint8), box


def wild_cases(
    files: list[Path],
    seed: int = 0,
    widths: tuple[int, ...] = WILD_WIDTHS,
    sizes: tuple[int, ...] = WILD_SIZES,
    detector=None,
) -> list[WildCase]:
    """Each face at every width; blur size and kind rotate with face and width; deterministic in ``seed``.
    Faces whose eyes the detector cannot find on the sharp file are left out."""
    from .faces import FaceDetector

    detector = detector or FaceDetector("cpu")
    cases = []
    for i, f in enumerate(files):
        face = read_rgb(f)
        found = detector.detect(face)
        if not found:
            continue
        eyes = found[0].landmarks[:2]
        for j, width in enumerate(widths):
            rng = np.random.default_rng([WILD_SEED + seed, i, width])
            size = sizes[(i + j) % len(sizes)]
            kind = EVERYDAY_KINDS[(i + 2 * j) % len(EVERYDAY_KINDS)]
            sharp, box = compose(face, eyes, width, scene(i + j), rng)
            kernel = everyday_kernel(kind, size, rng)
            blurred = ImageSpectrum(sharp, max(kernel.shape) | 1).blur(kernel)
            blurry = finish(blurred, rng, EVERYDAY_NOISE, EVERYDAY_JPEG)
            cases.append(WildCase(f.name, width, size, kind, sharp, blurry, box))
    return cases


def score_groups(rows: list[dict], keys: tuple[str, ...]) -> dict:
    """Mean PSNR/SSIM overall and per value of each key in ``keys`` (e.g. size, kind, width)."""
    out: dict = {"psnr": float(np.mean([r["psnr"] for r in rows])), "ssim": float(np.mean([r["ssim"] for r in rows]))}
    for key in keys:
        groups: dict = {}
        for r in rows:
            groups.setdefault(str(r[key]), []).append(r)
        out[f"per_{key}"] = {
            k: {"psnr": float(np.mean([r["psnr"] for r in v])), "ssim": float(np.mean([r["ssim"] for r in v]))}
            for k, v in sorted(groups.items(), key=lambda kv: (len(kv[0]), kv[0]))
        }
    return out


def evaluate_wild(
    cases: list[WildCase],
    methods: dict[str, Callable[[np.ndarray], tuple[np.ndarray, int]]],
    progress: Callable[[], None] | None = None,
) -> dict:
    """Run each method (photo -> (photo, faces found)) on every case; score the face box.

    Returns per method: overall PSNR/SSIM on the face regions, per width / size / kind, the share
    of photos in which exactly the pasted face was found, and ms per photo.
    """
    import time

    rows: dict = {m: [] for m in methods}
    for case in cases:
        for name, fn in methods.items():
            t0 = time.perf_counter()
            out, found = fn(case.blurry)
            ms = (time.perf_counter() - t0) * 1000
            a, b = case.region(case.sharp), case.region(out)
            rows[name].append(
                dict(
                    psnr=psnr(a, b),
                    ssim=ssim(a, b),
                    width=case.width,
                    size=case.size,
                    kind=case.kind,
                    found=found,
                    ms=ms,
                )
            )
        if progress:
            progress()
    result = {}
    for name, r in rows.items():
        result[name] = score_groups(r, ("width", "size", "kind"))
        result[name]["found_one"] = float(np.mean([x["found"] == 1 for x in r]))
        result[name]["ms_per_image"] = float(np.mean([x["ms"] for x in r]))
    return result


def evaluate_everyday(
    cases: list[EverydayCase], methods: dict[str, Callable[[EverydayCase], np.ndarray]], progress=None
) -> dict:
    """Aligned everyday cases (methods take the case: oracles need its kernel): overall, per size and
    per kind PSNR/SSIM, detail ratio, ms per face."""
    import time

    from .metrics import detail_ratio

    rows: dict = {m: [] for m in methods}
    for case in cases:
        for name, fn in methods.items():
            t0 = time.perf_counter()
            out = fn(case)
            ms = (time.perf_counter() - t0) * 1000
            rows[name].append(
                dict(
                    psnr=psnr(case.sharp, out),
                    ssim=ssim(case.sharp, out),
                    detail=detail_ratio(case.sharp, out),
                    size=case.size,
                    kind=case.kind,
                    ms=ms,
                )
            )
        if progress:
            progress()
    result = {}
    for name, r in rows.items():
        result[name] = score_groups(r, ("size", "kind"))
        result[name]["detail"] = float(np.mean([x["detail"] for x in r]))
        result[name]["ms_per_image"] = float(np.mean([x["ms"] for x in r]))
    return result


def wild_methods(engines: dict) -> dict[str, Callable[[np.ndarray], tuple[np.ndarray, int]]]:
    """The wild protocol's rows: the blurry photo, each engine in face mode (NAME) and in ``--whole`` (NAME/whole)."""
    methods: dict = {"blurry": lambda x: (x, 0)}
    for name, e in engines.items():
        for mode, label in (("faces", name), ("whole", f"{name}/whole")):

            def run(x, e=e, mode=mode):
                r = e.restore(x, mode, no_face="skip")
                return r.image, len(r.faces)

            methods[label] = run
    return methods


# -- training validation: fixed held-out sets scored on the network alone (val.csv) -------------
def validation_set(
    files: list[Path], count: int, seed: int = VAL_KERNEL_SEED
) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Fixed (sharp, blurry, kernel size) triples from held-out files, cycling over the paper's sizes."""
    return protocol_set(files, count, PAPER_SIZES, seed)


def spread(files: list[Path], count: int) -> list[Path]:
    """``count`` files spread evenly over the sorted list (a fixed choice, whatever the folder's order)."""
    return sorted(files)[:: max(1, len(files) // max(count, 1))][:count]


def protocol_set(files: list[Path], count: int, sizes: tuple[int, ...], seed: int) -> list:
    rng = np.random.default_rng(seed)
    sizes = tuple(k for k in sizes if k > 0)
    bank = KernelBank.generate(len(sizes) * 4, sizes, seed) if sizes else None
    picked = spread(files, count)
    out = []
    for i, f in enumerate(picked):
        sharp = read_rgb(f)
        if bank is None:  # the sharp protocol: the face itself
            out.append((sharp, sharp, 0))
            continue
        size = sizes[i % len(sizes)]
        kernel = bank.kernels[int(rng.choice(bank.indices_of_size(size)))]
        out.append((sharp, degrade(sharp, kernel), size))
    return out


def validation_sets(files: list[Path], count: int, seed: int = VAL_KERNEL_SEED) -> dict[str, list]:
    """Held-out sets per protocol: ``paper`` (13-27 px, ``count`` faces), ``mild`` (5-11 px) and
    ``sharp`` (no blur; half as many each), so a run shows at once whether it harms clean faces."""
    half = max(1, count // 2)
    return {
        "paper": validation_set(files, count, seed),
        "mild": protocol_set(files, half, (5, 7, 9, 11), seed + MILD_BANK_SEED_OFFSET),
        "sharp": protocol_set(files[1:], half, (0,), seed),
        "everyday": everyday_set(files[2:], half, seed),
    }


def everyday_set(files: list[Path], count: int, seed: int) -> list:
    """Held-out faces blurred as phones blur them (:func:`degradations.everyday_degrade`), cycling over
    kinds and sizes; (sharp, blurry, size) as the other validation sets."""
    sizes = PROTOCOLS["everyday"]
    picked = spread(files, count)
    out = []
    for i, f in enumerate(picked):
        sharp = read_rgb(f)
        kind, size = EVERYDAY_KINDS[i % len(EVERYDAY_KINDS)], sizes[(i // len(EVERYDAY_KINDS)) % len(sizes)]
        blurry, _ = everyday_degrade(sharp, kind, size, np.random.default_rng([seed, i, size]))
        out.append((sharp, blurry, size))
    return out


@torch.no_grad()
def evaluate(generator: torch.nn.Module, val: list, device: torch.device) -> dict:
    """Mean PSNR/SSIM (and detail ratio) of the model and of the blurry input over a validation set."""
    was_training = generator.training
    generator.eval()
    m_p, m_s, m_d, b_p, b_s = [], [], [], [], []
    for sharp, blurry, _ in val:
        out = to_uint8(generator(to_tensor(blurry)[None].to(device))[0])
        m_p.append(psnr(sharp, out))
        m_s.append(ssim(sharp, out))
        m_d.append(detail_ratio(sharp, out))
        b_p.append(psnr(sharp, blurry))
        b_s.append(ssim(sharp, blurry))
    generator.train(was_training)
    return {
        "psnr": float(np.mean(m_p)),
        "ssim": float(np.mean(m_s)),
        "detail": float(np.mean(m_d)),
        "blurry_psnr": float(np.mean(b_p)),
        "blurry_ssim": float(np.mean(b_s)),
    }


def evaluate_protocols(generator: torch.nn.Module, sets: dict[str, list], device: torch.device) -> dict:
    """:func:`evaluate` per protocol, flattened: the paper set keeps the old column names (psnr, ...),
    the others are prefixed (mild_psnr, sharp_psnr, ...)."""
    row: dict = {}
    for name, val in sets.items():
        if not val:
            continue
        res = evaluate(generator, val, device)
        if name == "sharp":  # the input is the truth: only the model's PSNR/SSIM mean anything
            res = {"psnr": min(res["psnr"], 100.0), "ssim": res["ssim"]}
        row.update({(k if name == "paper" else f"{name}_{k}"): v for k, v in res.items()})
    return row


def format_val(v: dict) -> str:
    """One console line for a validation row: gains per protocol and the sharp-face PSNR."""
    parts = [f"paper {v['psnr']:.2f} dB / {v['ssim']:.4f} (gain {v['psnr'] - v['blurry_psnr']:+.2f})"]
    if "detail" in v:
        parts.append(f"detail {v['detail']:.2f}")
    if "mild_psnr" in v:
        parts.append(f"mild gain {v['mild_psnr'] - v['mild_blurry_psnr']:+.2f}")
    if "everyday_psnr" in v:
        parts.append(f"everyday gain {v['everyday_psnr'] - v['everyday_blurry_psnr']:+.2f}")
    if "sharp_psnr" in v:
        parts.append(f"sharp {v['sharp_psnr']:.2f} dB")
    return "  ".join(parts)
