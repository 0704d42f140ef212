"""Hostile inputs, round two: each test names the defect (or friction) of the issue it guards.

Every one of these failed before the fix: a planted link that redirected the video temp file, a
final name replaced by a run that finished later, a tiny weights file that allocated gigabytes, a
TIFF header that OpenCV decoded before the pixel check, and so on.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import cmyk_icc_profile, file_hashes, peak_rss_mb, tiff_with_header_size
from PIL import Image, ImageCms

from faceblur_cli import atomic, batch
from faceblur_cli.batch import BatchOptions
from faceblur_cli.cli import main_argv
from faceblur_cli.imageio import ImageError, load_image, pixel_limit

av = pytest.importorskip("av")
from test_video import make_clip  # noqa: E402


def cli(*args) -> int:
    return main_argv([str(a) for a in args])


def _no_temp_left(folder) -> None:
    left = [p for p in folder.rglob("*") if atomic.is_temp(p) or ".part" in p.name]
    assert not left, left


# 1 a planted link at the video temp path ---------------------------------------------------------
def test_planted_link_at_old_temp_name_never_followed(deblurrer, tmp_path):
    (tmp_path / "in").mkdir()
    src = make_clip(tmp_path / "in" / "clip.mp4", frames=6)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    before = file_hashes(tmp_path / "in")
    os.symlink(src, out / ".clip.part.mp4")  # the old fixed temp name, pointing at the input
    os.symlink(victim, out / f"{atomic.TEMP_PREFIX}x.mp4")
    jobs = batch.plan(src, out / "clip.mp4", BatchOptions())
    summary = batch.run(deblurrer, jobs, BatchOptions())
    assert summary.processed == 1, summary.failed
    assert file_hashes(tmp_path / "in") == before and victim.read_text() == "precious"
    assert not (out / "clip.mp4").is_symlink()
    with av.open(str(out / "clip.mp4")) as c:
        assert c.streams.video[0].codec_context.width == 320


def test_temp_files_are_exclusive_and_short(tmp_path):
    dst = tmp_path / ("x" * 250 + ".png")  # 11: a 254-byte name still gets a temp name that fits
    fd, tmp = atomic.make_temp(dst)
    os.close(fd)
    assert len(tmp.name) < 30 and atomic.is_temp(tmp) and tmp.parent == tmp_path
    fd2, tmp2 = atomic.make_temp(dst)
    os.close(fd2)
    assert tmp2 != tmp  # unpredictable, never reused
    atomic.claim(tmp, dst)
    assert dst.exists() and not tmp.exists()


# 2 final names are claimed without replacing what appeared meanwhile -------------------------------
def test_video_output_that_appears_during_the_run_is_not_replaced(deblurrer, tmp_path):
    src = make_clip(tmp_path / "long.mp4", frames=10)
    dst = tmp_path / "c" / "long.mp4"
    opts = BatchOptions()
    jobs = batch.plan(src, dst, opts)

    def other_run_finishes(_src, done, _total):
        if done == 3:
            dst.parent.mkdir(exist_ok=True)
            dst.write_bytes(b"the other run's video")

    summary = batch.run(deblurrer, jobs, opts, frame_progress=other_run_finishes)
    assert summary.processed == 0 and len(summary.failed) == 1
    assert "appeared while this run worked" in summary.failed[0][1]
    assert dst.read_bytes() == b"the other run's video"
    _no_temp_left(tmp_path)


def test_image_output_that_appears_during_the_run_is_not_replaced(deblurrer, example_photo, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.jpg", "b.jpg"):
        Image.open(example_photo).resize((96, 96)).save(src / name)
    out = tmp_path / "out"
    opts = BatchOptions(mode="aligned")
    jobs = batch.plan(src, out, opts)
    out.mkdir()
    (out / "b.jpg").write_bytes(b"written by a concurrent run")  # after planning, before writing
    summary = batch.run(deblurrer, jobs, opts)
    assert summary.processed == 1 and [s.name for s, _ in summary.skipped] == ["b.jpg"]
    assert (out / "b.jpg").read_bytes() == b"written by a concurrent run"


def test_claim_never_replaces_a_name_taken_after_the_temp_file(tmp_path):
    dst = tmp_path / "a.png"
    fd, tmp = atomic.make_temp(dst)
    os.write(fd, b"ours")
    os.close(fd)
    dst.write_bytes(b"theirs")  # another run claimed the name between our check and our rename
    with pytest.raises(atomic.OutputExists):
        atomic.claim(tmp, dst)
    assert dst.read_bytes() == b"theirs"
    os.symlink(tmp_path / "elsewhere", tmp_path / "b.png")  # a dangling link is a taken name too
    with pytest.raises(atomic.OutputExists):
        atomic.claim(tmp, tmp_path / "b.png")
    assert not (tmp_path / "elsewhere").exists()
    atomic.claim(tmp, dst, overwrite=True)
    assert dst.read_bytes() == b"ours"


# 3 a 1 KB weights file that asks for a huge network --------------------------------------------------
@pytest.mark.parametrize("config", [{"width": 2048}, {"levels": 100000}, {"width": 256, "levels": 6}])
def test_tiny_weights_file_cannot_allocate_a_huge_network(tmp_path, config):
    import torch

    bad = tmp_path / "bad.pth"
    torch.save({"format": "faceblur-generator-v1", "config": config, "state_dict": {}}, bad)
    assert bad.stat().st_size < 2000
    rss, err = peak_rss_mb(
        "from faceblur_cli.weights import load_generator, WeightsError\n"
        f"try:\n    load_generator({str(bad)!r})\nexcept WeightsError as e:\n    print('ERR', e)\n"
    )
    assert "ERR" not in err  # printed to stdout; stderr has only the RSS line
    assert rss < 1200, rss
    assert cli("deblur", example_photo_path(), "-o", tmp_path / "o.png", "-m", bad) == 1


def example_photo_path():
    from conftest import EXAMPLE

    return EXAMPLE


# 4 a TIFF header past --max-pixels ----------------------------------------------------------------
def test_tiff_bomb_is_refused_from_its_header(tmp_path):
    import cv2

    small = tmp_path / "small.tif"
    cv2.imwrite(str(small), np.zeros((8, 8, 3), np.float32))  # float RGB: Pillow cannot decode it
    bomb = tmp_path / "bomb.tif"
    tiff_with_header_size(small, bomb, 16000, 16000)
    with pixel_limit(89_478_485), pytest.raises(ImageError, match="too large"):
        load_image(bomb)
    rss, err = peak_rss_mb(
        "import resource, sys, cv2\nfrom faceblur_cli.imageio import load_image, ImageError\n"
        "before = next(int(ln.split()[1]) for ln in open('/proc/self/status') if ln.startswith('VmHWM')) / 1024\n"
        f"try:\n    load_image({str(bomb)!r})\nexcept ImageError:\n    pass\n"
        "print('BEFORE', before, file=sys.stderr)\n"
    )
    before = float(next(ln.split()[1] for ln in err.splitlines() if ln.startswith("BEFORE")))
    assert rss - before < 100, (before, rss)  # the 16000 x 16000 decode would be 3 GB


# 5 videos have a per-frame pixel limit --------------------------------------------------------------
def test_video_frames_over_the_pixel_limit_are_refused(tmp_path, capsys):
    src = make_clip(tmp_path / "big.mp4", frames=3)
    assert cli("deblur", src, "-o", tmp_path / "o.mp4", "--max-pixels", 10_000) == 1
    err = capsys.readouterr().err
    assert "frames too large" in err and "--max-pixels" in err and "Traceback" not in err
    assert not (tmp_path / "o.mp4").exists()
    _no_temp_left(tmp_path)


# 6 face mode memory on a big photo --------------------------------------------------------------------
@pytest.mark.slow
def test_face_mode_memory_on_a_40_megapixel_photo(example_photo, tmp_path):
    big = Image.new("RGB", (7800, 5200), (120, 110, 100))
    big.paste(Image.open(example_photo).convert("RGB").resize((2400, 2400)), (2000, 1000))
    path = tmp_path / "big.jpg"
    big.save(path, quality=85)
    del big
    rss, err = peak_rss_mb(
        "from faceblur_cli.cli import main_argv\n"
        f"main_argv(['deblur', {str(path)!r}, '-o', {str(tmp_path / 'o.jpg')!r}, '--threads', '1'])\n",
        timeout=600,
    )
    assert "faces 1" in err, err
    assert rss < 1536, rss


# 7 CMYK JPEG with a CMYK ICC profile --------------------------------------------------------------------
def test_cmyk_profile_is_converted_and_replaced_by_srgb(example_photo, tmp_path):
    src = tmp_path / "cmyk.jpg"
    Image.open(example_photo).convert("CMYK").save(src, icc_profile=cmyk_icc_profile())
    loaded = load_image(src)
    assert any("through its ICC profile" in n for n in loaded.notes)
    assert cli("deblur", src, "-o", tmp_path / "out.jpg") == 0
    with Image.open(tmp_path / "out.jpg") as im:
        assert im.mode == "RGB"
        profile = ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"]))
        assert profile.profile.xcolor_space.strip() == "RGB"


# 8 odd-sized / 4:4:4 video ---------------------------------------------------------------------------
@pytest.mark.parametrize("size,pix", [((161, 121), "yuv444p"), ((160, 120), "yuv444p")])
def test_odd_sized_and_444_video_keep_their_size(deblurrer, tmp_path, size, pix):
    src = tmp_path / "odd.mp4"
    with av.open(str(src), "w") as c:
        vs = c.add_stream("libx264", rate=10)
        vs.width, vs.height, vs.pix_fmt = *size, pix
        for i in range(4):
            f = av.VideoFrame.from_ndarray(np.full((size[1], size[0], 3), 40 * i, np.uint8), format="rgb24")
            f.pts = i
            for p in vs.encode(f):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
    opts = BatchOptions()
    summary = batch.run(deblurrer, batch.plan(src, tmp_path / "out.mp4", opts), opts)
    assert summary.processed == 1, summary.failed
    with av.open(str(tmp_path / "out.mp4")) as c:
        frames = list(c.decode(video=0))
        assert (frames[0].width, frames[0].height) == size and len(frames) == 4


# 9 AVI with PCM audio ---------------------------------------------------------------------------------
def test_avi_with_pcm_audio_becomes_mp4_with_aac(deblurrer, tmp_path):
    src = tmp_path / "clip.avi"
    with av.open(str(src), "w") as c:
        vs = c.add_stream("mpeg4", rate=10)
        vs.width, vs.height, vs.pix_fmt = 160, 120, "yuv420p"
        aus = c.add_stream("pcm_s16le", rate=8000)
        aus.layout = "mono"
        for i in range(5):
            f = av.VideoFrame.from_ndarray(np.full((120, 160, 3), 30 * i, np.uint8), format="rgb24")
            f.pts = i
            for p in vs.encode(f):
                c.mux(p)
        tone = (3000 * np.sin(np.arange(4000) / 5)).astype(np.int16)[None]
        af = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
        af.sample_rate, af.pts = 8000, 0
        for p in [*aus.encode(af), *aus.encode()]:
            c.mux(p)
        for p in vs.encode():
            c.mux(p)
    opts = BatchOptions()
    jobs = batch.plan(src, tmp_path / "out", opts)
    summary = batch.run(deblurrer, jobs, opts)
    assert summary.processed == 1, summary.failed
    assert any("re-encoded to AAC" in w for w in summary.warnings)
    with av.open(str(tmp_path / "out" / "clip.mp4")) as c:
        assert c.streams.audio[0].codec_context.name == "aac"
        assert sum(1 for p in c.demux(c.streams.audio[0]) if p.size) > 0


# 10 a garbage cached ONNX export is rebuilt -----------------------------------------------------------
@pytest.mark.slow
def test_garbage_onnx_cache_is_rebuilt(example_photo, tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("FACEBLUR_CACHE", str(tmp_path / "cache"))
    args = ("deblur", example_photo, "-o", tmp_path / "o.png", "--backend", "onnx", "--overwrite", "--threads", 1)
    assert cli(*args) == 0
    first = capsys.readouterr().err
    assert "exporting" in first and "[torch.onnx]" not in first and "Warning" not in first
    (cached,) = (tmp_path / "cache" / "onnx").glob("*.onnx")
    cached.write_bytes(b"garbage")
    assert cli(*args) == 0
    assert "rebuilding" in capsys.readouterr().err
    assert cached.stat().st_size > 1000


# 11 long file names --------------------------------------------------------------------------------------
def test_names_of_250_bytes_are_processed(example_photo, tmp_path):
    name = "é" * 60 + "x" * (250 - 120 - 4) + ".jpg"
    assert len(os.fsencode(name)) == 250
    d = tmp_path / "in"
    d.mkdir()
    Image.open(example_photo).resize((80, 80)).save(d / name)
    assert cli("deblur", d, "-o", tmp_path / "out", "--aligned") == 0
    assert (tmp_path / "out" / name).exists()


# 12 SIGTERM during a video; our temp files are never inputs ---------------------------------------------
def test_sigterm_during_a_video_cleans_up(tmp_path):
    src = make_clip(tmp_path / "long.mp4", frames=120, size=(480, 360))
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "faceblur_cli", "deblur", str(src), "-o", str(out / "long.mp4"), "--threads", "1"],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (out.exists() and any(atomic.is_temp(p) for p in out.iterdir())):
        time.sleep(0.2)
    assert out.exists(), "the run never started writing"
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert not list(out.iterdir()), list(out.iterdir())


def test_own_temp_files_are_never_inputs(example_photo, tmp_path):
    Image.open(example_photo).resize((80, 80)).save(tmp_path / "a.jpg")
    (tmp_path / f"{atomic.TEMP_PREFIX}abcd1234.jpg").write_bytes(b"half a file")
    jobs = batch.plan(tmp_path, tmp_path, BatchOptions(suffix="_sharp"))
    assert [s.name for s, _ in jobs] == ["a.jpg"]


# 13 --save-faces names are collision-checked ----------------------------------------------------------
def test_save_faces_names_collide_with_an_input_output(example_photo, tmp_path, capsys):
    d = tmp_path / "in"
    d.mkdir()
    Image.open(example_photo).save(d / "x.jpg")
    Image.open(example_photo).resize((64, 64)).save(d / "x_face00.png")
    before = file_hashes(d)
    assert cli("deblur", d, "-o", tmp_path / "out", "--save-faces", "--overwrite") == 2
    assert "--save-faces file" in capsys.readouterr().err
    assert file_hashes(d) == before and not (tmp_path / "out").exists()


# 14 an unreadable subfolder is reported -------------------------------------------------------------
def test_unreadable_subfolder_is_reported(example_photo, tmp_path, monkeypatch, capsys):
    d = tmp_path / "in"
    (d / "locked").mkdir(parents=True)
    Image.open(example_photo).resize((64, 64)).save(d / "a.png")
    real_scandir = os.scandir

    def scandir(path):  # root reads every folder, so the refusal a user would get is simulated
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    assert cli("deblur", d, "-o", tmp_path / "out", "--aligned") == 1
    err = capsys.readouterr().err
    assert "locked: cannot read the folder" in err and "processed 1" in err and "failed 1" in err


# frictions ------------------------------------------------------------------------------------------
def test_symlinked_subfolder_is_followed_once(example_photo, tmp_path):
    d, elsewhere = tmp_path / "in", tmp_path / "elsewhere"
    d.mkdir()
    elsewhere.mkdir()
    Image.open(example_photo).resize((64, 64)).save(elsewhere / "b.png")
    os.symlink(elsewhere, d / "linked")
    os.symlink(d, d / "loop")  # a loop is walked once, not forever
    jobs = batch.plan(d, tmp_path / "out", BatchOptions())
    assert [s.relative_to(d).as_posix() for s, _ in jobs] == ["linked/b.png"]


def test_unsupported_images_in_a_folder_are_named(example_photo, tmp_path, capsys):
    d = tmp_path / "in"
    d.mkdir()
    Image.open(example_photo).resize((64, 64)).save(d / "a.png")
    Image.open(example_photo).resize((64, 64)).save(d / "b.gif")
    (d / "c.avif").write_bytes(b"\0\0\0\x1cftypavif")
    assert cli("deblur", d, "-o", tmp_path / "out", "--aligned") == 0
    err = capsys.readouterr().err
    assert "b.gif: unsupported image type .gif" in err and "c.avif" in err and "skipped 2" in err


@pytest.mark.parametrize(
    "make,args,message",
    [
        ("face.jpg", ["-o", "{o}/clip.mp4"], "an image cannot be written as .mp4"),
        ("clip.mp4", ["-o", "{o}/out.webm"], "videos are written as H.264"),
        ("face.jpg", ["-o", "{o}/a.png", "--skip-existing", "--overwrite"], "contradict"),
        ("face.jpg", ["-o", "{o}", "--batch-size", "100000"], "--batch-size"),
        ("face.jpg", ["-o", "{o}", "--threads", "99999999999"], "--threads"),
        ("face.jpg", ["-o", "{o}", "--suffix", "s" * 300], "longer than"),
    ],
)
def test_frictions_are_usage_errors_before_any_work(example_photo, tmp_path, capsys, make, args, message):
    src = tmp_path / make
    if make.endswith(".mp4"):
        make_clip(src, frames=2)
    elif make.endswith(".avif"):
        src.write_bytes(b"\0\0\0\x1cftypavif")
    else:
        Image.open(example_photo).save(src)
    o = tmp_path / "o"
    assert cli("deblur", src, *[a.format(o=o) for a in args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not o.exists()


def test_unsupported_single_input_is_named(tmp_path, capsys):
    (tmp_path / "x.avif").write_bytes(b"\0\0\0\x1cftypavif")
    assert cli("deblur", tmp_path / "x.avif", "-o", tmp_path / "o" / "x.avif") == 1
    err = capsys.readouterr().err
    assert "unsupported input type '.avif'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_output_path_that_is_a_folder_is_refused(example_photo, tmp_path, capsys):
    (tmp_path / "o" / "a.jpg").mkdir(parents=True)
    Image.open(example_photo).save(tmp_path / "a.jpg")
    assert cli("deblur", tmp_path / "a.jpg", "-o", tmp_path / "o", "--overwrite") == 2
    assert "is a folder" in capsys.readouterr().err


def test_single_file_whose_output_exists_is_exit_1(example_photo, tmp_path, capsys):
    (tmp_path / "o.jpg").write_bytes(b"old")
    assert cli("deblur", example_photo, "-o", tmp_path / "o.jpg") == 1
    assert "output exists" in capsys.readouterr().err
    assert cli("deblur", example_photo, "-o", tmp_path / "o.jpg", "--skip-existing") == 0
    assert (tmp_path / "o.jpg").read_bytes() == b"old"


def test_same_folder_suffix_batch_can_be_rerun(example_photo, tmp_path, capsys):
    Image.open(example_photo).resize((80, 80)).save(tmp_path / "a.jpg")
    assert cli("deblur", tmp_path, "-o", tmp_path, "--suffix", "_sharp", "--aligned") == 0
    assert cli("deblur", tmp_path, "-o", tmp_path, "--suffix", "_sharp", "--aligned", "--skip-existing") == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg", "a_sharp.jpg"]


def test_output_link_to_the_input_is_named_as_such(example_photo, tmp_path, capsys):
    Image.open(example_photo).save(tmp_path / "a.jpg")
    (tmp_path / "o").mkdir()
    os.symlink(tmp_path / "a.jpg", tmp_path / "o" / "a.jpg")
    assert cli("deblur", tmp_path / "a.jpg", "-o", tmp_path / "o", "--overwrite") == 2
    assert "would overwrite the input" in capsys.readouterr().err


def test_rgba_to_jpeg_warns(example_photo, tmp_path, capsys):
    Image.open(example_photo).convert("RGBA").save(tmp_path / "a.png")
    assert cli("deblur", tmp_path / "a.png", "-o", tmp_path / "o", "--ext", "jpg", "--aligned") == 0
    assert "transparency dropped" in capsys.readouterr().err


def test_audio_only_tiny_and_truncated_videos(deblurrer, tmp_path):
    audio_only = tmp_path / "a.mp4"
    with av.open(str(audio_only), "w") as c:
        aus = c.add_stream("aac", rate=16000)
        aus.layout = "mono"
        af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        af.sample_rate, af.pts = 16000, 0
        for p in [*aus.encode(af), *aus.encode()]:
            c.mux(p)
    tiny = tmp_path / "t.mp4"
    with av.open(str(tiny), "w") as c:
        vs = c.add_stream("libx264", rate=10)
        vs.width, vs.height, vs.pix_fmt = 2, 2, "yuv444p"
        f = av.VideoFrame.from_ndarray(np.zeros((2, 2, 3), np.uint8), format="rgb24")
        for p in [*vs.encode(f), *vs.encode()]:
            c.mux(p)
    full = make_clip(tmp_path / "full.mkv", frames=60, size=(160, 120))
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    opts = BatchOptions()
    out = tmp_path / "out"
    summary = batch.run(deblurrer, [(audio_only, out / "a.mp4"), (tiny, out / "t.mp4"), (cut, out / "cut.mkv")], opts)
    msgs = " | ".join(m for _, m in summary.failed)
    assert "no video stream (audio only)" in msgs and "too small" in msgs, msgs
    assert summary.processed == 1 and any("truncated" in w for w in summary.warnings), summary.warnings
    _no_temp_left(out)


def test_pickle_refusal_names_what_was_blocked(tmp_path):
    import pickle

    from faceblur_cli.weights import WeightsError, load_checkpoint

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"x": Evil()}, protocol=2))
    with pytest.raises(WeightsError, match=r"would import (posix|os)\.system") as err:
        load_checkpoint(path)
    assert "weights_only" not in str(err.value) and "site-packages" not in str(err.value)


# issue 30's new-user frictions ------------------------------------------------------------------------
def test_several_inputs_and_globs(example_photo, tmp_path, capsys):
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    for name in ("a.jpg", "b.jpg", "sub/c.png"):
        Image.open(example_photo).resize((80, 80)).save(d / name)
    out = tmp_path / "out"
    assert cli("deblur", d / "a.jpg", d / "b.jpg", d / "sub", "-o", out, "--aligned") == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.*")) == ["a.jpg", "b.jpg", "sub/c.png"]
    out2 = tmp_path / "out2"
    assert cli("deblur", str(d / "*.jpg"), "-o", out2, "--aligned") == 0  # a quoted pattern
    assert sorted(p.name for p in out2.iterdir()) == ["a.jpg", "b.jpg"]
    assert cli("deblur", d / "a.jpg", d / "a.jpg", "-o", tmp_path / "o3", "--aligned") == 2
    assert "would both be written" in capsys.readouterr().err
    assert cli("deblur", d / "a.jpg", d / "b.jpg", "-o", tmp_path / "x.png") == 2
    assert "several inputs need an output folder" in capsys.readouterr().err


def test_install_hints_keep_their_brackets(tmp_path, monkeypatch, capsys):
    from faceblur_cli import video
    from faceblur_cli.extras import install_hint

    def no_av():  # as on a machine without the video extra
        raise video.VideoError(f"video needs PyAV: {install_hint('video')}")

    src = make_clip(tmp_path / "c.mp4", frames=2)
    monkeypatch.setattr(video, "_av", no_av)
    assert cli("deblur", src, "-o", tmp_path / "o.mp4") == 1
    err = capsys.readouterr().err
    assert "pip install 'faceblur[video]'" in err and "pip install -e '.[video]'" in err, err


def test_compare_is_refused_for_a_video(tmp_path, capsys):
    src = make_clip(tmp_path / "c.mp4", frames=2)
    assert cli("deblur", src, "-o", tmp_path / "o.mp4", "--compare") == 2
    assert "--compare" in capsys.readouterr().err


def test_unknown_model_lists_the_short_names(example_photo, tmp_path, capsys):
    assert cli("deblur", example_photo, "-o", tmp_path / "o.jpg", "-m", "nosuch") == 1
    err = capsys.readouterr().err
    assert "lite" in err and "base" in err and "retinaface" not in err


def test_help_has_no_bool_placeholders(capsys):
    assert cli("deblur", "--help") == 0
    assert "<bool>" not in capsys.readouterr().out
