"""The service behind ``faceblur serve``: a REST API under ``/v1`` and the web page at ``/``.

One process, models loaded once and shared; photos run on one inference thread behind a bounded
queue (503 with Retry-After when full), so the event loop keeps answering (``/healthz``) while a
photo is in the network. A photo goes through exactly the CLI's code (decode, restore, encode via
:func:`faceblur_cli.outputs.deliver`), so the bytes equal the CLI's for the same input and flags.
No client value ever becomes a path: uploads are decoded from memory or written under a folder
the server made, named by tokens it made.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image

from ..imageio import ImageError, load_image_bytes
from ..outputs import deliver
from .jobs import JobStore
from .limits import BodyLimit, Limits, Slots
from .metrics import Metrics

STATIC = Path(__file__).with_name("static")
FORMATS = {"png": ".png", "jpeg": ".jpg", "jpg": ".jpg", "webp": ".webp"}
MEDIA = {".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp"}
MODES = ("faces", "whole", "aligned")


class _Opts:
    """What :func:`deliver` reads of the CLI's options: a response is one image, no extras."""

    compare = save_faces = False


class Engines:
    """Deblurrers by registry name, each loaded on first use and kept (a name, never a path)."""

    def __init__(self, default: str, backend: str, threads: int | None):
        from ..weights import load_registry

        self.registry = {n: s for n, s in load_registry().items() if s.kind == "generator"}
        self.backend, self.threads = backend, threads
        self._loaded: dict = {}
        self._lock = threading.Lock()
        self.default = self.get(default)

    def names(self) -> list[str]:
        return sorted(self.registry)

    def get(self, name: str):
        from ..deblurrer import Deblurrer

        if name != "auto" and name not in self.registry:
            raise HTTPException(422, f"unknown model {name[:80]!r}; GET /v1/models lists them")
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = Deblurrer(name, backend=self.backend, threads=self.threads)
            return self._loaded[name]


def create_app(
    model: str = "auto",
    backend: str = "auto",
    token: str | None = None,
    limits: Limits | None = None,
    threads: int | None = None,
) -> FastAPI:
    limits = limits or Limits()
    Image.MAX_IMAGE_PIXELS = limits.max_pixels  # the same bomb guard as the CLI, for every decoder call
    engines = Engines(model, backend, threads)
    slots, metrics = Slots(limits.queue), Metrics()
    metrics.queue_depth = lambda: slots.used
    # two stages as in the local engine: one thread decodes and finds faces (single-threaded) while
    # the other runs the network on the previous photo and encodes it (with the free cores)
    prepare_pool = ThreadPoolExecutor(1, thread_name_prefix="faceblur-prepare")
    pool = ThreadPoolExecutor(1, thread_name_prefix="faceblur-infer")
    jobs = JobStore(limits.job_ttl)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        async def sweeper():
            while True:
                await asyncio.sleep(min(60.0, limits.job_ttl / 2))
                jobs.sweep()

        task = asyncio.create_task(sweeper())
        try:
            yield
        finally:
            task.cancel()
            pool.shutdown(wait=False, cancel_futures=True)
            prepare_pool.shutdown(wait=False, cancel_futures=True)
            jobs.close()

    app = FastAPI(
        title="faceblur",
        version=_version(),
        summary="Deblur faces in photos and videos.",
        lifespan=lifespan,
    )

    def authorized(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        if not secrets.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    @app.middleware("http")
    async def count(request: Request, call_next):
        t0 = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:  # never a traceback in a response
            response = JSONResponse({"detail": "internal error"}, status_code=500)
        route = request.scope.get("route")
        path = getattr(route, "path", "other")
        metrics.observe(path, response.status_code, time.perf_counter() - t0, int(response.headers.get("x-faces", 0)))
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(_request, err: RequestValidationError):
        # FastAPI's default echoes the input back (a huge form field would come back whole)
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return JSONResponse({"detail": f"{where}: {first.get('msg', 'invalid')}"[:300]}, status_code=422)

    @app.exception_handler(Exception)
    async def crashed(_request, _err):
        return JSONResponse({"detail": "internal error"}, status_code=500)

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok", "model": engines.default.model_name, "queue": slots.used, "queue_size": slots.size}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def prometheus():
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models", dependencies=[Depends(authorized)])
    async def models():
        return {
            "default": engines.default.model_name,
            "models": [
                {
                    "name": s.name,
                    "alias": s.alias,
                    "cpu_default": s.default,
                    "gpu_default": s.gpu_default,
                    "description": s.description,
                    "sha256": s.sha256,
                    "metrics": s.metrics,
                }
                for s in (engines.registry[n] for n in engines.names())
            ],
        }

    @app.post("/v1/deblur", dependencies=[Depends(authorized)])
    async def deblur(
        image: UploadFile = File(..., description="the photo (JPEG, PNG, WebP, TIFF, BMP...)"),
        strength: float = Form(1.0, ge=0.0, le=1.0),
        model: str = Form("", max_length=200, description="a name from GET /v1/models (never a path)"),
        mode: str = Form("faces", description="faces | whole | aligned"),
        format: str = Form("", description="png | jpeg | webp (default: the input's, else png)"),
    ):
        if mode not in MODES:
            raise HTTPException(422, f"mode {mode[:40]!r}: choose faces, whole or aligned")
        if format and format.lower() not in FORMATS:
            raise HTTPException(422, f"format {format[:40]!r}: choose png, jpeg or webp")
        engine = engines.get(model) if model else engines.default
        data = await image.read()
        if not data:
            raise HTTPException(422, "image: empty file (0 bytes)")
        name = _safe_name(image.filename)
        if not await slots.try_take():
            raise HTTPException(503, "busy: the queue is full; try again shortly", headers={"Retry-After": "2"})
        loop = asyncio.get_running_loop()

        async def work():
            prepared = await loop.run_in_executor(prepare_pool, _prepare, engine, data, name, mode)
            return await loop.run_in_executor(pool, _finish, engine, *prepared, strength, format.lower())

        future = asyncio.ensure_future(work())
        future.add_done_callback(lambda _f: loop.create_task(slots.give()))  # the slot is held until the work ends
        try:
            body, ext, faces, ms = await asyncio.wait_for(asyncio.shield(future), limits.timeout)
        except asyncio.TimeoutError:
            raise HTTPException(504, f"took longer than {limits.timeout:g} s") from None
        except ImageError as err:
            text = str(err)
            raise HTTPException(413 if "too large" in text else 415, text[:300]) from None
        except ValueError as err:
            raise HTTPException(422, str(err)[:300]) from None
        headers = {
            "X-Faces": str(faces),
            "X-Milliseconds": f"{ms:.0f}",
            "X-Model": engine.model_name,
            "X-Model-Sha256": engine.model_sha256,
            "Content-Disposition": f'attachment; filename="{PurePosixPath(name).stem}_sharp{ext}"',
        }
        return Response(body, media_type=MEDIA[ext], headers=headers)

    @app.post("/v1/jobs", status_code=202, dependencies=[Depends(authorized)])
    async def new_job(
        video: UploadFile = File(..., description="the video (.mp4 .mov .mkv .avi .webm)"),
        strength: float = Form(1.0, ge=0.0, le=1.0),
        model: str = Form("", max_length=200),
    ):
        from ..video import VIDEO_EXTS

        suffix = PurePosixPath(_safe_name(video.filename)).suffix.lower()
        if suffix not in VIDEO_EXTS:
            raise HTTPException(415, f"video: {suffix or 'no extension'} is not one of {' '.join(sorted(VIDEO_EXTS))}")
        engine = engines.get(model) if model else engines.default
        job = jobs.new(suffix)
        with open(job.src, "wb") as f:  # the upload was spooled to disk; copied in chunks, never whole in memory
            await asyncio.to_thread(shutil.copyfileobj, video.file, f, 1 << 20)
        jobs.start(job, lambda j: _video(engine, j, strength, limits.max_pixels))
        return {**job.public(), "status_url": f"/v1/jobs/{job.id}", "result_url": f"/v1/jobs/{job.id}/result"}

    @app.get("/v1/jobs/{job_id}", dependencies=[Depends(authorized)])
    async def job_state(job_id: str):
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, "no such job (finished jobs are deleted after their time-to-live)")
        return job.public()

    @app.get("/v1/jobs/{job_id}/result", dependencies=[Depends(authorized)])
    async def job_result(job_id: str):
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, "no such job")
        if job.state != "done":
            raise HTTPException(409, f"job is {job.state}" + (f": {job.error}" if job.error else ""))
        return FileResponse(job.result, media_type="video/mp4", filename="result.mp4")

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.state.engines, app.state.jobs, app.state.metrics = engines, jobs, metrics
    return BodyLimit(app, limits)  # type: ignore[return-value]  # an ASGI app around the FastAPI one


def _prepare(engine, data: bytes, name: str, mode: str):
    """Decode and find faces: the CLI's first stage (:func:`faceblur_cli.pipeline.prepare`)."""
    from ..pipeline import prepare

    t0 = time.perf_counter()
    loaded = load_image_bytes(data, name)
    prep = prepare(engine.finder, loaded.rgb, mode, "whole", False, engine.min_face_scale)
    return name, mode, loaded, prep, t0


def _finish(engine, name: str, mode: str, loaded, prep, t0: float, strength: float, fmt: str):
    """The network, paste-back and encoding: (encoded bytes, extension, faces, milliseconds)."""
    from ..pipeline import finish, network

    ((base, restored),) = network(engine, [prep])
    result = finish(prep, base, restored, strength)
    ext = FORMATS.get(fmt) or FORMATS.get((loaded.format or "").lower(), ".png")
    out: dict = {}

    def sink(body: bytes, dst: str) -> str:
        out["body"] = body
        return dst

    report = deliver(name, f"result{ext}", loaded, result, _Opts(), mode, sink)
    return out["body"], ext, report.faces, (time.perf_counter() - t0) * 1000


def _video(engine, job, strength: float, max_pixels: int) -> None:
    """One job through the CLI's streaming video path (H.264 out, audio kept)."""
    from ..video import deblur_video

    def progress(done, total):
        job.done, job.total = done, total

    report = deblur_video(engine, job.src, job.result, progress=progress, max_pixels=max_pixels, strength=strength)
    job.faces = report.face_frames


def _safe_name(filename: str | None) -> str:
    """A display name for messages only: the last path part, printable, short (never opened)."""
    base = PurePosixPath((filename or "upload").replace("\\", "/")).name
    clean = "".join(c if c.isprintable() and c not in "\"'" else "_" for c in base)[-100:]
    return clean if clean not in ("", ".", "..") else "upload"


def _version() -> str:
    from .. import __version__

    return __version__
