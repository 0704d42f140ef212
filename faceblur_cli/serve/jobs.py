"""Video jobs: uploaded to disk, deblurred in the background by the streaming video path, fetched,
then deleted after a time-to-live.

Why on disk in a folder of the server's own: a video never has to fit in memory, and job ids
are random tokens the server made (``secrets``), never anything a client wrote, so no request
can name a path. One video runs at a time (a video already uses every core it is given).
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Job:
    id: str
    folder: Path
    src: Path
    state: str = "queued"  # queued / running / done / failed
    done: int = 0
    total: int | None = None
    error: str = ""
    faces: int = 0
    created: float = field(default_factory=time.time)
    finished: float = 0.0

    @property
    def result(self) -> Path:
        return self.folder / "result.mp4"

    def public(self) -> dict:
        progress = self.done / self.total if self.total else (1.0 if self.state == "done" else 0.0)
        return {
            "id": self.id,
            "state": self.state,
            "frames_done": self.done,
            "frames_total": self.total,
            "progress": round(progress, 4),
            "face_frames": self.faces,
            "error": self.error,
        }


class JobStore:
    def __init__(self, ttl: float, root: Path | None = None):
        self.root = Path(tempfile.mkdtemp(prefix="faceblur-jobs-", dir=root))
        self.ttl = ttl
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._runner = ThreadPoolExecutor(1, thread_name_prefix="faceblur-video")

    def new(self, suffix: str) -> Job:
        job_id = secrets.token_urlsafe(12)
        folder = self.root / job_id
        folder.mkdir(mode=0o700)
        job = Job(job_id, folder, folder / f"input{suffix}")
        with self._lock:
            self.jobs[job_id] = job
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self.jobs.get(job_id)

    def start(self, job: Job, work) -> None:
        """Run ``work(job)`` on the video thread; its exception becomes the job's one-line error."""

        def run():
            job.state = "running"
            try:
                work(job)
                job.state = "done"
            except Exception as err:
                job.state, job.error = "failed", (str(err).splitlines() or [type(err).__name__])[0]
            finally:
                job.finished = time.time()
                job.src.unlink(missing_ok=True)

        self._runner.submit(run)

    def drop(self, job: Job) -> None:
        with self._lock:
            self.jobs.pop(job.id, None)
        shutil.rmtree(job.folder, ignore_errors=True)

    def sweep(self) -> int:
        """Delete finished jobs older than the time-to-live; returns how many."""
        now = time.time()
        with self._lock:
            old = [j for j in self.jobs.values() if j.finished and now - j.finished > self.ttl]
        for job in old:
            self.drop(job)
        return len(old)

    def close(self) -> None:
        self._runner.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(self.root, ignore_errors=True)
