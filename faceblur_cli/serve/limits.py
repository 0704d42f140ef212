"""What a request may cost the server: body size (checked while it arrives), queue slots, time.

Why a body-size middleware: Starlette spools uploads to disk with no upper bound, so a client
could fill the disk before any handler runs; counting bytes as they arrive answers 413 at the
limit whether or not the client sent a Content-Length.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass


@dataclass
class Limits:
    max_upload: int = 50 << 20  # bytes of one photo request
    max_video_upload: int = 2 << 30  # bytes of one video job
    max_pixels: int = 89_478_485  # the CLI's --max-pixels default (decompression bombs)
    queue: int = 16  # requests waiting or running before 503
    timeout: float = 120.0  # seconds one photo may take before 504
    job_ttl: float = 3600.0  # seconds a finished video job (and its file) is kept


class BodyLimit:
    """ASGI middleware: 413 when a request body exceeds its route's limit (video jobs have their own)."""

    def __init__(self, app, limits: Limits):
        self.app, self.limits = app, limits

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        limit = self.limits.max_video_upload if scope["path"].startswith("/v1/jobs") else self.limits.max_upload
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await _too_large(send, limit)
        seen, over, started = 0, False, False

        async def counted():
            # past the limit the app is told the client went away; its answer is replaced by 413
            nonlocal seen, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def watched_send(message):
            nonlocal started
            if over:
                return
            started = True
            await send(message)

        try:
            await self.app(scope, counted, watched_send)
        except Exception:
            if not over:
                raise
        if over and not started:
            await _too_large(send, limit)


async def _too_large(send, limit: int) -> None:
    body = json.dumps({"detail": f"request body larger than {limit >> 20} MiB"}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Slots:
    """A bounded queue in front of the worker threads: ``try_take`` fails at once when full (503)."""

    def __init__(self, size: int):
        self.size, self.used = size, 0
        self._lock = asyncio.Lock()

    async def try_take(self) -> bool:
        async with self._lock:
            if self.used >= self.size:
                return False
            self.used += 1
            return True

    async def give(self) -> None:
        async with self._lock:
            self.used -= 1
