"""``--engine ray``: the same bytes as the local engine, the manifest and resume, a killed worker,
S3 in and out through a real S3 API (moto's server on 127.0.0.1), bad input, and a missing extra.

One local Ray instance (2 CPUs) serves the module; the S3 server is started first so the
workers inherit its address."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")
pytest.importorskip("moto", reason="moto is not installed (the test extra)")

from helpers import file_hashes, free_port, same_picture  # noqa: E402

from faceblur_cli import batch  # noqa: E402
from faceblur_cli.atomic import TEMP_PREFIX  # noqa: E402
from faceblur_cli.cli.app import main_argv  # noqa: E402
from faceblur_cli.manifest import read_rows  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "faceblur_cli" / "assets" / "examples"


def _processes(title: str) -> list[tuple[int, str]]:
    """(PID, command line) of processes whose command line (Ray sets a worker's to
    ``ray::<actor class>.<method>``) contains ``title``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            line = (entry / "cmdline").read_bytes().decode(errors="replace") if entry.name.isdigit() else ""
        except OSError:
            continue
        if title in line:
            found.append((int(entry.name), line))
    return found


@pytest.fixture(scope="module")
def s3():
    """moto's S3 server on a free 127.0.0.1 port, and a boto3 client for it; stopped after the module."""
    import boto3

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"])
    finally:
        proc.terminate()
        proc.wait(10)
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def ray_session(s3):
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Two face photos, a faceless photo, a bad file, a short video, in a sub-folder too."""
    from test_video import make_clip

    root = tmp_path_factory.mktemp("ray_in")
    shutil.copy(EXAMPLES / "astronaut_blurry.jpg", root / "blurry.jpg")
    (root / "sub").mkdir()
    shutil.copy(EXAMPLES / "astronaut_sharp.png", root / "sub" / "sharp.png")
    Image.fromarray(np.full((120, 160, 3), 90, np.uint8)).save(root / "faceless.png")
    (root / "bad.jpg").write_bytes(b"this is text, not a JPEG")
    make_clip(root / "clip.mp4", frames=8)
    return root


def _deblurrer():
    """One thread, as the Ray engine's prepare actors and video tasks run: their outputs are byte-identical."""
    from faceblur_cli.deblurrer import Deblurrer

    return Deblurrer("faceblur-lite", device="cpu", backend="torch", threads=1)


def _run(inp, out, engine, **kw):
    opts = batch.BatchOptions()
    jobs = batch.plan_many([inp], out, opts)
    return batch.run(_deblurrer(), jobs, opts, engine=engine, **kw)


def test_ray_writes_the_same_bytes_as_local_and_resumes(ray_session, folder, tmp_path, capsys):
    """Through the CLI: byte-identical outputs, the bad file a failed row (exit 1, no traceback),
    the manifest; then a run 'interrupted' before one photo finishes the rest."""
    local = _run(folder, tmp_path / "local", "local")
    out, book = tmp_path / "ray", tmp_path / "m.jsonl"
    code = main_argv(["deblur", str(folder), "-o", str(out), "--engine", "ray", "--manifest", str(book)])
    said = capsys.readouterr()
    text = said.out + said.err
    assert code == 1 and "Traceback" not in text
    assert f"failed: {folder / 'bad.jpg'}: not a readable image" in text
    assert f"processed 4, faces {local.faces}, skipped 0, failed 1" in text
    a, b = file_hashes(tmp_path / "local"), file_hashes(out)
    assert [p.relative_to(tmp_path / "local") for p in a] == [p.relative_to(out) for p in b]
    # the video (a 1-thread Ray task, as the local run) and the faceless photo: the same bytes; the
    # photos with faces went through network actors with 2 threads: the same picture (helpers.same_picture)
    for p in a:
        rel = p.relative_to(tmp_path / "local")
        mine, theirs = p.read_bytes(), (out / rel).read_bytes()
        if rel.suffix == ".mp4" or rel.name == "faceless.png":
            assert mine == theirs, rel
        else:
            assert same_picture(mine, theirs), rel
    rows = {Path(r["input"]).name: r for r in read_rows(book)}
    assert set(rows) == {"blurry.jpg", "sharp.png", "faceless.png", "bad.jpg", "clip.mp4"}
    assert rows["bad.jpg"]["status"] == "failed" and "not a readable image" in rows["bad.jpg"]["error"]
    assert rows["blurry.jpg"]["status"] == "written" and rows["blurry.jpg"]["faces"] == 1
    assert rows["clip.mp4"]["faces"] > 0 and rows["faceless.png"]["faces"] == 0
    assert all(len(r["sha256"]) == 64 and r["model"] == "faceblur-lite" for r in rows.values())

    (out / "sub" / "sharp.png").unlink()  # as if the run had stopped before this one
    with open(book, "a") as f:
        f.write('{"input": "torn')  # and had been killed while writing a row
    again = _run(folder, out, "ray", manifest=book)
    assert (again.resumed, again.processed, len(again.failed)) == (3, 1, 1)
    assert file_hashes(out) == b


def test_a_separate_finish_pool_writes_the_same_bytes(ray_session, folder, tmp_path, monkeypatch):
    """The GPU-node layout (paste back and encode in their own CPU pool, 8 photos per network
    call), run on CPUs: the same bytes as the local engine."""
    from faceblur_cli.engines import ray_data

    layout = {"prepare": 1, "network": 1, "finish": 1, "cpu": 0.5, "net_cpu": 1.0, "gpu": 0.0}
    monkeypatch.setattr(ray_data, "plan_pools", lambda cpus, gpus: {**layout, "net_threads": 1, "photos_per_call": 8})
    photos = tmp_path / "in"
    shutil.copytree(folder, photos, ignore=shutil.ignore_patterns("*.mp4", "bad.jpg"))
    local = _run(photos, tmp_path / "local", "local")
    remote = _run(photos, tmp_path / "ray", "ray")
    assert remote.processed == local.processed == 3 and remote.faces == local.faces
    a, b = file_hashes(tmp_path / "local"), file_hashes(tmp_path / "ray")
    assert sorted(a.values()) == sorted(b.values()) and len(a) == 3


def test_the_finish_stage_starts_without_torch():
    """What a finish worker imports (the engine, the pipeline's stages, outputs, storage) does not
    load torch: a second of every actor's start-up."""
    code = (
        "import sys\n"
        "import faceblur_cli.batch, faceblur_cli.engines.ray_data, faceblur_cli.outputs\n"
        "import faceblur_cli.pipeline, faceblur_cli.storage, faceblur_cli.alignment\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_a_killed_worker_loses_nothing(ray_session, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(12):
        shutil.copy(EXAMPLES / "astronaut_blurry.jpg", src / f"p{i:02d}.jpg")
    opts = batch.BatchOptions()
    jobs = batch.plan_many([src], tmp_path / "out", opts)
    done: list = []
    result: dict = {}

    def work():
        result["summary"] = batch.run(_deblurrer(), jobs, opts, lambda s, f: done.append(s), engine="ray")

    worker = threading.Thread(target=work)
    worker.start()
    killed = None
    deadline = time.time() + 60
    while killed is None and time.time() < deadline and worker.is_alive():
        # the network actor's process once it is working (its title no longer says __init__)
        pids = [pid for pid, title in _processes("MapBatches(Network)") if "__init__" not in title]
        if pids:
            killed = pids[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    worker.join(120)
    assert killed, "no working network actor was found to kill"
    summary = result["summary"]
    assert summary.processed == 12 and not summary.failed
    assert len(done) == 12
    outs = sorted((tmp_path / "out").iterdir())
    assert [p.name for p in outs] == [f"p{i:02d}.jpg" for i in range(12)]  # once each, no temp files
    for p in outs:
        Image.open(p).verify()


def test_ctrl_c_on_the_driver_leaves_only_complete_outputs(tmp_path):
    """The CLI in its own process (its own Ray instance), interrupted once the first output exists."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i in range(12):
        shutil.copy(EXAMPLES / "astronaut_blurry.jpg", src / f"p{i:02d}.jpg")
    cmd = [sys.executable, "-m", "faceblur_cli", "deblur", str(src), "-o", str(out), "--engine", "ray"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 90
    while time.time() < deadline and proc.poll() is None and not list(out.glob("p*.jpg")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    said, _ = proc.communicate(timeout=60)
    assert proc.returncode in (0, 130), said[-2000:]
    assert "Traceback" not in said
    written = sorted(out.iterdir())
    assert written and not [p for p in written if p.name.startswith(TEMP_PREFIX)]
    for p in written:
        Image.open(p).verify()  # every output that exists is complete


def test_s3_in_and_out(ray_session, s3, tmp_path):
    s3.create_bucket(Bucket="photos")
    s3.put_object(Bucket="photos", Key="in/a.jpg", Body=(EXAMPLES / "astronaut_blurry.jpg").read_bytes())
    s3.put_object(Bucket="photos", Key="in/deep/b.png", Body=(EXAMPLES / "astronaut_sharp.png").read_bytes())
    s3.put_object(Bucket="photos", Key="in/broken.jpg", Body=b"nope")
    summary = _run("s3://photos/in", "s3://photos/out", "ray", manifest=tmp_path / "m.jsonl")
    assert summary.processed == 2 and [str(p) for p, _ in summary.failed] == ["s3://photos/in/broken.jpg"]
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="photos", Prefix="out/")["Contents"])
    assert keys == ["out/a.jpg", "out/deep/b.png"]  # nothing partial, no temp objects
    local = _run(EXAMPLES / "astronaut_blurry.jpg", tmp_path / "a.jpg", "local")
    assert local.processed == 1
    body = s3.get_object(Bucket="photos", Key="out/a.jpg")["Body"].read()
    assert same_picture(body, (tmp_path / "a.jpg").read_bytes())  # 2 network threads against 1


def test_s3_video_in_and_out(ray_session, s3, tmp_path):
    """A video object through a Ray task and through the local engine: streamed to a private temp
    folder, deblurred, uploaded whole; the same bytes as from local files; no temp folder left."""
    import tempfile

    from test_video import make_clip

    make_clip(tmp_path / "clip.mp4", frames=8)
    s3.create_bucket(Bucket="videos")
    s3.put_object(Bucket="videos", Key="in/clip.mp4", Body=(tmp_path / "clip.mp4").read_bytes())
    temps = set(Path(tempfile.gettempdir()).glob("faceblur-video-*"))
    summary = _run("s3://videos/in", "s3://videos/out", "ray")
    assert summary.processed == 1 and not summary.failed and summary.faces > 0
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="videos", Prefix="out/")["Contents"])
    assert keys == ["out/clip.mp4"]
    assert _run(tmp_path / "clip.mp4", tmp_path / "local.mp4", "local").processed == 1
    assert _run("s3://videos/in/clip.mp4", tmp_path / "from_s3.mp4", "local").processed == 1
    expected = (tmp_path / "local.mp4").read_bytes()
    assert s3.get_object(Bucket="videos", Key="out/clip.mp4")["Body"].read() == expected
    assert (tmp_path / "from_s3.mp4").read_bytes() == expected
    again = _run("s3://videos/in", "s3://videos/out", "local")  # an existing object is kept
    assert again.processed == 0 and s3.get_object(Bucket="videos", Key="out/clip.mp4")["Body"].read() == expected
    assert set(Path(tempfile.gettempdir()).glob("faceblur-video-*")) == temps


def test_without_ray_the_engine_is_a_one_line_error(tmp_path):
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from faceblur_cli.cli.app import main_argv\n"
        f"sys.exit(main_argv(['deblur', {str(EXAMPLES / 'astronaut_blurry.jpg')!r}, '-o', {str(tmp_path / 'o')!r},"
        " '--engine', 'ray']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "faceblur[ray]" in lines[0], lines


def test_an_address_nothing_answers_is_a_usage_error(tmp_path, capsys):
    port = free_port()  # nothing listens there
    args = ["deblur", str(EXAMPLES / "astronaut_blurry.jpg"), "-o", str(tmp_path / "o.jpg"), "--engine", "ray"]
    assert main_argv([*args, "--ray-address", f"127.0.0.1:{port}"]) == 2
    said = capsys.readouterr()
    assert "no Ray cluster answers there" in said.out + said.err and not (tmp_path / "o.jpg").exists()
    assert main_argv([*args, "--ray-address", "bad address"]) == 2
