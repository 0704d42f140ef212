"""Video: streaming deblur keeps frames, timing, rotation and audio; bounded memory; broken input."""

import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

av = pytest.importorskip("av")

from conftest import REPO  # noqa: E402

from faceblur_cli.imageio import read_rgb  # noqa: E402

FACE = read_rgb(REPO / "faceblur_cli" / "assets" / "examples" / "astronaut_sharp.png")[20:260, 140:360]


def make_clip(path, frames=24, size=(320, 240), fps=12, audio=False, rotation=0, face=True, vfr=False, blur=5):
    """The bundled public-domain face sliding across a grey frame (blurred along its motion)."""
    w, h = size
    fh, fw = h * 3 // 4, (h * 3 // 4) * FACE.shape[1] // FACE.shape[0]
    import cv2

    small = cv2.resize(FACE, (fw, fh), interpolation=cv2.INTER_AREA)
    with av.open(str(path), "w") as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"crf": "18"}
        if vfr:
            vs.time_base = vs.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            vs.set_display_rotation(rotation)
        if audio:
            aus = c.add_stream("aac", rate=16000)
            aus.layout = "mono"
        t_ms = 0
        for i in range(frames):
            img = np.full((h, w, 3), 110, np.uint8)
            if face:
                x = int((w - fw) * i / max(frames - 1, 1))
                img[(h - fh) // 2 : (h - fh) // 2 + fh, x : x + fw] = cv2.blur(small, (blur, 1))
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            if vfr:
                f.pts, f.time_base = t_ms, Fraction(1, 1000)
                t_ms += 50 if i % 2 else 120
            else:
                f.pts = i
            for p in vs.encode(f):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
        if audio:
            n = int(16000 * frames / fps)
            tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(n) / 16000)).astype(np.float32)[None]
            for start in range(0, n, 1024):
                af = av.AudioFrame.from_ndarray(tone[:, start : start + 1024], format="fltp", layout="mono")
                af.sample_rate, af.pts = 16000, start
                for p in aus.encode(af):
                    c.mux(p)
            for p in aus.encode():
                c.mux(p)
    return path


def audio_packets(path):
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


@pytest.fixture(scope="module")
def engine():
    from faceblur_cli.deblurrer import Deblurrer

    return Deblurrer("default", device="cpu")


def test_frames_timing_audio_and_faces(engine, tmp_path):
    from faceblur_cli.video import deblur_video, probe

    src = make_clip(tmp_path / "in.mp4", audio=True)
    before = src.read_bytes()
    report = deblur_video(engine, src, tmp_path / "out.mp4")
    a, b = probe(src), probe(tmp_path / "out.mp4")
    assert b["frames"] == a["frames"] == report.frames == 24
    assert (b["width"], b["height"], b["rate"]) == (a["width"], a["height"], a["rate"])
    assert abs(b["last_time"] - a["last_time"]) <= 1 / 12 + 1e-6
    assert audio_packets(tmp_path / "out.mp4") == audio_packets(src)  # copied bit for bit
    assert src.read_bytes() == before and not list(tmp_path.glob(".*part*"))
    # the face region changed (it was deblurred), the grey background did not
    with av.open(str(src)) as c1, av.open(str(tmp_path / "out.mp4")) as c2:
        f1 = next(c1.decode(video=0)).to_ndarray(format="rgb24").astype(int)
        f2 = next(c2.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    assert np.abs(f1 - f2)[60:180, :100].mean() > np.abs(f1 - f2)[:, 260:].mean() + 0.5


def test_variable_frame_rate_and_rotation_survive(engine, tmp_path):
    from faceblur_cli.video import deblur_video, probe

    src = make_clip(tmp_path / "vfr.mp4", frames=12, vfr=True, rotation=90)
    deblur_video(engine, src, tmp_path / "out.mp4")
    with av.open(str(src)) as c1, av.open(str(tmp_path / "out.mp4")) as c2:
        t1 = [round(f.time, 3) for f in c1.decode(video=0)]
        t2 = [round(f.time, 3) for f in c2.decode(video=0)]
    assert t1 == t2 and len(set(np.diff(t1).round(3))) == 2
    assert probe(tmp_path / "out.mp4")["rotation"] == probe(src)["rotation"] != 0


def test_frames_without_faces_pass_through(engine, tmp_path):
    from faceblur_cli.deblurrer import NoFaceError
    from faceblur_cli.video import restore_frames

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (96, 128, 3), dtype=np.uint8) for _ in range(5)]
    out = list(restore_frames(engine, iter(frames), batch=2))
    assert all(np.array_equal(a, b) for a, b in zip(frames, out)) and len(out) == 5
    with pytest.raises(NoFaceError):
        list(restore_frames(engine, iter(frames), no_face="error"))


def test_broken_video_is_one_line_error(tmp_path):
    from faceblur_cli.video import VideoError, deblur_video

    src = make_clip(tmp_path / "ok.mp4", frames=6)
    bad = tmp_path / "cut.mp4"
    bad.write_bytes(src.read_bytes()[: src.stat().st_size // 3])
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all" * 10)
    for path in (bad, tmp_path / "junk.mp4"):
        with pytest.raises(VideoError) as err:
            deblur_video(None, path, tmp_path / "o.mp4")
        assert "\n" not in str(err.value)
    assert not (tmp_path / "o.mp4").exists()


PEAK = """
import resource, sys
from faceblur_cli.deblurrer import Deblurrer
from faceblur_cli.video import deblur_video
deblur_video(Deblurrer("default", device="cpu", threads=1), sys.argv[1], sys.argv[2], batch=4)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_peak_memory_flat_as_the_clip_grows(tmp_path):
    peaks = []
    for n in (40, 160):
        src = make_clip(tmp_path / f"c{n}.mp4", frames=n, size=(640, 360))
        cmd = [sys.executable, "-c", PEAK, str(src), str(tmp_path / f"o{n}.mp4")]
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        peaks.append(int(r.stdout.split()[-1]) / 1024)
    assert peaks[1] < peaks[0] * 1.15 + 20, peaks  # MB: 4x the frames, about the same peak


def test_cli_folder_with_image_and_videos(example_photo, tmp_path):
    import shutil

    from typer.testing import CliRunner

    from faceblur_cli.cli import app

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(example_photo, src / "photo.jpg")
    make_clip(src / "talk.avi", frames=6)
    make_clip(src / "empty.mp4", frames=4, face=False)
    r = CliRunner().invoke(app, ["deblur", str(src), "-o", str(tmp_path / "out"), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out" / "photo.jpg").exists() and (tmp_path / "out" / "talk.mp4").exists()
    assert (tmp_path / "out" / "empty.mp4").exists() and "no face in any frame" in r.output
    r = CliRunner().invoke(
        app, ["deblur", str(src / "empty.mp4"), "-o", str(tmp_path / "e.mp4"), "--no-face", "error", "--device", "cpu"]
    )
    assert r.exit_code == 1 and "no face in any frame" in r.output and not (tmp_path / "e.mp4").exists()
    r = CliRunner().invoke(
        app, ["deblur", str(src / "empty.mp4"), "-o", str(tmp_path / "e.mp4"), "--no-face", "skip", "--device", "cpu"]
    )
    assert "skipped" in r.output and not (tmp_path / "e.mp4").exists()
    r = CliRunner().invoke(app, ["deblur", str(src / "talk.avi"), "-o", str(tmp_path / "t.mp4"), "--crf", "60"])
    assert r.exit_code == 2 and "--crf" in r.output


def test_interrupt_leaves_no_output(engine, tmp_path):
    from faceblur_cli.video import deblur_video

    src = make_clip(tmp_path / "in.mp4", frames=20)

    def stop(done, total):
        if done == 9:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        deblur_video(engine, src, tmp_path / "out.mp4", batch=4, progress=stop)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_unchanged_pixels_keep_their_planes(engine, tmp_path):
    """Lossless encode (crf 0): with strength 0 the output's YUV planes are the input's, bit for bit
    (FFmpeg's default RGB round trip darkened every pixel by ~1.2 levels); deblurred, only the face moves."""
    from faceblur_cli.video import deblur_video

    src = make_clip(tmp_path / "in.mp4", frames=6)

    def planes(path):
        with av.open(str(path)) as c:
            return [f.to_ndarray(format="yuv420p") for f in c.decode(video=0)]

    deblur_video(engine, src, tmp_path / "same.mp4", crf=0, strength=0.0)
    assert all(np.array_equal(a, b) for a, b in zip(planes(src), planes(tmp_path / "same.mp4")))
    deblur_video(engine, src, tmp_path / "out.mp4", crf=0)
    a, b = planes(src)[0], planes(tmp_path / "out.mp4")[0]
    y_changed = a[:240] != b[:240]
    assert y_changed.any() and not y_changed[:, 250:].any()  # the face (left at frame 0), not the right side


def test_sideways_phone_clip_faces_are_found(engine, tmp_path):
    """Stored turned clockwise with a 90° display rotation (a phone held upright): displayed upright,
    so the faces must be found; the same frames flagged -90° are upside down on screen and are not."""
    import cv2

    from faceblur_cli.video import deblur_video

    photo = read_rgb(REPO / "faceblur_cli" / "assets" / "examples" / "astronaut_sharp.png")
    stored = np.ascontiguousarray(np.rot90(cv2.blur(cv2.resize(photo, (240, 240)), (7, 1)), -1))
    found = {}
    for rot in (90, -90):
        path = tmp_path / f"r{rot}.mp4"
        with av.open(str(path), "w") as c:
            vs = c.add_stream("libx264", rate=10)
            vs.width, vs.height, vs.pix_fmt = 240, 240, "yuv420p"
            vs.set_display_rotation(rot)
            for i in range(3):
                f = av.VideoFrame.from_ndarray(stored, format="rgb24")
                f.pts = i
                for p in vs.encode(f):
                    c.mux(p)
            for p in vs.encode():
                c.mux(p)
        found[rot] = deblur_video(engine, path, tmp_path / f"o{rot}.mp4").face_frames
    assert found == {90: 3, -90: 0}
