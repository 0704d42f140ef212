"""Image reading and writing with Pillow: any mode in, predictable arrays out, atomic writes.

Every command reads images through :func:`load_image` so EXIF orientation, odd
modes (palette, CMYK, 16-bit, alpha) and broken files are handled in one place,
and writes through :func:`save_image` so an interrupted run never leaves a
half-written file under the final name.
"""

from __future__ import annotations

import io
import os
import re
import stat
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from . import atomic

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


class ImageError(Exception):
    """A file that is not a usable image; the message is one line meant for the user."""


@dataclass
class LoadedImage:
    """RGB pixels plus what is needed to write the result back like the original."""

    rgb: np.ndarray  # H x W x 3 uint8, upright
    alpha: np.ndarray | None = None  # H x W uint8, if the input had transparency
    grayscale: bool = False
    format: str | None = None
    info: dict = field(default_factory=dict)  # exif / icc_profile to carry over
    notes: list[str] = field(default_factory=list)  # what was done to the file on the way in (for warnings)


@contextmanager
def pixel_limit(max_pixels: int):
    """Pillow's decompression-bomb limit set to ``max_pixels`` for a block, then restored."""
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


#: Image types people have that we cannot write back: named in a folder run instead of ignored.
UNSUPPORTED_IMAGE_EXTENSIONS = (".gif", ".avif", ".heic", ".heif", ".jxl", ".jp2", ".ico", ".psd")


def scan_folder(
    root: Path, recursive: bool, extensions: tuple[str, ...] | set[str]
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files under ``root`` whose suffix is in ``extensions`` (sorted), and the problems met on the way:
    (path, why) for folders that cannot be read. Linked sub-folders are followed once (a link loop is
    not a problem, only a repeat); our own temp files are never listed."""
    found: list[Path] = []
    problems: list[tuple[Path, str]] = []
    seen: set[str] = set()

    def walk(folder: Path) -> None:
        real = os.path.realpath(folder)
        if real in seen:
            return
        seen.add(real)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as err:
            problems.append((folder, f"{folder}: cannot read the folder ({err.strerror or err})"))
            return
        for e in entries:
            path = Path(e.path)
            try:
                if e.is_dir():
                    if recursive:
                        walk(path)
                elif e.is_file() and path.suffix.lower() in extensions and not atomic.is_temp(path):
                    found.append(path)
            except OSError as err:  # a broken link, a vanished file
                problems.append((path, f"{path}: cannot read ({err.strerror or err})"))

    walk(root)
    return sorted(found), problems


def list_images(root: str | Path, recursive: bool = True) -> list[Path]:
    """Image files under ``root`` (sorted, by extension), or [root] if it is a file."""
    root = Path(root)
    if root.is_file():
        return [root]
    return scan_folder(root, recursive, IMAGE_EXTENSIONS)[0]


def _scale_to_8bit(arr: np.ndarray, what: str) -> tuple[np.ndarray, str]:
    """Scale (never clip) a high-bit-depth or float array to uint8; return it and a note saying how."""
    if arr.dtype == np.uint16:
        return (arr >> 8).astype(np.uint8), f"{what} 16-bit image scaled to 8 bits per channel"
    if np.issubdtype(arr.dtype, np.floating):
        a = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        hi = 1.0 if a.max() <= 1.0 else 255.0 if a.max() <= 255.0 else 65535.0
        out = np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return out, f"{what} floating-point image (range 0-{hi:g}) scaled to 8 bits per channel"
    if arr.dtype.itemsize > 1:  # 32-bit integers: 16-bit content unless it fits 8 bits
        hi = 65535.0 if arr.max() > 255 else 255.0
        out = np.clip(arr.astype(np.float64) / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return out, f"{what} {8 * arr.dtype.itemsize}-bit integer image scaled to 8 bits per channel"
    return arr, ""


def _source_bit_depth(im: Image.Image, path: Path) -> int:
    """Bits per channel in the file, where Pillow silently reduced 16-bit RGB to 8 bits."""
    if im.format == "PNG":
        with open(path, "rb") as f:
            head = f.read(26)
        return head[24] if len(head) > 24 else 8
    if im.format == "TIFF":
        bits = getattr(im, "tag_v2", {}).get(258, (8,))
        return max(bits) if isinstance(bits, tuple) else int(bits)
    return 8


def _bomb_message(path: Path, err: Exception) -> str:
    found = re.search(r"\((\d+) pixels\)", str(err))
    size = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
    limit = f"{Image.MAX_IMAGE_PIXELS:,}"
    return f"{path}: image too large ({size}, limit --max-pixels {limit}); raise the limit with --max-pixels"


def tiff_size(path: Path) -> tuple[int, int] | None:
    """(width, height) of a TIFF's first page from its header alone (no decoder runs), or None."""
    import struct

    try:
        with open(path, "rb") as f:
            head = f.read(16)
            order = {b"II": "<", b"MM": ">"}.get(head[:2])
            if order is None:
                return None
            magic = struct.unpack(order + "H", head[2:4])[0]
            if magic == 42:  # classic TIFF: 2-byte entry count, 12-byte entries, 4-byte values
                big, offset = False, struct.unpack(order + "I", head[4:8])[0]
            elif magic == 43:  # BigTIFF: 8-byte count, 20-byte entries
                big, offset = True, struct.unpack(order + "Q", head[8:16])[0]
            else:
                return None
            f.seek(offset)
            n = struct.unpack(order + ("Q" if big else "H"), f.read(8 if big else 2))[0]
            size = {}
            for _ in range(min(n, 4096)):
                entry = f.read(20 if big else 12)
                if len(entry) < (20 if big else 12):
                    break
                tag, kind = struct.unpack(order + "HH", entry[:4])
                if tag in (256, 257):
                    value = entry[12:] if big else entry[8:]
                    fmt = {3: "H", 4: "I", 16: "Q"}.get(kind)
                    if fmt is None:
                        return None
                    size[tag] = struct.unpack(order + fmt, value[: struct.calcsize(fmt)])[0]
            return (size[256], size[257]) if len(size) == 2 else None
    except (OSError, struct.error):
        return None


def _load_with_opencv(path: Path) -> np.ndarray | None:
    """Float and other TIFF layouts Pillow cannot decode (e.g. 32-bit float RGB): OpenCV reads them,
    but only after the header says the size is within the pixel limit (OpenCV has no bomb guard)."""
    import cv2

    size = tiff_size(path)
    if size is None:
        return None
    if size[0] * size[1] > (Image.MAX_IMAGE_PIXELS or float("inf")):
        raise ImageError(_bomb_message(path, ValueError(f"({size[0] * size[1]} pixels)")))

    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None:
        return None
    if arr.ndim == 3:
        arr = arr[:, :, 2::-1] if arr.shape[2] >= 3 else arr[:, :, 0]
    return arr


def load_image(path: str | Path) -> LoadedImage:
    """Decode ``path`` into a :class:`LoadedImage`; raise :class:`ImageError` with a one-line reason.

    Pillow's warnings (corrupt EXIF, truncated metadata) become ``notes`` of the result instead of
    stderr lines with site-packages paths.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        loaded = _load_image(Path(path))
    loaded.notes += [n for n in dict.fromkeys(str(w.message).splitlines()[0].strip() for w in caught) if n]
    return loaded


def load_image_bytes(data: bytes, name: str) -> LoadedImage:
    """:func:`load_image` for bytes from an upload or an object store, named ``name`` in messages.

    The bytes go through an exclusively created temp file (deleted at once), so every check and
    fallback of a file on disk applies unchanged; ``name``'s extension is kept (TIFF fallback)."""
    import tempfile

    suffix = Path(name).suffix if len(Path(name).suffix) <= 16 else ""
    fd, tmp = tempfile.mkstemp(prefix=atomic.TEMP_PREFIX, suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        loaded = load_image(tmp)
    except ImageError as err:
        raise ImageError(str(err).replace(tmp, name)) from None
    finally:
        os.unlink(tmp)
    loaded.notes = [n.replace(tmp, name) for n in loaded.notes]
    return loaded


def _load_image(path: Path) -> LoadedImage:
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a directory")
    if not stat.S_ISREG(path.stat().st_mode):
        raise ImageError(f"{path}: not a regular file (a pipe, socket or device)")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: empty file (0 bytes)")
    notes: list[str] = []
    try:
        with Image.open(path) as opened:
            im: Image.Image = opened
            fmt = im.format
            frames = getattr(im, "n_frames", 1)
            im.load()
            info = {k: im.info[k] for k in ("exif", "icc_profile") if k in im.info}
            bits = _source_bit_depth(im, path)
            try:
                im = ImageOps.exif_transpose(im)  # type: ignore[assignment]  # an upright Image, no longer a file
            except Exception as err:  # garbled EXIF: keep the pixels as stored
                notes.append(f"EXIF orientation unreadable ({err}); not applied")
                info.pop("exif", None)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(_bomb_message(path, err)) from None
    except (OSError, SyntaxError, ValueError) as err:
        arr = _load_with_opencv(path) if path.suffix.lower() in (".tif", ".tiff") else None
        if arr is None:
            raise ImageError(f"{path}: not a readable image ({err})") from None
        if arr.shape[0] * arr.shape[1] > (Image.MAX_IMAGE_PIXELS or float("inf")):
            raise ImageError(_bomb_message(path, ValueError(f"({arr.shape[0] * arr.shape[1]} pixels)"))) from None
        arr, note = _scale_to_8bit(arr, "TIFF")
        rgb = np.repeat(arr[:, :, None], 3, 2) if arr.ndim == 2 else np.ascontiguousarray(arr)
        return LoadedImage(rgb, None, arr.ndim == 2, "TIFF", {}, [note] if note else [])
    if frames > 1:
        notes.append(f"has {frames} frames (multi-page or animated); only the first is deblurred")
    gray = im.mode in ("1", "L", "LA", "I;16", "I;16B", "I;16L", "I", "F")
    alpha = None
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA") if im.mode != "LA" else im
        alpha = np.asarray(im.getchannel("A")).copy()
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr, note = _scale_to_8bit(np.asarray(im), "grayscale")
        im = Image.fromarray(arr, "L")
        notes.append(note)
    elif bits > 8:
        notes.append(f"{bits}-bit {im.mode} image scaled to 8 bits per channel")
    if im.mode == "CMYK":
        im = _cmyk_to_rgb(im, info, notes)
    rgb = np.asarray(im.convert("RGB")).copy()
    if "exif" in info:
        # The pixels are now upright; drop the orientation tag so viewers don't rotate again.
        try:
            exif = Image.Exif()
            exif.load(info["exif"])
            exif.pop(0x0112, None)
            info["exif"] = exif.tobytes()
        except Exception:  # unparseable EXIF: do not carry it over
            info.pop("exif")
    return LoadedImage(rgb, alpha, gray, fmt, info, [n for n in notes if n])


def _cmyk_to_rgb(im: Image.Image, info: dict, notes: list[str]) -> Image.Image:
    """CMYK to RGB through the file's own profile when it has one, tagged sRGB afterwards: an RGB file
    must never carry a CMYK profile (colour-managed viewers would misread every pixel)."""
    from PIL import ImageCms

    icc = info.pop("icc_profile", None)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(im, src, srgb, outputMode="RGB")
            im = converted if converted is not None else im.convert("RGB")
            notes.append("CMYK converted to sRGB through its ICC profile")
        except (ImageCms.PyCMSError, OSError, ValueError) as err:
            notes.append(
                f"CMYK ICC profile unusable ({str(err).splitlines()[0] if str(err) else 'error'}); converted without it"
            )
            im = im.convert("RGB")
    else:
        im = im.convert("RGB")
    info["icc_profile"] = srgb.tobytes()
    return im


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
    """Write ``data`` through an exclusive temp file (:mod:`.atomic`); never replaces a file unless ``overwrite``."""
    path = Path(path)
    if os.path.lexists(path) and not overwrite:
        raise FileExistsError(f"{path}: exists (use --overwrite to replace it)")
    ensure_folder(path.parent)
    try:
        return atomic.write_bytes(data, path, overwrite)
    except atomic.OutputExists:
        raise
    except OSError as err:  # name the file the user asked for, not our temporary one
        raise ImageError(f"{path}: cannot write ({err.strerror or err})") from None


def ensure_folder(folder: Path) -> None:
    """``mkdir -p`` with a clear message when a path component is a file or not writable."""
    for parent in [folder, *folder.parents]:
        if parent.exists() and not parent.is_dir():
            raise ImageError(f"{parent}: is a file, so {folder} cannot be a folder")
        if parent.exists():
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ImageError(f"{folder}: cannot create the folder ({err.strerror or err})") from None


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
