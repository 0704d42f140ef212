"""Inputs and outputs on object stores (``s3://bucket/prefix``, any URI pyarrow.fs knows) beside local paths.

Why pyarrow.fs: it is what Ray Data reads and writes with, it honours the usual AWS settings
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``~/.aws``), and it needs no further package. An
object is written with one PUT of the finished bytes, so no partial object is ever visible under
its final name and there are no temp objects to clean up. Planning follows :mod:`faceblur_cli.batch`'s
rules: an input is never an output, two inputs never share one, existing outputs are kept unless
``overwrite``. A video is streamed to a private temp folder, deblurred there by the local streaming
path and uploaded from the finished file (:func:`staged_video`): memory stays that of one chunk.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from .imageio import IMAGE_EXTENSIONS, UNSUPPORTED_IMAGE_EXTENSIONS, ImageError, LoadedImage, load_image_bytes
from .video import VIDEO_EXTS

#: Largest object read into memory (an image larger than this is beyond any pixel limit anyway).
MAX_OBJECT_BYTES = 1 << 30
#: Bytes per read when an object is streamed to a local file.
CHUNK_BYTES = 8 << 20


def is_remote(location: str | Path) -> bool:
    return isinstance(location, str) and "://" in location and not location.startswith("file://")


@functools.lru_cache(maxsize=8)
def _filesystem(scheme_and_bucket: str):
    try:
        import pyarrow.fs as pafs
    except ImportError:
        from .extras import install_hint

        raise ImageError(f"object-store paths need pyarrow: {install_hint('ray')}") from None
    return pafs.FileSystem.from_uri(scheme_and_bucket)[0]


def split(uri: str):
    """(pyarrow filesystem, path inside it) for an object-store URI."""
    scheme, _, rest = uri.partition("://")
    bucket = rest.split("/", 1)[0]
    if not bucket:
        raise ImageError(f"{uri}: no bucket in the URI")
    try:
        return _filesystem(f"{scheme}://{bucket}"), rest.rstrip("/")
    except ImageError:
        raise
    except Exception as err:
        raise ImageError(f"{uri}: {str(err).splitlines()[0]}") from None


def exists(uri: str) -> bool:
    import pyarrow.fs as pafs

    fs, path = split(uri)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def listed(folders: set[str]) -> set[str]:
    """URIs of the objects directly under each of ``folders`` (one listing each)."""
    import pyarrow.fs as pafs

    found = set()
    for folder in folders:
        fs, path = split(folder)
        scheme = folder.partition("://")[0]
        for info in fs.get_file_info(pafs.FileSelector(path, allow_not_found=True)):
            if info.type != pafs.FileType.Directory:
                found.add(f"{scheme}://{info.path}")
    return found


def _object(uri: str):
    """(filesystem, path, info) of an existing object; a missing one or a prefix is an ImageError."""
    import pyarrow.fs as pafs

    fs, path = split(uri)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        raise ImageError(f"{uri}: no such object")
    if info.type != pafs.FileType.File:
        raise ImageError(f"{uri}: is a folder (prefix), not an object")
    return fs, path, info


def _refuse_existing(uri: str, overwrite: bool) -> None:
    if not overwrite and exists(uri):
        raise FileExistsError(f"{uri}: exists (use --overwrite to replace it)")


def read_bytes(uri: str) -> bytes:
    fs, path, info = _object(uri)
    if info.size == 0:
        raise ImageError(f"{uri}: empty file (0 bytes)")
    if info.size > MAX_OBJECT_BYTES:
        raise ImageError(f"{uri}: {info.size} bytes; larger than the {MAX_OBJECT_BYTES >> 20} MiB read limit")
    with fs.open_input_stream(path) as f:
        return f.read()


def write_bytes(data: bytes, uri: str, overwrite: bool = False) -> str:
    """One PUT of ``data``; an existing object is kept unless ``overwrite`` (FileExistsError)."""
    fs, path = split(uri)
    _refuse_existing(uri, overwrite)
    with fs.open_output_stream(path) as f:
        f.write(data)
    return uri


def download(uri: str, path: Path) -> None:
    """Stream the object ``uri`` into the new file ``path`` (created exclusively), a chunk at a time."""
    fs, key, _ = _object(uri)
    with fs.open_input_stream(key) as src, open(path, "xb") as dst:
        while chunk := src.read(CHUNK_BYTES):
            dst.write(chunk)


def upload(path: Path, uri: str, overwrite: bool = False) -> str:
    """The finished local file ``path`` as the object ``uri``, in one write call from a memory map
    (file-backed pages, not a copy in memory): an interrupt can only land before or after it, so the
    upload that closing the stream completes is always the whole file."""
    import pyarrow as pa

    fs, key = split(uri)
    _refuse_existing(uri, overwrite)  # again: another run may have written it meanwhile
    with pa.memory_map(str(path)) as src, fs.open_output_stream(key) as dst:
        dst.write(src.read_buffer())
    return uri


@contextlib.contextmanager
def staged_video(src: str | Path, dst: str | Path, overwrite: bool) -> Iterator[tuple[Path, Path]]:
    """Local (input, output) paths for a video whose input or output is an object: the input
    downloaded into a private temp folder (``mkdtemp``: mode 700, an unpredictable name), the output
    written there and uploaded once the body finished without error; the folder is removed after.
    Local paths pass through unchanged."""
    if not is_remote(src) and not is_remote(dst):
        yield Path(src), Path(dst)
        return
    if is_remote(dst):
        _refuse_existing(str(dst), overwrite)  # before minutes of work, not after
    folder = Path(tempfile.mkdtemp(prefix="faceblur-video-"))
    try:
        local_src = folder / ("in" + PurePosixPath(str(src)).suffix) if is_remote(src) else Path(src)
        local_dst = folder / ("out" + PurePosixPath(str(dst)).suffix) if is_remote(dst) else Path(dst)
        if is_remote(src):
            download(str(src), local_src)
        yield local_src, local_dst
        if is_remote(dst) and local_dst.exists():
            upload(local_dst, str(dst), overwrite)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def load(src: str | Path) -> LoadedImage:
    """Decode a local file or an object, with the same checks and messages."""
    if is_remote(src):
        return load_image_bytes(read_bytes(str(src)), str(src))
    from .imageio import load_image

    return load_image(src)


def plan(inp: str | Path, out: str | Path, opts, out_name: Callable[[Path], Path]) -> tuple[list, list]:
    """:func:`faceblur_cli.batch.plan` for an object or prefix in, or an object-store folder out:
    ((input, output) strings, problems: videos and unsupported types); ``out_name`` names an
    output from an input's path relative to ``inp`` (batch's rule: ``--suffix``, ``--ext``)."""
    problems: list = []
    single = str(out).lower().endswith((*IMAGE_EXTENSIONS, *VIDEO_EXTS))
    found = _objects(str(inp), opts) if is_remote(inp) else _files(Path(inp), opts, problems)
    if not found:
        raise ImageError(f"{inp}: no images found")
    if len(found) > 1:
        single = False
    pairs = []
    for src, rel in found:
        suffix = PurePosixPath(rel).suffix.lower()
        if suffix in UNSUPPORTED_IMAGE_EXTENSIONS:
            problems.append((src, "skipped", f"unsupported image type {suffix}"))
            continue
        if single:
            dst = str(out)
        else:
            name = out_name(Path(rel)).as_posix()
            dst = f"{str(out).rstrip('/')}/{name}" if is_remote(out) else str(Path(out) / name)
        pairs.append((src, dst))
    check(pairs)
    return pairs, problems


_KINDS = set(IMAGE_EXTENSIONS) | VIDEO_EXTS | set(UNSUPPORTED_IMAGE_EXTENSIONS)


def _objects(inp: str, opts) -> list[tuple[str, str]]:
    """(URI, name relative to the prefix) of the media objects at ``inp`` (one object, or a prefix)."""
    import pyarrow.fs as pafs

    fs, path = split(inp)
    if fs.get_file_info(path).type == pafs.FileType.File:
        return [(inp, PurePosixPath(path).name)]
    listing = fs.get_file_info(pafs.FileSelector(path, recursive=opts.recursive, allow_not_found=True))
    base = inp.rstrip("/")
    found = sorted(i.path for i in listing if i.type == pafs.FileType.File)
    return [
        (f"{base}/{p[len(path) + 1 :]}", p[len(path) + 1 :]) for p in found if PurePosixPath(p).suffix.lower() in _KINDS
    ]


def _files(inp: Path, opts, problems: list) -> list[tuple[str, str]]:
    """(path, name relative to the folder) of the media files at a local ``inp`` (one file or a folder)."""
    from .imageio import scan_folder

    if inp.is_file():
        return [(str(inp), inp.name)]
    if not inp.is_dir():
        raise ImageError(f"{inp}: no such file or directory")
    media, unreadable = scan_folder(inp, opts.recursive, _KINDS)
    problems += [(p, "failed", why) for p, why in unreadable]
    return [(str(f), f.relative_to(inp).as_posix()) for f in media]


def check(pairs: list[tuple[str, str]]) -> None:
    """No output is an input and no two inputs share an output (object names compare as written)."""
    inputs = {s for s, _ in pairs}
    owner: dict[str, str] = {}
    for src, dst in pairs:
        if dst in inputs:
            raise ValueError(f"{dst}: would overwrite the input {dst}; choose another -o, --suffix or --ext")
        if dst in owner:
            raise ValueError(f"{owner[dst]} and {src} would both be written to {dst}; use a different --suffix")
        owner[dst] = src
