"""Deblur files and folders: output naming, never-overwrite rules, per-file errors, a summary.

One file or a whole tree goes through the same loop, so a single photo gets
exactly the safety rules of a batch: no output is ever one of the run's inputs,
two inputs never share an output, every name stays inside the output folder, an
existing output is kept unless ``overwrite``, writes are atomic, and one bad
file is reported and skipped instead of stopping the run. Everything that can
be checked before the network runs is checked in :func:`plan` (a usage error,
exit 2, before any work).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import atomic
from .imageio import (
    IMAGE_EXTENSIONS,
    UNSUPPORTED_IMAGE_EXTENSIONS,
    ImageError,
    scan_folder,
)
from .manifest import Manifest
from .outputs import FileReport, compare_name
from .pipeline import MODES, NO_FACE_POLICIES
from .video import VIDEO_EXTS, is_video

if TYPE_CHECKING:
    from .deblurrer import Deblurrer

#: Containers that hold H.264 as written; other videos (.avi, .webm) become .mp4.
KEEP_VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".m4v")


@dataclass(kw_only=True)
class BatchOptions:
    """How a batch runs (the CLI's deblur options, keyword-only so a new option can never shift another)."""

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
    crf: int = 18  # videos: H.264 quality (lower = better; 18 is visually lossless)
    smooth: float = 0.6  # videos: landmark smoothing over time, see video.FaceTracker

    def validate(self) -> None:
        """Refuse bad option values before any file is read (ValueError: a usage error)."""
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; choose from {', '.join(MODES)}")
        if self.no_face not in NO_FACE_POLICIES:
            raise ValueError(f"--no-face {self.no_face!r}: choose from {', '.join(NO_FACE_POLICIES)}")
        if self.ext != "auto" and "." + self.ext.lower().lstrip(".") not in IMAGE_EXTENSIONS:
            raise ValueError(f"--ext {self.ext!r}: choose auto or one of {', '.join(e[1:] for e in IMAGE_EXTENSIONS)}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"--crf {self.crf}: choose 0..51 (H.264)")
        if not 0.0 <= self.smooth < 1.0:
            raise ValueError(f"--smooth {self.smooth}: choose 0 (none) up to below 1")
        if self.skip_existing and self.overwrite:
            raise ValueError("--skip-existing and --overwrite contradict each other; choose one")
        bad = [c for c in ("/", "\\", "\0", os.sep) if c in self.suffix]
        if bad or self.suffix in (".", ".."):
            raise ValueError(f"--suffix {self.suffix!r}: must not contain path separators")


@dataclass
class Summary:
    processed: int = 0
    faces: int = 0
    resumed: int = 0  # outputs an earlier run's manifest records as written, not done again
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    extras: list[Path] = field(default_factory=list)  # --compare / --save-faces files

    def add(self, report: FileReport) -> None:
        """Count one input's :class:`~faceblur_cli.outputs.FileReport`."""
        src = Path(report.src) if "://" not in report.src else report.src
        self.warnings += report.warnings
        self.extras += [Path(e) if "://" not in e else e for e in report.extras]  # type: ignore[misc]
        if report.status == "failed":
            self.failed.append((src, report.error))  # type: ignore[arg-type]
        elif report.status == "skipped":
            self.skipped.append((src, report.error))  # type: ignore[arg-type]
        else:
            self.processed += 1
            self.faces += report.faces
            self.outputs.append(Path(report.dst) if "://" not in report.dst else report.dst)  # type: ignore[arg-type]


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def _check_writable(out: Path) -> None:
    """The nearest existing ancestor of ``out`` must be a writable folder."""
    for parent in [out, *out.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{parent}: is a file, so {out} cannot be created as a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ValueError(f"{parent}: output folder is not writable")
            return


class Jobs(list):
    """(input, output) pairs of a planned run, plus what planning met that is not a job:
    ``problems`` = (path, "failed" | "skipped", why), reported by :func:`run` like a file's."""

    def __init__(self, pairs=(), problems=()):
        super().__init__(pairs)
        self.problems: list[tuple[Path, str, str]] = list(problems)


def plan(inp: Path, out: Path, opts: BatchOptions) -> Jobs:
    """(input, output) pairs, every output checked before any work (see the module docstring)."""
    opts.validate()
    if not os.path.lexists(inp):
        raise ImageError(f"{inp}: no such file or directory")
    if not inp.exists():
        raise ImageError(f"{inp}: a broken link")
    mode = inp.stat().st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise ImageError(f"{inp}: not a regular file or folder (a pipe, socket or device)")
    root = out
    problems: list[tuple[Path, str, str]] = []
    if inp.is_file():
        if atomic.is_temp(inp):
            raise ImageError(f"{inp}: a temporary file of an unfinished faceblur run, not an input")
        video = is_video(inp)
        if not video and inp.suffix.lower() not in IMAGE_EXTENSIONS:
            raise ImageError(f"{inp}: unsupported input type {inp.suffix or '(no extension)'!r}; {_readable()}")
        if video and opts.compare:
            raise ValueError(f"{inp}: --compare writes a side-by-side image; it is not made for videos")
        single = VIDEO_EXTS if video else IMAGE_EXTENSIONS
        if out.suffix.lower() in single and not out.is_dir():
            if video and out.suffix.lower() not in KEEP_VIDEO_EXTS:
                raise ValueError(f"{out}: videos are written as H.264 in {', '.join(KEEP_VIDEO_EXTS)}")
            jobs, root = [(inp, out)], out.parent
        elif (
            out.suffix.lower() in (VIDEO_EXTS | set(IMAGE_EXTENSIONS) | set(UNSUPPORTED_IMAGE_EXTENSIONS))
            and not out.is_dir()
        ):
            what = "a video" if video else "an image"
            raise ValueError(
                f"{out}: {what} cannot be written as {out.suffix}; name a {' '.join(sorted(single))} file or a folder"
            )
        else:
            jobs = [(inp, _out_name(out, Path(inp.name), opts))]
    else:
        if out.exists() and not out.is_dir():
            raise ImageError(f"{out}: is a file; a folder input needs an output folder")
        # An output folder inside the input folder is not input: otherwise each run re-processes
        # the last run's results (in/out/out/...).
        nested = out.resolve() != inp.resolve() and _is_within(out, inp)
        kinds = set(IMAGE_EXTENSIONS) | VIDEO_EXTS | set(UNSUPPORTED_IMAGE_EXTENSIONS)
        media, unreadable = scan_folder(inp, opts.recursive, kinds)
        problems += [(p, "failed", why) for p, why in unreadable]
        media = [f for f in media if not (nested and _is_within(f, out))]
        problems += [
            (f, "skipped", f"unsupported image type {f.suffix}; {_readable()}")
            for f in media
            if f.suffix.lower() in UNSUPPORTED_IMAGE_EXTENSIONS
        ]
        files = [f for f in media if f.suffix.lower() not in UNSUPPORTED_IMAGE_EXTENSIONS]
        if not files and not problems:
            raise ImageError(f"{inp}: no images or videos found (looked for {_readable(short=True)})")
        jobs = [(f, _out_name(out, f.relative_to(inp), opts)) for f in files]
        if out.resolve() == inp.resolve() and opts.suffix:
            # In place with --suffix: an input that is another input's output is a previous run's result.
            outputs = {dst.resolve() for _, dst in jobs}
            jobs = [(src, dst) for src, dst in jobs if src.resolve() not in outputs]
    _check_writable(root)
    _check_outputs(jobs, root, opts)
    return Jobs(jobs, problems)


def expand(inputs: list[Path]) -> list[Path]:
    """Inputs as given, with glob patterns the shell did not expand (quoted, or on Windows) expanded."""
    import glob

    out: list[Path] = []
    for p in inputs:
        if not os.path.lexists(p) and glob.has_magic(str(p)):
            matches = sorted(glob.glob(str(p), recursive=True))
            if not matches:
                raise ImageError(f"{p}: no file matches the pattern")
            out += [Path(m) for m in matches]
        else:
            out.append(Path(p))
    return out


def plan_many(inputs: list[Path] | list[str], out: Path | str, opts: BatchOptions) -> Jobs:
    """:func:`plan` for several inputs (files, folders, globs): each file goes to ``out/NAME``, each
    folder to ``out/FOLDER/...``; collisions across inputs are refused like those within one.
    Object-store URIs (``s3://...``) in or out are planned by :func:`faceblur_cli.storage.plan`."""
    from . import storage

    if storage.is_remote(out) or any(storage.is_remote(i) for i in inputs):
        opts.validate()
        jobs = Jobs()
        for inp in inputs:
            pairs, problems = storage.plan(inp, out, opts, lambda rel: _out_name(Path("."), rel, opts))
            jobs.extend(pairs)
            jobs.problems += problems
        storage.check(jobs)
        return jobs
    inputs = expand([Path(i) for i in inputs])
    out = Path(out)
    if len(inputs) == 1:
        return plan(inputs[0], out, opts)
    if out.exists() and not out.is_dir():
        raise ImageError(f"{out}: is a file; several inputs need an output folder")
    if not out.exists() and out.suffix.lower() in (set(IMAGE_EXTENSIONS) | VIDEO_EXTS):
        raise ValueError(f"{out}: several inputs need an output folder, not a {out.suffix} file")
    jobs = Jobs()
    for inp in inputs:
        part = plan(inp, out / inp.resolve().name if inp.is_dir() else out, opts)
        jobs.extend(part)
        jobs.problems += part.problems
    _check_outputs(jobs, out, opts)
    return jobs


def _readable(short: bool = False) -> str:
    kinds = ", ".join(IMAGE_EXTENSIONS + tuple(sorted(VIDEO_EXTS)))
    return kinds if short else f"faceblur reads {kinds}"


def _extras(dst: Path, opts: BatchOptions) -> list[Path]:
    return [Path(compare_name(str(dst)))] if opts.compare and not is_video(dst) else []


def _check_outputs(jobs: list[tuple[Path, Path]], root: Path, opts: BatchOptions) -> None:
    """No output is an input, escapes ``root``, is a folder, has a name too long for the disk or is
    shared by two inputs (``--save-faces`` names included): refuse before any work."""
    inputs = {src.resolve(): src for src, _ in jobs}
    owner: dict[Path, Path] = {}
    face_stems: dict[tuple[Path, str], Path] = {}
    name_max = _name_max(root)
    for src, dst in jobs:
        for path in [dst, *_extras(dst, opts)]:
            key = path.resolve()
            if key in inputs:  # first: a link to the input is named as such, not as "outside"
                raise ValueError(
                    f"{path}: would overwrite the input {inputs[key]}; choose another -o, --suffix or --ext"
                )
            if not _is_within(path.parent, root):
                raise ValueError(f"{path}: outside the output folder {root} (check --suffix)")
            if len(os.fsencode(path.name)) > name_max:
                raise ValueError(f"{path.name[:40]}...: output name longer than {name_max} bytes (check --suffix)")
            if path.is_dir() and not path.is_symlink():
                raise ValueError(f"{path}: is a folder; it cannot be replaced by an output")
            if key in owner:
                raise ValueError(
                    f"{owner[key]} and {src} would both be written to {path}; "
                    "use --ext auto or a different --suffix, or move one of them"
                )
            owner[key] = src
        if opts.save_faces:
            face_stems[(dst.parent.resolve(), dst.stem)] = src
    for path, src in owner.items():  # --save-faces writes NAME_faceNN.png beside each output
        m = _FACE_NAME.match(path.name)
        if m and (path.parent, m.group(1)) in face_stems and face_stems[(path.parent, m.group(1))] != src:
            raise ValueError(
                f"{path}: the output of {src} would be the --save-faces file of "
                f"{face_stems[(path.parent, m.group(1))]}; use a different --suffix or -o"
            )


_FACE_NAME = re.compile(r"^(.*)_face\d{2,}\.png$")


def _name_max(folder: Path) -> int:
    for p in [folder, *folder.parents]:
        if p.exists():
            try:
                return os.pathconf(p, "PC_NAME_MAX")
            except (OSError, ValueError):
                break
    return 255


def _out_name(out_dir: Path, rel: Path, opts: BatchOptions) -> Path:
    if is_video(rel):
        ext = rel.suffix if rel.suffix.lower() in KEEP_VIDEO_EXTS else ".mp4"
    else:
        ext = rel.suffix if opts.ext == "auto" else "." + opts.ext.lower().lstrip(".")
    return out_dir / rel.parent / f"{rel.stem}{opts.suffix}{ext}"


def run(
    deblurrer: Deblurrer,
    jobs: list[tuple[Path, Path]],
    opts: BatchOptions,
    progress: Callable[[Path, int], None] | None = None,
    frame_progress: Callable[[Path, int, int | None], None] | None = None,
    *,
    engine: str = "local",
    manifest: Path | None = None,
    ray_address: str | None = None,
    workers: int | None = None,
) -> Summary:
    """Process (input, output) jobs from :func:`plan`; problems go into the summary, never raised per file.

    ``engine="ray"`` runs the same stages on a Ray cluster (:mod:`faceblur_cli.engines.ray_data`;
    ``ray_address`` joins one, none starts a local instance with ``workers`` CPUs). ``manifest``: a
    JSON Lines record of every input (:mod:`faceblur_cli.manifest`); outputs it lists as written
    are skipped, so the same command started again finishes an interrupted run.
    """
    if engine not in ENGINES:
        raise ValueError(f"--engine {engine!r}: choose from {', '.join(ENGINES)}")
    book = Manifest(manifest, deblurrer.model_name, deblurrer.model_sha256) if manifest else None
    summary = Summary()
    try:
        for path, kind, why in getattr(jobs, "problems", []):
            (summary.failed if kind == "failed" else summary.skipped).append((path, why))
            if book:
                book.record(str(path), "", kind, error=why)
        todo = []
        exists = _exists_check([str(dst) for _, dst in jobs])
        for src, dst in jobs:
            if book and book.done(str(dst), exists=exists):
                summary.resumed += 1
                if progress:
                    progress(src, 0)
            elif exists(str(dst)) and not opts.overwrite:
                why = "output exists" + ("" if opts.skip_existing else " (use --overwrite)")
                summary.skipped.append((src, why))
                if book:
                    book.record(str(src), str(dst), "skipped", error=why)
                if progress:
                    progress(src, 0)
            else:
                todo.append((src, dst))
        if engine == "ray":
            from .engines.ray_data import run_ray

            reports = run_ray(deblurrer, todo, opts, address=ray_address, workers=workers)
        else:
            from .engines.local import run_local

            reports = run_local(deblurrer, todo, opts, jobs, frame_progress)
        for report in reports:
            summary.add(report)
            if book:
                book.record(report.src, report.dst, report.status, report.faces, report.error, report.ms)
            if progress:
                progress(Path(report.src), report.faces)
    finally:
        if book:
            book.close()
    return summary


ENGINES = ("local", "ray")


def _exists_check(dsts: list[str]) -> Callable[[str], bool]:
    """Whether an output exists: local paths by lstat; object-store outputs from one listing per
    output folder (not one request per object, which would serialise a big run on the driver)."""
    from . import storage

    remote = {d.rsplit("/", 1)[0] for d in dsts if storage.is_remote(d)}
    found = storage.listed(remote) if remote else set()
    return lambda d: d in found if storage.is_remote(d) else os.path.lexists(d)
