"""The local engine: this process, one photo at a time, with the next photo prepared meanwhile.

Why a prepare thread: a photo's decode and face detection (single-threaded, so landmarks do not
depend on the thread count) take as long as its network pass; run beside the network on the
previous photo they fill the cores the network leaves idle. Only one photo is read ahead, so
memory stays that of two photos. The stages are :mod:`faceblur_cli.pipeline`'s, as in the Ray engine.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from PIL import Image

from ..imageio import ImageError, write_atomic
from ..outputs import FileReport, Sink, deliver, failure
from ..video import is_video


def run_local(deblurrer, todo: list, opts, jobs, frame_progress=None) -> Iterator[FileReport]:
    """One report per (input, output) of ``todo``, in order."""
    sink = local_sink(jobs, opts)
    photos = [i for i, (src, _) in enumerate(todo) if not is_video(src)]
    following = dict(zip(photos, photos[1:]))
    pool = ThreadPoolExecutor(1, thread_name_prefix="faceblur-prepare")
    ahead: dict[int, Future] = {}
    try:
        for i, (src, dst) in enumerate(todo):
            if is_video(src):
                yield run_one(deblurrer, src, dst, opts, jobs, frame_progress)
                continue
            prepared = ahead.pop(i, None) or pool.submit(_prepare, deblurrer, src, opts)
            if i in following:
                ahead[following[i]] = pool.submit(_prepare, deblurrer, todo[following[i]][0], opts)
            yield _finish(deblurrer, src, dst, prepared, opts, sink)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _prepare(deblurrer, src, opts):
    from .. import storage
    from ..pipeline import prepare

    t0 = time.perf_counter()
    loaded = storage.load(src)
    prep = prepare(
        deblurrer.finder, loaded.rgb, opts.mode, opts.no_face, opts.only_center_face, deblurrer.min_face_scale
    )
    return loaded, prep, time.perf_counter() - t0


def _finish(deblurrer, src, dst, prepared: Future, opts, sink: Sink) -> FileReport:
    from ..pipeline import finish, network

    t0, t_prep = time.perf_counter(), 0.0
    try:
        loaded, prep, t_prep = prepared.result()
        ((base, restored),) = network(deblurrer, [prep])
        result = finish(prep, base, restored, deblurrer.strength)
        report = deliver(str(src), str(dst), loaded, result, opts, opts.mode, sink)
    except KeyboardInterrupt:
        raise
    except Exception as err:  # any per-file failure is reported, and the batch goes on
        report = FileReport(str(src), str(dst), "failed", error=failure(err, str(src), str(dst)))
    report.ms = (t_prep + time.perf_counter() - t0) * 1000
    return report


def run_one(deblurrer, src, dst, opts, jobs, frame_progress=None) -> FileReport:
    """One input, start to end, on this thread (videos; the Ray engine's video tasks)."""
    t0 = time.perf_counter()
    try:
        if is_video(src):
            report = _run_video(deblurrer, src, dst, opts, frame_progress)
        else:
            report = _finish(deblurrer, src, dst, _done(_prepare, deblurrer, src, opts), opts, local_sink(jobs, opts))
    except KeyboardInterrupt:
        raise
    except Exception as err:
        report = FileReport(str(src), str(dst), "failed", error=failure(err, str(src), str(dst)))
    report.ms = (time.perf_counter() - t0) * 1000
    return report


def _done(fn, *args) -> Future:
    """A finished Future holding ``fn(*args)`` or its exception (the prepare stage run inline)."""
    fut: Future = Future()
    try:
        fut.set_result(fn(*args))
    except Exception as err:
        fut.set_exception(err)
    return fut


def local_sink(jobs, opts) -> Sink:
    """Writes through :func:`~faceblur_cli.imageio.write_atomic`, never over an input (``--save-faces``
    names are only known at write time) and never over an existing file unless ``--overwrite``."""
    inputs = {Path(src).resolve() for src, _ in jobs if "://" not in str(src)}

    def sink(data: bytes, name: str) -> str:
        from .. import storage

        if storage.is_remote(name):
            return storage.write_bytes(data, name, opts.overwrite)
        path = Path(name)
        if path.resolve() in inputs:
            raise ImageError(f"{path}: is one of the inputs; refusing to overwrite it")
        return str(write_atomic(data, path, opts.overwrite))

    return sink


def _run_video(deblurrer, src, dst, opts, frame_progress=None) -> FileReport:
    """One video through :func:`~faceblur_cli.video.deblur_video`; faces = frames with a face.
    An object-store input or output goes through a private local copy (:func:`~faceblur_cli.storage.staged_video`).

    ``--no-face``: frames without a face are always copied unchanged; a video with no face at all
    is written unchanged (whole), not written (skip) or a failure (error).
    """
    from .. import storage
    from ..deblurrer import NoFaceError
    from ..video import deblur_video

    if opts.mode != "faces":
        raise ValueError(f"{src}: videos are deblurred in face mode only (no --aligned / --whole)")
    report = FileReport(str(src), str(dst))
    if opts.compare:
        report.warnings.append(f"{src}: no --compare image for a video")
    policy = "error" if opts.no_face in ("error", "skip") else "pass"
    try:
        with storage.staged_video(src, dst, opts.overwrite) as (local_src, local_dst):
            result = deblur_video(
                deblurrer,
                local_src,
                local_dst,
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
            report.status, report.error = "skipped", "no face in any frame (--no-face skip)"
            return report
        raise ImageError(f"{src}: no face in any frame (--no-face error)") from None
    report.warnings += [f"{src}: {note}" for note in result.notes]
    if result.face_frames == 0:
        report.warnings.append(f"{src}: no face in any frame; frames copied unchanged")
    report.faces = result.face_frames
    return report
