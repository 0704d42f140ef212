"""Image reading and writing with Pillow: any mode in, predictable arrays out, atomic writes.

Every command reads images through :func:`load_image` so EXIF orientation, odd
modes (palette, CMYK, 16-bit, alpha) and broken files are handled in one place,
and writes through :func:`save_image` so an interrupted run never leaves a
half-written file under the final name.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

_UMASK = os.umask(0)
os.umask(_UMASK)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


class ImageError(Exception):
    """A file that is not a usable image; the message is one line meant for the user."""


@dataclass
class LoadedImage:
    """RGB pixels plus what is needed to write the result back like the original."""

    rgb: np.ndarray  # H x W x 3 uint8, upright
    alpha: np.ndarray | None = None  # H x W uint8, if the input had transparency
    grayscale: bool = False
    sixteen_bit: bool = False
    format: str | None = None
    info: dict = field(default_factory=dict)  # exif / icc_profile to carry over


def list_images(root: str | Path, recursive: bool = True) -> list[Path]:
    """Image files under ``root`` (sorted, by extension), or [root] if it is a file."""
    root = Path(root)
    if root.is_file():
        return [root]
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in root.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _to_8bit(img: Image.Image) -> Image.Image:
    """Scale 16/32-bit single-channel images to 8 bits (Pillow's convert would clip instead)."""
    arr = np.asarray(img)
    if arr.dtype == np.uint16 or img.mode.startswith("I;16"):
        return Image.fromarray((arr.astype(np.uint32) >> 8).astype(np.uint8), "L")
    if img.mode in ("I", "F"):
        arr = arr.astype(np.float64)
        hi = 65535.0 if arr.max() > 255 else 255.0
        return Image.fromarray(np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    return img


def load_image(path: str | Path) -> LoadedImage:
    """Decode ``path`` into a :class:`LoadedImage`; raise :class:`ImageError` with a one-line reason."""
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a directory")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                fmt = im.format
                im.load()
                info = {k: im.info[k] for k in ("exif", "icc_profile") if k in im.info}
                im = ImageOps.exif_transpose(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(f"{path}: image too large ({err}); raise the limit with --max-pixels") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"{path}: not a readable image ({err})") from None
    sixteen = im.mode in ("I;16", "I;16B", "I;16L", "I", "F")
    gray = im.mode in ("1", "L", "LA", "I;16", "I;16B", "I;16L", "I", "F")
    alpha = None
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA") if im.mode != "LA" else im
        alpha = np.asarray(im.getchannel("A")).copy()
    im = _to_8bit(im)
    rgb = np.asarray(im.convert("RGB")).copy()
    if "exif" in info:
        # The pixels are now upright; drop the orientation tag so viewers don't rotate again.
        exif = Image.Exif()
        exif.load(info["exif"])
        exif.pop(0x0112, None)
        info["exif"] = exif.tobytes()
    return LoadedImage(rgb, alpha, gray, sixteen, fmt, info)


def read_rgb(path: str | Path) -> np.ndarray:
    """H x W x 3 uint8 RGB of an image file, upright (EXIF applied)."""
    return load_image(path).rgb


def to_pil(rgb: np.ndarray, like: LoadedImage | None = None) -> Image.Image:
    """Back to a Pillow image in the original's mode (grayscale stays L, alpha re-attached)."""
    im = Image.fromarray(rgb, "RGB")
    if like is not None and like.grayscale:
        im = im.convert("L")
    if like is not None and like.alpha is not None:
        im = im.convert("LA" if like.grayscale else "RGBA")
        im.putalpha(Image.fromarray(like.alpha, "L"))
    return im


def encode_image(
    image: Image.Image | np.ndarray, suffix: str, like: LoadedImage | None = None, quality: int = 95
) -> bytes:
    """The file bytes of ``image`` in the format named by ``suffix`` (".png", ".jpg", ...)."""
    im = image if isinstance(image, Image.Image) else Image.fromarray(image)
    fmt = {
        ".jpg": "JPEG",
        ".jpeg": "JPEG",
        ".png": "PNG",
        ".webp": "WEBP",
        ".bmp": "BMP",
        ".tif": "TIFF",
        ".tiff": "TIFF",
    }.get(suffix.lower())
    if fmt is None:
        raise ImageError(f"unsupported output extension {suffix!r}")
    if fmt in ("JPEG", "BMP") and im.mode in ("RGBA", "LA"):
        im = im.convert("RGB" if im.mode == "RGBA" else "L")  # these formats have no alpha
    kwargs: dict = {}
    if like is not None:
        kwargs.update({k: v for k, v in like.info.items() if fmt in ("JPEG", "PNG", "WEBP", "TIFF")})
    if fmt in ("JPEG", "WEBP"):
        kwargs["quality"] = quality
    if fmt == "PNG":
        kwargs["compress_level"] = 1  # fast; PNG is lossless at any level
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def write_atomic(data: bytes, path: str | Path, overwrite: bool = False) -> Path:
    """Write ``data`` via a temp file in the same folder + rename; never replaces a file unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: exists (use --overwrite to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix + ".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_image(
    image: Image.Image | np.ndarray,
    path: str | Path,
    like: LoadedImage | None = None,
    quality: int = 95,
    overwrite: bool = False,
) -> Path:
    """Encode and write atomically (:func:`write_atomic`); never replaces a file unless ``overwrite``."""
    path = Path(path)
    try:
        data = encode_image(image, path.suffix, like, quality)
    except ImageError:
        raise ImageError(f"{path}: unsupported output extension {path.suffix!r}") from None
    return write_atomic(data, path, overwrite)
