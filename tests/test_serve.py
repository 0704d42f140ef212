"""``faceblur serve``: the API in-process (httpx through FastAPI's TestClient), then the real command
on a free 127.0.0.1 port: same bytes as the CLI, limits, hostile requests, a video job, a burst."""

from __future__ import annotations

import io
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install -e '.[serve]')")
httpx = pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402
from helpers import free_port  # noqa: E402

from faceblur_cli.cli.app import main_argv  # noqa: E402
from faceblur_cli.serve.app import create_app  # noqa: E402
from faceblur_cli.serve.limits import Limits  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "faceblur_cli" / "assets" / "examples" / "astronaut_blurry.jpg"


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (a decompression bomb's calling card)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def client():
    app = create_app("faceblur-lite", "torch", limits=Limits(max_upload=3 << 20, max_video_upload=20 << 20))
    with TestClient(app) as c:
        yield c


def cli_output(tmp_path: Path, name: str, *flags: str) -> bytes:
    out = tmp_path / name
    assert main_argv(["deblur", str(EXAMPLE), "-o", str(out), "--model", "faceblur-lite", *flags]) == 0
    return out.read_bytes()


def post(client, data: bytes, filename: str = "photo.jpg", **fields):
    return client.post("/v1/deblur", files={"image": (filename, data, "application/octet-stream")}, data=fields)


def test_deblur_returns_the_cli_bytes(client, tmp_path):
    r = post(client, EXAMPLE.read_bytes(), strength="0.6", format="png")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png" and r.headers["x-faces"] == "1"
    assert len(r.headers["x-model-sha256"]) == 64 and int(r.headers["x-milliseconds"]) > 0
    assert r.content == cli_output(tmp_path, "out.png", "--strength", "0.6")
    same_format = post(client, EXAMPLE.read_bytes())  # no format: the input's (JPEG), as the CLI's --ext auto
    assert same_format.headers["content-type"] == "image/jpeg"
    assert same_format.content == cli_output(tmp_path, "out.jpg")


def test_models_health_metrics_and_docs(client):
    models = client.get("/v1/models").json()
    assert models["default"] == "faceblur-lite" and "faceblur-lite" in [m["name"] for m in models["models"]]
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/docs").status_code == 200 and "/v1/deblur" in client.get("/openapi.json").json()["paths"]
    text = client.get("/metrics").text
    for name in (
        "faceblur_requests_total",
        "faceblur_deblur_seconds_bucket",
        "faceblur_queue_depth",
        "faceblur_faces_total",
    ):
        assert name in text
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text and "http" not in page.text.split("<body>")[1]


@pytest.mark.parametrize(
    ("data", "filename", "fields", "status"),
    [
        (b"", "empty.jpg", {}, 422),
        (b"this is plain text, not a JPEG\n" * 20, "notes.jpg", {}, 415),
        (png_header(100_000, 100_000), "bomb.png", {}, 413),
        (None, "photo.jpg", {"model": "../../etc/passwd"}, 422),
        (None, "photo.jpg", {"model": "/root/weights.pth"}, 422),
        (None, "photo.jpg", {"mode": "everything"}, 422),
        (None, "photo.jpg", {"strength": "2"}, 422),
        (None, "photo.jpg", {"format": "gif"}, 422),
        (None, "photo.jpg", {"model": "x" * (4 << 20)}, 413),  # a huge form field: past the body limit
        (None, "photo.jpg", {"mode": "y" * 500_000}, 422),  # large, under the limit: refused, not echoed
    ],
)
def test_hostile_requests_get_a_4xx(client, data, filename, fields, status):
    r = post(client, EXAMPLE.read_bytes() if data is None else data, filename, **fields)
    assert r.status_code == status, r.text[:300]
    assert len(r.content) < 1000 and "Traceback" not in r.text
    assert client.get("/healthz").status_code == 200


def test_a_path_as_filename_is_only_a_name(client, tmp_path):
    r = post(client, EXAMPLE.read_bytes(), "../../etc/passwd")
    assert r.status_code == 200 and 'filename="passwd_sharp.jpg"' in r.headers["content-disposition"]


def test_token(tmp_path):
    app = create_app("faceblur-lite", "torch", token="s3cret")
    with TestClient(app) as c:
        assert c.get("/v1/models").status_code == 401
        assert c.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/healthz").status_code == 200  # liveness stays open for probes


def test_video_job(client, tmp_path):
    av = pytest.importorskip("av")
    from test_video import make_clip

    make_clip(tmp_path / "clip.mp4", frames=10)
    r = client.post("/v1/jobs", files={"video": ("clip.mp4", (tmp_path / "clip.mp4").read_bytes())})
    assert r.status_code == 202, r.text
    job = r.json()
    for _ in range(300):
        state = client.get(job["status_url"]).json()
        if state["state"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert state["state"] == "done" and state["frames_done"] == 10 and state["face_frames"] > 0, state
    video = client.get(job["result_url"])
    assert video.status_code == 200
    with av.open(io.BytesIO(video.content)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 10
    assert client.post("/v1/jobs", files={"video": ("x.txt", b"hello")}).status_code == 415
    assert client.get("/v1/jobs/not-a-job").status_code == 404


@pytest.fixture(scope="module")
def server():
    """``faceblur serve`` as a subprocess on a free port, with a queue of 2 (so a burst overflows)."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "faceblur_cli",
        "serve",
        "--port",
        str(port),
        "--model",
        "faceblur-lite",
        "--queue",
        "2",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("faceblur serve did not start: " + (proc.stdout.read() if proc.stdout else ""))
    yield base
    proc.terminate()
    out, _ = proc.communicate(timeout=20)
    assert "Traceback" not in out


def test_served_over_a_socket_with_idle_connections_and_a_burst(server):
    body = EXAMPLE.read_bytes()
    r = httpx.post(server + "/v1/deblur", files={"image": ("a.jpg", body)}, timeout=60)
    assert r.status_code == 200 and r.headers["x-faces"] == "1"
    host, port = server.removeprefix("http://").split(":")
    idle = [socket.create_connection((host, int(port))) for _ in range(200)]  # held open, never a request
    try:
        assert httpx.get(server + "/healthz", timeout=5).status_code == 200
        cut = socket.create_connection((host, int(port)))  # a client that disconnects mid-upload
        cut.sendall(
            b"POST /v1/deblur HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b'Content-Length: 1000000\r\n\r\n--b\r\nContent-Disposition: form-data; name="image"; '
            b'filename="a.jpg"\r\n\r\n' + body[:5000]
        )
        cut.close()
        results: list = []

        def one():
            try:
                results.append(httpx.post(server + "/v1/deblur", files={"image": ("a.jpg", body)}, timeout=60))
            except httpx.HTTPError as err:
                results.append(err)

        burst = [threading.Thread(target=one) for _ in range(8)]
        for t in burst:
            t.start()
        for t in burst:
            t.join()
        codes = sorted(getattr(r, "status_code", 0) for r in results)
        assert set(codes) <= {200, 503} and 200 in codes and 503 in codes, codes
        assert all(r.headers.get("retry-after") for r in results if r.status_code == 503)
        assert httpx.get(server + "/healthz", timeout=5).status_code == 200
    finally:
        for s in idle:
            s.close()


def test_a_slow_photo_gets_504_and_the_server_goes_on():
    app = create_app("faceblur-lite", "torch", limits=Limits(timeout=0.001))
    with TestClient(app) as c:
        r = post(c, EXAMPLE.read_bytes())
        assert r.status_code == 504 and "longer than" in r.json()["detail"]
        assert c.get("/healthz").status_code == 200


def test_finished_jobs_are_deleted_after_their_ttl():
    from faceblur_cli.serve.jobs import JobStore

    store = JobStore(ttl=0.0)
    try:
        job = store.new(".mp4")
        job.src.write_bytes(b"x")
        done = threading.Event()
        store.start(job, lambda j: (j.result.write_bytes(b"video"), done.set()))
        assert done.wait(10)
        for _ in range(100):
            if job.finished:
                break
            time.sleep(0.01)
        time.sleep(0.01)
        assert store.sweep() == 1 and not job.folder.exists() and store.get(job.id) is None
    finally:
        store.close()


def test_binding_beyond_loopback_without_a_token_warns():
    port = free_port()
    cmd = [sys.executable, "-m", "faceblur_cli", "serve", "--host", "0.0.0.0", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = proc.stdout.readline() if proc.stdout else ""
        assert first.startswith("warning:") and "without --token" in first
    finally:
        proc.terminate()
        proc.wait(20)
