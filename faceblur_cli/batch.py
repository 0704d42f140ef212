"""Deblur files and folders: output naming, never-overwrite rules, per-file errors, a summary.

One file or a whole tree goes through the same loop, so a single photo gets
exactly the safety rules of a batch: the input is never written, an existing
output is kept unless ``overwrite``, writes are atomic, and one bad file is
reported and skipped instead of stopping the run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from .deblurrer import Deblurrer, NoFaceError
from .imageio import IMAGE_EXTENSIONS, ImageError, list_images, load_image, save_image, to_pil


@dataclass
class BatchOptions:
    mode: str = "faces"
    no_face: str = "whole"
    only_center_face: bool = False
    recursive: bool = True
    suffix: str = ""
    ext: str = "auto"  # auto | png | jpg | ...
    skip_existing: bool = False
    overwrite: bool = False
    save_faces: bool = False
    compare: bool = False


@dataclass
class Summary:
    processed: int = 0
    faces: int = 0
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)


def plan(inp: Path, out: Path, opts: BatchOptions) -> list[tuple[Path, Path]]:
    """(input, output) pairs. A file input with an output that has an image extension writes exactly there."""
    if not inp.exists():
        raise ImageError(f"{inp}: no such file or directory")
    if inp.is_file():
        if out.suffix.lower() in IMAGE_EXTENSIONS and not out.is_dir():
            return [(inp, out)]
        return [(inp, _out_name(out, Path(inp.name), opts))]
    files = list_images(inp, opts.recursive)
    if not files:
        raise ImageError(f"{inp}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)})")
    if out.exists() and out.is_file():
        raise ImageError(f"{out}: is a file; a folder input needs an output folder")
    return [(f, _out_name(out, f.relative_to(inp), opts)) for f in files]


def _out_name(out_dir: Path, rel: Path, opts: BatchOptions) -> Path:
    ext = rel.suffix if opts.ext == "auto" else "." + opts.ext.lstrip(".")
    return out_dir / rel.parent / f"{rel.stem}{opts.suffix}{ext}"


def _side_by_side(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.concatenate([before, np.full((before.shape[0], 8, 3), 255, np.uint8), after], 1)


def run(
    deblurrer: Deblurrer,
    jobs: list[tuple[Path, Path]],
    opts: BatchOptions,
    progress: Callable[[Path, int], None] | None = None,
) -> Summary:
    """Process (input, output) jobs from :func:`plan`; problems go into the summary, never raised per file."""
    summary = Summary()
    for src, dst in jobs:
        faces = 0
        try:
            if dst.resolve() == src.resolve():
                raise ImageError(f"{dst}: is the input file; refusing to overwrite it (choose another -o)")
            if dst.exists() and not opts.overwrite:
                summary.skipped.append((src, "output exists" + ("" if opts.skip_existing else " (use --overwrite)")))
                continue
            if dst.parent.exists() and not os.access(dst.parent, os.W_OK):
                raise ImageError(f"{dst.parent}: output folder is not writable")
            loaded = load_image(src)
            if loaded.sixteen_bit:
                summary.warnings.append(f"{src}: 16-bit image converted to 8 bits per channel")
            result = deblurrer.restore(loaded.rgb, opts.mode, opts.no_face, opts.only_center_face)
            faces = len(result.faces)
            if result.mode == "none":
                summary.warnings.append(f"{src}: no face found; copied unchanged (--no-face skip)")
            elif opts.mode == "faces" and result.mode == "whole":
                summary.warnings.append(f"{src}: no face found; deblurred the whole image (--no-face whole)")
            save_image(to_pil(result.image, loaded), dst, like=loaded, overwrite=opts.overwrite)
            summary.outputs.append(dst)
            if opts.compare:
                save_image(
                    _side_by_side(loaded.rgb, result.image),
                    dst.with_name(f"{dst.stem}_compare.png"),
                    overwrite=opts.overwrite,
                )
            if opts.save_faces:
                for i, (crop, rest) in enumerate(zip(result.crops, result.restored)):
                    save_image(
                        _side_by_side(crop, rest),
                        dst.with_name(f"{dst.stem}_face{i:02d}.png"),
                        overwrite=opts.overwrite,
                    )
            summary.processed += 1
            summary.faces += faces
        except (ImageError, NoFaceError, ValueError, FileExistsError, OSError, Image.DecompressionBombError) as err:
            msg = str(err) if str(src) in str(err) or str(dst) in str(err) else f"{src}: {err}"
            summary.failed.append((src, msg))
        if progress:
            progress(src, faces)
    return summary
