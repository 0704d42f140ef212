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

import numpy as np
from PIL import Image

from . import atomic
from .deblurrer import MODES, NO_FACE_POLICIES, Deblurrer
from .imageio import (
    IMAGE_EXTENSIONS,
    UNSUPPORTED_IMAGE_EXTENSIONS,
    ImageError,
    load_image,
    save_image,
    scan_folder,
    to_pil,
)
from .video import VIDEO_EXTS, is_video

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
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    extras: list[Path] = field(default_factory=list)  # --compare / --save-faces files


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


def plan_many(inputs: list[Path], out: Path, opts: BatchOptions) -> Jobs:
    """:func:`plan` for several inputs (files, folders, globs): each file goes to ``out/NAME``, each
    folder to ``out/FOLDER/...``; collisions across inputs are refused like those within one."""
    inputs = expand(list(inputs))
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
    return [dst.with_name(f"{dst.stem}_compare.png")] if opts.compare and not is_video(dst) else []


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


def _side_by_side(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.concatenate([before, np.full((before.shape[0], 8, 3), 255, np.uint8), after], 1)


def run(
    deblurrer: Deblurrer,
    jobs: list[tuple[Path, Path]],
    opts: BatchOptions,
    progress: Callable[[Path, int], None] | None = None,
    frame_progress: Callable[[Path, int, int | None], None] | None = None,
) -> Summary:
    """Process (input, output) jobs from :func:`plan`; problems go into the summary, never raised per file."""
    summary = Summary()
    for path, kind, why in getattr(jobs, "problems", []):
        (summary.failed if kind == "failed" else summary.skipped).append((path, why))
    inputs = {src.resolve() for src, _ in jobs}

    def write(image, path: Path, like=None) -> Path:
        if path.resolve() in inputs:  # --save-faces names are only known now
            raise ImageError(f"{path}: is one of the inputs; refusing to overwrite it")
        return save_image(image, path, like=like, overwrite=opts.overwrite)

    for src, dst in jobs:
        faces = 0
        try:
            if os.path.lexists(dst) and not opts.overwrite:
                summary.skipped.append((src, "output exists" + ("" if opts.skip_existing else " (use --overwrite)")))
                continue
            if is_video(src):
                if opts.compare:
                    summary.warnings.append(f"{src}: no --compare image for a video")
                faces = _run_video(deblurrer, src, dst, opts, summary, frame_progress)
                continue
            loaded = load_image(src)
            summary.warnings += [f"{src}: {note}" for note in loaded.notes]
            result = deblurrer.restore(loaded.rgb, opts.mode, opts.no_face, opts.only_center_face)
            faces = len(result.faces) if result.mode == "faces" else 1 if result.mode == "aligned" else 0
            if result.mode == "none":
                summary.warnings.append(f"{src}: no face found; copied unchanged (--no-face skip)")
            elif opts.mode == "faces" and result.mode == "whole":
                summary.warnings.append(f"{src}: no face found; deblurred the whole image (--no-face whole)")
            if loaded.alpha is not None and dst.suffix.lower() in (".jpg", ".jpeg", ".bmp"):
                summary.warnings.append(f"{src}: transparency dropped ({dst.suffix} has no alpha; use --ext png)")
            summary.outputs.append(write(to_pil(result.image, loaded), dst, loaded))
            if opts.compare:
                summary.extras.append(write(_side_by_side(loaded.rgb, result.image), _extras(dst, opts)[0]))
            if opts.save_faces:
                for i, (crop, rest) in enumerate(zip(result.crops, result.restored)):
                    summary.extras.append(
                        write(_side_by_side(crop, rest), dst.with_name(f"{dst.stem}_face{i:02d}.png"))
                    )
            summary.processed += 1
            summary.faces += faces
        except KeyboardInterrupt:
            raise
        except Exception as err:  # any per-file failure is reported, and the batch goes on
            text = str(err).splitlines()[0] if str(err) else type(err).__name__
            if not isinstance(err, (ImageError, OSError, ValueError)) and not str(err).startswith(str(src)):
                text = f"{type(err).__name__}: {text}"
            msg = text if str(src) in text or str(dst) in text else f"{src}: {text}"
            summary.failed.append((src, msg))
        finally:
            if progress:
                progress(src, faces)
    return summary


def _run_video(deblurrer: Deblurrer, src: Path, dst: Path, opts: BatchOptions, summary: Summary, frame_progress) -> int:
    """One video through :func:`~faceblur_cli.video.deblur_video`; returns the frames with a face.

    ``--no-face``: frames without a face are always copied unchanged; a video with no face at all
    is written unchanged (whole), not written (skip) or a failure (error).
    """
    from .deblurrer import NoFaceError
    from .video import deblur_video

    if opts.mode != "faces":
        raise ValueError(f"{src}: videos are deblurred in face mode only (no --aligned / --whole)")
    policy = "error" if opts.no_face in ("error", "skip") else "pass"
    try:
        report = deblur_video(
            deblurrer,
            src,
            dst,
            crf=opts.crf,
            smooth=opts.smooth,
            batch=deblurrer.batch_size,
            no_face=policy,
            progress=(lambda done, total: frame_progress(src, done, total)) if frame_progress else None,
            max_pixels=Image.MAX_IMAGE_PIXELS,
            overwrite=opts.overwrite,
        )
    except NoFaceError:
        if opts.no_face == "skip":
            summary.skipped.append((src, "no face in any frame (--no-face skip)"))
            return 0
        raise ImageError(f"{src}: no face in any frame (--no-face error)") from None
    summary.warnings += [f"{src}: {note}" for note in report.notes]
    if report.face_frames == 0:
        summary.warnings.append(f"{src}: no face in any frame; frames copied unchanged")
    summary.outputs.append(dst)
    summary.processed += 1
    summary.faces += report.face_frames
    return report.face_frames
