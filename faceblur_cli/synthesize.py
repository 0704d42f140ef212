"""Blurry/sharp pair synthesis with the paper's kernel scheme, parallel and resumable.

Paper scheme (Qi et al. 2020, Sec. 4.1), generalised: the bank holds
``kernels / len(sizes)`` kernels per size; they are cut into groups of
``per_image`` kernels, and the images are cut into as many contiguous blocks.
Image block ``g`` is blurred by kernel group ``g`` of **every** size. With the
paper's numbers (8000 images, 800 kernels, 8 sizes, 5 per image) that is blocks
of 400 images x 5 kernels x 8 sizes = 320,000 pairs.

Every pair draws its randomness (crop box, noise) from
``default_rng([seed, image_index, kernel_id])``, so any pair can be rebuilt from
its ``manifest.csv`` row alone.

With ``degradation`` other than ``paper`` (e.g. ``real``), each image instead gets
``per_image`` pairs, each degraded by one draw of that mix
(:mod:`faceblur_cli.degradations`, the same code ``train`` blurs with on the
fly); ``kernel_id`` is then the pair's index and ``component`` names its blur.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .blur import ImageSpectrum
from .degradations import Degrader, Recipe, get_mix
from .imageio import ImageError, encode_image, list_images, load_image, save_image, write_atomic
from .kernels import PAPER_SIZES, KernelBank

MANIFEST_FIELDS = [
    "pair",
    "image",
    "kernel_id",
    "component",
    "kernel_size",
    "noise",
    "jpeg_quality",
    "crop_x",
    "crop_y",
    "crop_w",
    "crop_h",
    "seed",
]


@dataclass(frozen=True)
class SynthConfig:
    kernels: int = 800
    sizes: tuple[int, ...] = PAPER_SIZES
    per_image: int = 5
    crop: int = 150  # 0 = keep the whole image
    noise: float = 0.0  # Gaussian sigma in 0-255 units
    jpeg_quality: int = 0  # 0 = no JPEG round-trip
    seed: int = 0
    degradation: str = "paper"  # "paper": the block scheme above; another mix: per_image draws of it
    degradation_set: str = ""  # overrides of the mix (degradations.get_mix)

    @property
    def paper(self) -> bool:
        return self.degradation == "paper" and not self.degradation_set


_DEGRADERS: dict = {}


def _degrader(cfg: SynthConfig) -> Degrader:
    """One Degrader (kernel banks built once) per worker process and config."""
    key = (cfg.degradation, cfg.degradation_set, cfg.kernels, cfg.seed)
    if key not in _DEGRADERS:
        _DEGRADERS[key] = Degrader(
            get_mix(cfg.degradation, cfg.degradation_set, paper_kernels=cfg.kernels, kernel_seed=cfg.seed)
        )
    return _DEGRADERS[key]


def write_bank(bank: KernelBank, out: Path) -> None:
    """``kernels.npz`` and a ``kernels.png`` contact sheet, both written atomically."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".kernels.part.npz"
    bank.save(tmp)
    os.replace(tmp, out / "kernels.npz")
    save_image(Image.fromarray(bank.contact_sheet()), out / "kernels.png", overwrite=True)


def assign_kernels(n_images: int, bank: KernelBank, sizes: Iterable[int], per_image: int) -> list[list[int]]:
    """Kernel ids for each image under the paper's block scheme (see module docstring)."""
    sizes = list(sizes)
    by_size = {k: bank.indices_of_size(k) for k in sizes}
    per_size = min(len(v) for v in by_size.values())
    if per_size < per_image:
        raise ValueError(f"--per-image {per_image} needs at least that many kernels per size (have {per_size})")
    groups = per_size // per_image
    plan = []
    for i in range(n_images):
        g = i * groups // max(n_images, 1)
        plan.append([int(k) for s in sizes for k in by_size[s][g * per_image : (g + 1) * per_image]])
    return plan


def pair_name(image_rel: str, kernel_id: int, paper: bool = True) -> str:
    stem = str(Path(image_rel).with_suffix("")).replace(os.sep, "__")
    return f"{stem}_{'k' if paper else 'd'}{kernel_id:04d}.png"


def _make_pairs(task: tuple) -> tuple[list[dict], str | None]:
    """Worker: all pairs of one image. Returns manifest rows and an error line (or None)."""
    src, rel, index, kernel_ids, kernels, cfg, out = task
    try:
        img = load_image(src).rgb
    except ImageError as err:
        return [], str(err)
    rows = []
    h, w = img.shape[:2]
    whole = None if cfg.crop else encode_image(img, ".png")  # uncropped: every pair has the same sharp file
    if cfg.paper:
        spectrum = ImageSpectrum(img, max(k.shape[0] for k in kernels))  # one image FFT for all its kernels
    for i, kid in enumerate(kernel_ids):
        name = pair_name(rel, kid, cfg.paper)
        rng = np.random.default_rng([cfg.seed, index, kid])
        if cfg.paper:
            recipe = Recipe("paper", kernels[i], cfg.noise, cfg.jpeg_quality or None)
        else:
            recipe = _degrader(cfg).draw(rng)
        c_h, c_w = (min(cfg.crop, h), min(cfg.crop, w)) if cfg.crop else (h, w)
        y, x = int(rng.integers(h - c_h + 1)), int(rng.integers(w - c_w + 1))
        blurry = Degrader.apply(img, recipe, rng, spectrum if cfg.paper else None)
        sharp = whole if whole is not None else encode_image(img[y : y + c_h, x : x + c_w], ".png")
        write_atomic(sharp, out / "sharp" / name, overwrite=True)
        write_atomic(encode_image(blurry[y : y + c_h, x : x + c_w], ".png"), out / "blurry" / name, overwrite=True)
        rows.append(
            {
                "pair": name,
                "image": rel,
                "kernel_id": kid,
                "component": recipe.component,
                "kernel_size": int(recipe.kernel.shape[0]),
                "noise": recipe.noise,
                "jpeg_quality": recipe.jpeg_quality or 0,
                "crop_x": x,
                "crop_y": y,
                "crop_w": c_w,
                "crop_h": c_h,
                "seed": cfg.seed,
            }
        )
    return rows, None


def _read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _write_manifest(rows: list[dict], path: Path) -> None:
    rows = sorted(rows, key=lambda r: r["pair"])
    tmp = path.with_name(".manifest.part.csv")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


@dataclass
class SynthResult:
    pairs_written: int
    pairs_skipped: int
    errors: list[str]
    seconds: float


def synthesize(
    images: str | Path | None,
    out: str | Path,
    cfg: SynthConfig = SynthConfig(),
    workers: int | None = None,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SynthResult:
    """Write the kernel bank and (if ``images``) the pairs + manifest under ``out``."""
    import time

    t0 = time.time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    settings = out / "synthesize.json"
    wanted = {**asdict(cfg), "sizes": list(cfg.sizes)}
    if settings.exists():
        previous = json.loads(settings.read_text())
        if previous != wanted:
            raise ValueError(f"{out} was made with different settings ({settings}); use a new --out folder")
    get_mix(cfg.degradation, cfg.degradation_set)  # an unknown mix fails before any work
    bank = KernelBank.generate(cfg.kernels, tuple(cfg.sizes), cfg.seed)
    write_bank(bank, out)
    settings.write_text(json.dumps(wanted, indent=2))
    if images is None:
        return SynthResult(0, 0, [], time.time() - t0)

    root = Path(images)
    files = list_images(root)
    if not files:
        raise ImageError(f"{root}: no images found")
    if limit:
        files = files[:limit]
    if cfg.paper:
        plan = assign_kernels(len(files), bank, cfg.sizes, cfg.per_image)
    else:
        plan = [list(range(cfg.per_image))] * len(files)
    manifest, progress_file = out / "manifest.csv", out / ".manifest.progress.csv"
    done_rows = {
        r["pair"]: r
        for r in _read_rows(manifest) + _read_rows(progress_file)
        if (out / "blurry" / r["pair"]).exists() and (out / "sharp" / r["pair"]).exists()
    }
    tasks, skipped = [], 0
    for index, (src, kids) in enumerate(zip(files, plan)):
        rel = str(src.relative_to(root)) if root.is_dir() else src.name
        todo = [k for k in kids if pair_name(rel, k, cfg.paper) not in done_rows]
        skipped += len(kids) - len(todo)
        if todo:
            kernels = [bank.kernels[k] for k in todo] if cfg.paper else None
            tasks.append((src, rel, index, todo, kernels, cfg, out))
    total = sum(len(t[3]) for t in tasks)
    errors: list[str] = []
    written = 0
    with open(progress_file, "a", newline="") as pf:
        writer = csv.DictWriter(pf, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
        if pf.tell() == 0:
            writer.writeheader()
        results: Iterable
        n_workers = workers or os.cpu_count() or 1
        if n_workers > 1 and len(tasks) > 1:
            pool = ProcessPoolExecutor(n_workers)
            results = (f.result() for f in as_completed(pool.submit(_make_pairs, t) for t in tasks))
        else:
            pool = None
            results = map(_make_pairs, tasks)
        try:
            for rows, err in results:
                if err:
                    errors.append(err)
                writer.writerows(rows)
                pf.flush()
                for r in rows:
                    done_rows[r["pair"]] = r
                written += len(rows)
                if progress:
                    progress(written, total)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
    _write_manifest(list(done_rows.values()), manifest)
    progress_file.unlink(missing_ok=True)
    return SynthResult(written, skipped, errors, time.time() - t0)
