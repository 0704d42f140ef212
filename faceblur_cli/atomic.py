"""Temporary files and the claim of a final name: the one place outputs reach the disk.

Why a module of its own: images, videos, ONNX exports and weights all write "temp file, then
final name", and each copy of that pattern was a chance to get it wrong (a fixed temp name a
planted link could redirect; a rename that replaced a file another run had just written).

* A temp file is created **exclusively** (``O_EXCL``, ``mkstemp``) with an **unpredictable**,
  **short** name (``.fbtmp-XXXXXXXX.ext``, 20-odd bytes whatever the output's name, so a
  255-byte file name still fits) in the destination folder; it is never a followed link.
* The final name is **claimed** without replacing anything (a hard link, which fails if the name
  exists, then the temp name is dropped) unless the caller asked to overwrite; so a run never
  replaces a file that appeared after it planned.
* Our own temp names are recognisable (:func:`is_temp`), so a folder scan never takes them as input.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

TEMP_PREFIX = ".fbtmp-"

_UMASK = os.umask(0)
os.umask(_UMASK)


class OutputExists(FileExistsError):
    """The final name was taken (by another run, or a link planted there) while we worked."""


def is_temp(path: str | Path) -> bool:
    """True for a file this package creates as a temporary (never an input, never an output)."""
    return Path(path).name.startswith(TEMP_PREFIX)


def make_temp(dst: Path, tag: str = "") -> tuple[int, Path]:
    """An exclusively created, empty temp file beside ``dst`` (its suffix kept): (fd, path).
    ``tag`` (a few characters) marks the temps of one run, so :func:`remove_temps` can find them."""
    suffix = dst.suffix if len(dst.suffix) <= 16 else ""
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX + tag, suffix=suffix, dir=dst.parent)
    os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
    return fd, Path(tmp)


def claim(tmp: Path, dst: Path, overwrite: bool = False) -> Path:
    """Give ``tmp`` its final name ``dst``; without ``overwrite`` an existing ``dst`` (file, link,
    anything) is never replaced: :class:`OutputExists` is raised and ``tmp`` is left to the caller."""
    if overwrite:
        if dst.is_dir() and not dst.is_symlink():
            raise IsADirectoryError(errno.EISDIR, "is a folder; not replaced", str(dst))
        os.replace(tmp, dst)  # replaces a link itself, never what it points to
        return dst
    try:
        os.link(tmp, dst, follow_symlinks=False)
    except FileExistsError:
        raise OutputExists(f"{dst}: appeared while this run worked (another run?); not replaced") from None
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        # A filesystem without hard links (FAT, some network mounts): check, then rename.
        if os.path.lexists(dst):
            raise OutputExists(f"{dst}: appeared while this run worked (another run?); not replaced") from None
        os.rename(tmp, dst)
        return dst
    os.unlink(tmp)
    return dst


def remove_temps(folders, tag: str) -> int:
    """Delete the temps tagged ``tag`` in ``folders`` (left by a worker process killed mid-write)."""
    removed = 0
    for folder in set(folders):
        for tmp in Path(folder).glob(f"{TEMP_PREFIX}{tag}*") if tag and Path(folder).is_dir() else ():
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


@contextmanager
def temp_beside(dst: Path, tag: str = "") -> Iterator[tuple[IO[bytes], Path]]:
    """``with temp_beside(dst) as (f, tmp)``: an open temp file beside ``dst``, removed on any error
    (and if the caller never claimed it)."""
    fd, tmp = make_temp(dst, tag)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f, tmp
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(data: bytes, dst: Path, overwrite: bool = False, tag: str = "") -> Path:
    """``data`` to ``dst`` through an exclusive temp file and :func:`claim`."""
    with temp_beside(dst, tag) as (f, tmp):
        f.write(data)
        f.flush()
        f.close()
        return claim(tmp, dst, overwrite)
