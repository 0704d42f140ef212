"""Prometheus text exposition for ``GET /metrics``: requests by route and status, a latency
histogram, queue depth, faces restored. A few dozen lines instead of a dependency."""

from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self):
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.buckets = [0] * len(BUCKETS)
        self.latency_sum, self.latency_count = 0.0, 0
        self.faces = 0
        self.queue_depth = lambda: 0

    def observe(self, route: str, status: int, seconds: float, faces: int = 0) -> None:
        with self._lock:
            self.requests[(route, status)] += 1
            self.faces += faces
            if route == "/v1/deblur" and status == 200:
                self.latency_sum += seconds
                self.latency_count += 1
                for i, edge in enumerate(BUCKETS):
                    if seconds <= edge:
                        self.buckets[i] += 1

    def render(self) -> str:
        with self._lock:
            lines = [
                "# HELP faceblur_requests_total Requests by route and status.",
                "# TYPE faceblur_requests_total counter",
            ]
            for (route, status), n in sorted(self.requests.items()):
                lines.append(f'faceblur_requests_total{{route="{route}",status="{status}"}} {n}')
            lines += [
                "# HELP faceblur_deblur_seconds Time to answer a successful POST /v1/deblur.",
                "# TYPE faceblur_deblur_seconds histogram",
            ]
            for edge, n in zip(BUCKETS, self.buckets):
                lines.append(f'faceblur_deblur_seconds_bucket{{le="{edge:g}"}} {n}')
            lines += [
                f'faceblur_deblur_seconds_bucket{{le="+Inf"}} {self.latency_count}',
                f"faceblur_deblur_seconds_sum {self.latency_sum:.6f}",
                f"faceblur_deblur_seconds_count {self.latency_count}",
                "# HELP faceblur_queue_depth Photo requests waiting or running.",
                "# TYPE faceblur_queue_depth gauge",
                f"faceblur_queue_depth {self.queue_depth()}",
                "# HELP faceblur_faces_total Faces restored.",
                "# TYPE faceblur_faces_total counter",
                f"faceblur_faces_total {self.faces}",
            ]
        return "\n".join(lines) + "\n"
