"""What one finished photo becomes: its output file, the ``--compare`` and ``--save-faces`` extras,
warnings, and a one-line failure message; shared by the local and the Ray engine so both write
the same bytes and say the same things."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from .imageio import ImageError, LoadedImage, encode_image, to_pil

#: Writes encoded bytes to a destination (a local path or an object-store URI); returns its name.
Sink = Callable[[bytes, str], str]


@dataclass
class FileReport:
    """The outcome of one input: ``status`` is written / skipped / failed."""

    src: str
    dst: str
    status: str = "written"
    faces: int = 0
    error: str = ""
    ms: float = 0.0
    warnings: list[str] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)


def side_by_side(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.concatenate([before, np.full((before.shape[0], 8, 3), 255, np.uint8), after], 1)


def _beside(dst: str, tail: str) -> str:
    """``dst``'s folder + its stem + ``tail``; string-based so ``s3://`` URIs keep their ``//``."""
    folder, _, name = dst.rpartition("/") if "://" in dst else (str(Path(dst).parent), "/", Path(dst).name)
    return f"{folder}/{PurePosixPath(name).stem}{tail}"


def compare_name(dst: str) -> str:
    return _beside(dst, "_compare.png")


def face_name(dst: str, i: int) -> str:
    return _beside(dst, f"_face{i:02d}.png")


def deliver(src: str, dst: str, loaded: LoadedImage, result, opts, requested_mode: str, sink: Sink) -> FileReport:
    """Encode and write a :class:`~faceblur_cli.deblurrer.DeblurResult` (and its extras) through ``sink``."""
    report = FileReport(src, dst)
    report.warnings += [f"{src}: {note}" for note in loaded.notes]
    report.faces = len(result.faces) if result.mode == "faces" else 1 if result.mode == "aligned" else 0
    if result.mode == "none":
        report.warnings.append(f"{src}: no face found; copied unchanged (--no-face skip)")
    elif requested_mode == "faces" and result.mode == "whole":
        report.warnings.append(f"{src}: no face found; deblurred the whole image (--no-face whole)")
    suffix = Path(dst).suffix
    if loaded.alpha is not None and suffix.lower() in (".jpg", ".jpeg", ".bmp"):
        report.warnings.append(f"{src}: transparency dropped ({suffix} has no alpha; use --ext png)")
    sink(_encode(to_pil(result.image, loaded), dst, loaded), dst)
    if opts.compare:
        name = compare_name(dst)
        report.extras.append(sink(_encode(side_by_side(loaded.rgb, result.image), name), name))
    if opts.save_faces:
        for i, (crop, rest) in enumerate(zip(result.crops, result.restored)):
            name = face_name(dst, i)
            report.extras.append(sink(_encode(side_by_side(crop, rest), name), name))
    return report


def _encode(image, dst: str, like: LoadedImage | None = None) -> bytes:
    try:
        return encode_image(image, Path(dst).suffix, like)
    except ImageError:
        raise ImageError(f"{dst}: unsupported output extension {Path(dst).suffix!r}") from None


def failure(err: BaseException, src: str, dst: str) -> str:
    """A one-line message for a per-file failure, naming the file once."""
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    if not isinstance(err, (ImageError, OSError, ValueError)) and not str(err).startswith(src):
        text = f"{type(err).__name__}: {text}"
    return text if src in text or dst in text else f"{src}: {text}"
