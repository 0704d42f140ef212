"""A bounded load test of ``faceblur serve`` on 127.0.0.1: latency, throughput, memory, then a burst.

    python benchmarks/serve_load.py [--requests 300] [--concurrency 8] [--burst 64] [--queue 8]
                                    [--out docs/bench/serve_load]

The photos: 20 synthetic 1920x1080 JPEGs with two faces each (benchmarks/scale_ray.py's, from
the bundled public-domain portrait). Phase 1 sends ``--requests`` photos, ``--concurrency`` at a
time, and records p50/p95 latency, photos/s, every status and the server's RSS after the first
and the last hundred. Phase 2 fires ``--burst`` requests at once at a queue of ``--queue``:
answered 200 or the documented 503 (with Retry-After), ``/healthz`` polled throughout. The CLI
on the same photos: one ``faceblur deblur`` over the folder, and one process per photo.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--burst", type=int, default=64)
    ap.add_argument("--queue", type=int, default=16, help="the server's --queue (keep >= --concurrency)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    spec = importlib.util.spec_from_file_location("scale_ray", HERE / "scale_ray.py")
    scale = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(scale)  # type: ignore[union-attr]
    work = Path(tempfile.mkdtemp(prefix="faceblur-load-"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "faceblur_cli", "serve", "--port", str(port), "--queue", str(args.queue)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        (work / "photos").mkdir()
        scale.make_photos(work / "photos", 20)
        photos = [p.read_bytes() for p in sorted((work / "photos").iterdir())]
        for _ in range(600):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        client = httpx.Client(timeout=300, limits=httpx.Limits(max_connections=args.burst + 16))
        client.post(base + "/v1/deblur", files={"image": ("warm.jpg", photos[0])})

        def one(i: int) -> tuple[int, float]:
            t0 = time.perf_counter()
            r = client.post(base + "/v1/deblur", files={"image": (f"p{i}.jpg", photos[i % len(photos)])})
            return r.status_code, time.perf_counter() - t0

        rss: list[float] = []
        results: list[tuple[int, float]] = []
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            for k, res in enumerate(pool.map(one, range(args.requests))):
                results.append(res)
                if k in (99, args.requests - 1):
                    rss.append(_rss_mb(server.pid))
        wall = time.perf_counter() - t0
        lat = sorted(s for c, s in results if c == 200)
        codes: dict = {}
        for c, _ in results:
            codes[c] = codes.get(c, 0) + 1

        health: list[int] = []
        stop = threading.Event()

        def poll():
            while not stop.is_set():
                try:
                    health.append(httpx.get(base + "/healthz", timeout=5).status_code)
                except httpx.HTTPError:
                    health.append(0)
                time.sleep(0.2)

        watcher = threading.Thread(target=poll)
        watcher.start()
        burst: list = []

        def burst_one(i: int):
            r = client.post(base + "/v1/deblur", files={"image": (f"b{i}.jpg", photos[i % len(photos)])})
            return r.status_code, r.headers.get("retry-after")

        with ThreadPoolExecutor(args.burst) as pool:
            burst = list(pool.map(burst_one, range(args.burst)))
        stop.set()
        watcher.join()

        cli_folder = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "faceblur_cli", "deblur", str(work / "photos"), "-o", str(work / "cli")],
            check=True,
            capture_output=True,
        )
        cli_folder = time.perf_counter() - cli_folder
        one_by_one = time.perf_counter()
        for i, p in enumerate(sorted((work / "photos").iterdir())[:5]):
            out = work / f"single{i}.jpg"
            subprocess.run(
                [sys.executable, "-m", "faceblur_cli", "deblur", str(p), "-o", str(out)],
                check=True,
                capture_output=True,
            )
        one_by_one = (time.perf_counter() - one_by_one) / 5

        res = {
            "requests": args.requests,
            "concurrency": args.concurrency,
            "status_counts": {str(k): v for k, v in sorted(codes.items())},
            "p50_s": round(statistics.median(lat), 3),
            "p95_s": round(lat[int(0.95 * (len(lat) - 1))], 3),
            "photos_per_s": round(len(lat) / wall, 2),
            "rss_mb_after_100": round(rss[0], 1),
            "rss_mb_after_last": round(rss[-1], 1),
            "burst": args.burst,
            "queue": args.queue,
            "burst_200": sum(1 for c, _ in burst if c == 200),
            "burst_503": sum(1 for c, _ in burst if c == 503),
            "burst_other": sum(1 for c, _ in burst if c not in (200, 503)),
            "burst_503_with_retry_after": sum(1 for c, h in burst if c == 503 and h),
            "healthz_during_burst": f"{health.count(200)}/{len(health)} ok",
            "cli_folder_photos_per_s": round(20 / cli_folder, 2),
            "cli_one_process_per_photo_s": round(one_by_one, 2),
        }
        print(json.dumps(res, indent=1))
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "results.json").write_text(json.dumps(res, indent=1) + "\n")
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
