"""Hostile inputs: no input modified, no output lost or misplaced, no traceback, clear one-line errors.

Each test names the defect of the hostile-inputs issue it guards (numbers as filed). The corpus
test at the end builds the whole hostile set in a temp folder and runs it in one batch.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from helpers import file_hashes
from PIL import Image

from faceblur_cli import batch
from faceblur_cli.batch import BatchOptions
from faceblur_cli.cli import main_argv
from faceblur_cli.imageio import load_image


def cli(*args) -> int:
    return main_argv([str(a) for a in args])


def _face(example_photo, size=None) -> Image.Image:
    im = Image.open(example_photo).convert("RGB")
    return im.resize((size, size)) if size else im


# 1 -------------------------------------------------------------------------------------------
def test_output_that_is_another_input_is_refused(example_photo, tmp_path, capsys):
    d = tmp_path / "d"
    d.mkdir()
    _face(example_photo, 96).save(d / "a.jpg")
    _face(example_photo, 96).save(d / "a.png")
    before = file_hashes(d)
    assert cli("deblur", d, "-o", d, "--ext", "png", "--overwrite", "--whole") == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert file_hashes(d) == before


# 2 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["--whole", "--aligned", None])
def test_tiny_images_do_not_abort_the_batch(example_photo, tmp_path, mode, capsys):
    d = tmp_path / "in"
    d.mkdir()
    _face(example_photo, 128).save(d / "a_face.png")
    for side in (1, 3, 8, 15, 16):
        Image.fromarray(np.full((side, side, 3), 120, np.uint8)).save(d / f"b_tiny{side}.png")
    _face(example_photo, 128).save(d / "c_face.png")
    args = ["deblur", d, "-o", tmp_path / "out"] + ([mode] if mode else [])
    assert cli(*args) == 0
    for f in d.iterdir():
        out = Image.open(tmp_path / "out" / f.name)
        assert out.size == Image.open(f).size
    assert "processed 7" in capsys.readouterr().err


# 3 -------------------------------------------------------------------------------------------
def test_malformed_release_files_give_one_line(tmp_path, example_photo, capsys):
    import torch

    from faceblur_cli.weights import RELEASE_FORMAT

    cases = {
        "noconfig.pth": {"format": RELEASE_FORMAT, "state_dict": {}},
        "badconfig.pth": {"format": RELEASE_FORMAT, "config": {"nope": 1}, "state_dict": {}},
        "badstate.pth": {"format": RELEASE_FORMAT, "config": {}, "state_dict": {"x": torch.zeros(1)}},
    }
    for name, blob in cases.items():
        torch.save(blob, tmp_path / name)
    (tmp_path / "text.pth").write_text("hello, not weights\n")
    for name in [*cases, "text.pth"]:
        code = cli("deblur", example_photo, "-o", tmp_path / f"{name}.png", "--model", tmp_path / name)
        err = capsys.readouterr().err
        assert code == 1 and err.startswith("error:") and "Traceback" not in err, (name, err)
        assert len(err.strip().splitlines()) == 1, err
    assert "not a PyTorch weights file" in err


# 4 -------------------------------------------------------------------------------------------
def test_float_tiff_is_scaled_not_blackened(tmp_path):
    ramp = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    Image.fromarray(ramp, "F").save(tmp_path / "f.tif")
    loaded = load_image(tmp_path / "f.tif")
    assert loaded.rgb.max() == 255 and abs(loaded.rgb.mean() - 127.5) < 2
    assert any("floating-point" in n for n in loaded.notes)


def test_float_rgb_tiff_read_through_opencv(tmp_path):
    import cv2

    arr = np.random.default_rng(0).random((32, 48, 3)).astype(np.float32)
    cv2.imwrite(str(tmp_path / "f3.tif"), arr)
    loaded = load_image(tmp_path / "f3.tif")
    assert loaded.rgb.shape == (32, 48, 3)
    assert np.abs(loaded.rgb[..., 0].astype(float) - arr[..., 2] * 255).max() <= 1  # BGR -> RGB


def test_sixteen_bit_rgb_is_reported(tmp_path):
    import cv2

    arr = (np.random.default_rng(0).random((20, 20, 3)) * 65535).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "rgb16.png"), arr)
    notes = load_image(tmp_path / "rgb16.png").notes
    assert any("16-bit" in n and "8 bits" in n for n in notes), notes


# 5 -------------------------------------------------------------------------------------------
def test_two_inputs_one_output_is_refused_before_work(example_photo, tmp_path, capsys):
    d = tmp_path / "in"
    d.mkdir()
    _face(example_photo, 96).save(d / "face.jpg")
    _face(example_photo, 96).save(d / "face.bmp")
    assert cli("deblur", d, "-o", tmp_path / "out", "--ext", "png", "--overwrite", "--whole") == 2
    assert "would both be written" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# 6 -------------------------------------------------------------------------------------------
def test_output_folder_inside_input_is_not_rescanned(example_photo, tmp_path, capsys):
    d = tmp_path / "in"
    d.mkdir()
    _face(example_photo, 96).save(d / "a.png")
    for _ in range(2):
        assert cli("deblur", d, "-o", d / "out", "--whole", "--overwrite") == 0
    assert sorted(p.relative_to(d).as_posix() for p in d.rglob("*.png")) == ["a.png", "out/a.png"]


# 7 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["/../../escaped", "a/b", ".."])
def test_suffix_cannot_escape_the_output_folder(example_photo, tmp_path, suffix, capsys):
    assert cli("deblur", example_photo, "-o", tmp_path / "out", "--suffix", suffix, "--whole") == 2
    assert "--suffix" in capsys.readouterr().err
    assert not any(p.suffix == ".jpg" for p in tmp_path.rglob("*"))


# 8 (memory is measured by benchmarks/whole_memory.py; here: the banded tiler equals plain blending)
def test_banded_tiling_matches_whole_frame_blend(deblurrer):
    from faceblur_cli.deblurrer import Deblurrer

    img = (np.random.default_rng(1).random((300, 420, 3)) * 255).astype(np.uint8)
    small = Deblurrer("default", device="cpu", tile=128, tile_overlap=16)
    tiled = small.whole(img)
    assert tiled.shape == img.shape
    # interior of one tile equals that tile deblurred on its own (weights there are 1)
    alone = small.run_network([img[0:128, 0:128]])[0]
    assert np.abs(tiled[:96, :96].astype(int) - alone[:96, :96]).max() <= 1


# 9 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "extra",
    [["--ext", "xyz"], ["--ext", ""], ["--no-face", "bogus"], ["--max-pixels", "0"], ["--max-pixels", "-1"]],
)
def test_bad_options_fail_up_front_with_exit_2(example_photo, tmp_path, extra, capsys, monkeypatch):
    import faceblur_cli.deblurrer as deb

    monkeypatch.setattr(deb, "load_generator", lambda *a, **k: pytest.fail("model loaded before validation"))
    assert cli("deblur", example_photo, "-o", tmp_path / "o.png", *extra) == 2
    assert capsys.readouterr().err.startswith("error:")


def test_unwritable_output_fails_up_front(example_photo, tmp_path, capsys, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = os.access
    # root may write anywhere, so the permission check itself is what is exercised
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(ro) else real_access(p, mode))
    assert cli("deblur", example_photo, "-o", ro / "x" / "o.png") == 2
    assert "not writable" in capsys.readouterr().err


# 10 ------------------------------------------------------------------------------------------
def test_parent_is_a_file_message(example_photo, tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert cli("deblur", example_photo, "-o", tmp_path / "f" / "o.png") == 2
    err = capsys.readouterr().err
    assert "is a file" in err and "Errno" not in err


def test_fifo_input_is_named(tmp_path, capsys):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    assert cli("deblur", fifo, "-o", tmp_path / "o.png") == 1
    assert "not a regular file" in capsys.readouterr().err


def test_bomb_message_shows_the_limit(example_photo, tmp_path, capsys):
    assert cli("deblur", example_photo, "-o", tmp_path / "o.png", "--max-pixels", "1000") == 1
    err = capsys.readouterr().err
    assert "--max-pixels 1,000" in err and "262,144 pixels" in err


def test_garbled_exif_becomes_a_warning_not_noise(example_photo, tmp_path):
    im = _face(example_photo, 64)
    im.save(tmp_path / "g.jpg", exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff\x01\x01")
    code = subprocess.run(
        [
            sys.executable,
            "-m",
            "faceblur_cli",
            "deblur",
            str(tmp_path / "g.jpg"),
            "-o",
            str(tmp_path / "o.png"),
            "--whole",
        ],
        capture_output=True,
        text=True,
    )
    assert code.returncode == 0, code.stderr
    assert "site-packages" not in code.stderr and "UserWarning" not in code.stderr


def test_animated_gif_and_multipage_tiff_warn(example_photo, tmp_path):
    frames = [_face(example_photo, 64), _face(example_photo, 64).rotate(90)]
    frames[0].save(tmp_path / "m.tif", save_all=True, append_images=frames[1:])
    assert any("2 frames" in n for n in load_image(tmp_path / "m.tif").notes)


# 11 ------------------------------------------------------------------------------------------
def test_progress_counts_skipped_files_and_extras_are_listed(example_photo, tmp_path, deblurrer):
    d = tmp_path / "in"
    d.mkdir()
    for n in "ab":
        _face(example_photo, 96).save(d / f"{n}.png")
    opts = BatchOptions(mode="whole", compare=True)
    jobs = batch.plan(d, tmp_path / "out", opts)
    (tmp_path / "out").mkdir()
    shutil.copy(d / "a.png", tmp_path / "out" / "a.png")
    ticks = []
    summary = batch.run(deblurrer, jobs, opts, lambda src, faces: ticks.append(src))
    assert len(ticks) == 2 and len(summary.skipped) == 1
    assert summary.extras == [tmp_path / "out" / "b_compare.png"]


def test_aligned_runs_count_faces(example_photo, tmp_path, capsys):
    assert cli("deblur", example_photo, "-o", tmp_path / "o.png", "--aligned") == 0
    assert "faces 1" in capsys.readouterr().err


# 12 ------------------------------------------------------------------------------------------
def test_onnx_on_cuda_without_gpu_runtime_falls_back_to_cpu(monkeypatch, tmp_path):
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    from faceblur_cli.onnx_backend import OnnxBackend

    class FakeSession:  # records the providers asked for; the export itself is tested in test_onnx.py
        def __init__(self, path, opts, providers):
            self.providers = providers

        def get_providers(self):
            return self.providers

        def get_inputs(self):
            return [type("I", (), {"name": "blurry"})()]

    monkeypatch.setattr(ort, "InferenceSession", FakeSession)
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    backend = OnnxBackend(tmp_path / "m.onnx", "cuda", explicit=False)
    assert backend.providers == ["CPUExecutionProvider"] and "CPU" in backend.note
    with pytest.raises(RuntimeError, match="onnx-gpu"):
        OnnxBackend(tmp_path / "m.onnx", "cuda", explicit=True)
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert OnnxBackend(tmp_path / "m.onnx", "cuda").providers[0] == "CUDAExecutionProvider"


# usage errors ----------------------------------------------------------------------------------
def test_usage_errors_are_one_line(capsys):
    assert cli("deblur") == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1 and "╭" not in err


# the corpus ------------------------------------------------------------------------------------
def build_hostile_corpus(folder, example_photo) -> dict[str, str]:
    """Write a hostile set into ``folder``; returns name -> what each file is (nothing large committed)."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    face = _face(example_photo)
    what = {}

    def add(name, desc, writer):
        writer(folder / name)
        what[name] = desc

    add("ok_face.jpg", "a normal photo", lambda p: face.save(p, quality=90))
    add("ok_gray.png", "grayscale", lambda p: face.convert("L").save(p))
    add("ok_rgba.png", "with alpha", lambda p: face.convert("RGBA").save(p))
    add("ok_palette.png", "palette", lambda p: face.convert("P").save(p))
    add("ok_cmyk.jpg", "CMYK JPEG", lambda p: face.convert("CMYK").save(p))
    add(
        "ok_16bit_gray.png",
        "16-bit gray",
        lambda p: Image.fromarray(np.asarray(face.convert("L")).astype(np.uint16) * 257).save(p),
    )
    add(
        "ok_16bit_rgb.png",
        "16-bit RGB",
        lambda p: cv2.imwrite(str(p), np.asarray(face)[:, :, ::-1].astype(np.uint16) * 257),
    )
    add(
        "ok_float.tif",
        "32-bit float gray",
        lambda p: Image.fromarray(np.asarray(face.convert("L"), np.float32) / 255, "F").save(p),
    )
    add(
        "ok_float_rgb.tif",
        "32-bit float RGB",
        lambda p: cv2.imwrite(str(p), np.asarray(face, np.float32)[:, :, ::-1] / 255),
    )
    add("ok_tiny1.png", "1x1 pixel", lambda p: Image.new("RGB", (1, 1), "red").save(p))
    add("ok_tiny3.png", "3x3", lambda p: Image.new("RGB", (3, 3), "red").save(p))
    add("ok_tiny16.png", "16x16", lambda p: face.resize((16, 16)).save(p))
    add("ok_thin.png", "1000x2 strip", lambda p: face.resize((1000, 2)).save(p))
    add("ok_exif_rot.jpg", "EXIF orientation 6", lambda p: face.save(p, exif=_exif(6)))
    add(
        "ok_garbled_exif.jpg",
        "garbled EXIF",
        lambda p: face.save(p, exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff"),
    )
    add(
        "ok_anim_gif.png",
        "animated GIF bytes (named .png)",
        lambda p: face.save(p, format="GIF", save_all=True, append_images=[face.rotate(90)]),
    )
    add("ok_multipage.tif", "2-page TIFF", lambda p: face.save(p, save_all=True, append_images=[face.rotate(90)]))
    add("ok_webp.webp", "WebP", lambda p: face.save(p))
    add("ok_upper.JPG", "upper-case extension", lambda p: face.save(p, format="JPEG"))
    add("ok name with spaces é.png", "spaces and unicode in the name", lambda p: face.save(p))
    add("bad_empty.png", "0 bytes", lambda p: p.write_bytes(b""))
    add("bad_text.jpg", "text named .jpg", lambda p: p.write_text("not an image\n"))
    add("bad_truncated.jpg", "truncated JPEG", lambda p: p.write_bytes(_jpeg(face)[:2000]))
    add("bad_wrong_ext.png", "JPEG bytes named .png (readable: Pillow sniffs)", lambda p: p.write_bytes(_jpeg(face)))
    add("bad_header_only.png", "PNG signature only", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n"))
    add("bad_random.bmp", "random bytes", lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096)))
    (folder / "sub").mkdir()
    add("sub/nested.png", "in a sub-folder", lambda p: face.resize((64, 64)).save(p))
    os.mkfifo(folder / "fifo.png")
    what["fifo.png"] = "a named pipe (not listed: not a regular file)"
    (folder / "notes.txt").write_text("not an image extension")
    return what


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _jpeg(im: Image.Image) -> bytes:
    import io

    buf = io.BytesIO()
    im.save(buf, format="JPEG")
    return buf.getvalue()


def test_hostile_corpus_in_one_folder_run(example_photo, tmp_path):
    corpus = tmp_path / "corpus"
    what = build_hostile_corpus(corpus, example_photo)
    before = {p: h for p, h in file_hashes(corpus).items() if "fifo" not in p.name}
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "faceblur_cli", "deblur", str(corpus), "-o", str(out), "--compare"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    err = proc.stderr
    assert "Traceback" not in err and "site-packages" not in err, err
    assert proc.returncode == 1, err  # some files are bad: exit 1 as documented, after the whole batch
    bad = [n for n in what if n.startswith("bad_") and "readable" not in what[n]]
    ok = [n for n in what if n.startswith("ok") or n.startswith("sub/") or "readable" in what[n]]
    assert f"failed {len(bad)}" in err and f"processed {len(ok)}" in err, err
    for name in bad:
        assert name in err, name
    assert {p: h for p, h in file_hashes(corpus).items() if "fifo" not in p.name} == before  # inputs untouched
    for name in ok:
        dst = out / name
        with Image.open(dst) as im:
            im.load()  # opens completely
        with Image.open(dst.with_name(dst.stem + "_compare.png")) as im:
            im.load()
    assert not list(out.rglob("*.part"))


# first-run friction ------------------------------------------------------------------------------
def test_threads_follow_the_idle_cores(monkeypatch):
    import torch

    from faceblur_cli import device

    monkeypatch.setattr(device.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(device.os, "getloadavg", lambda: (3.0, 0.0, 0.0))
    assert device.free_cores() == 1  # three busy cores of four: one thread, not four
    monkeypatch.setattr(device.os, "getloadavg", lambda: (0.2, 0.0, 0.0))
    assert device.free_cores() == 4
    monkeypatch.setattr(device.os, "getloadavg", lambda: (9.0, 0.0, 0.0))
    assert device.free_cores() == 1
    before = torch.get_num_threads()
    try:
        assert device.configure_threads(2) == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_weights_list_shows_results_and_publication_state(capsys, monkeypatch):
    from faceblur_cli import cli as cli_module
    from faceblur_cli.weights import load_registry

    monkeypatch.setattr(cli_module.out_console, "width", 250)
    assert cli("weights", "list") == 0
    out = capsys.readouterr().out
    assert "not yet published on the Hub" in out and "0000000" not in out
    assert "CelebA paper 13-27 px" in out  # held-out results from weights.toml
    sigma = load_registry()["faceblur-lite"].shrink_sigma
    shift = load_registry()["faceblur-lite"].shift_tta
    assert f"faceblur-lite (CPU default, flip TTA, shift TTA {shift} px, shrink sigma {sigma:g})" in out
    assert "faceblur-base (CUDA default, flip TTA)" in out


def test_write_failure_names_the_output_not_the_temp_file(tmp_path, monkeypatch):
    import tempfile

    from faceblur_cli.imageio import ImageError, write_atomic

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".o.abc.png.part"))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(ImageError) as err:
        write_atomic(b"x", tmp_path / "o.png")
    assert str(err.value).startswith(str(tmp_path / "o.png")) and ".part" not in str(err.value)


def test_help_names_one_input(capsys):
    assert cli("deblur", "--help") == 0
    out = capsys.readouterr().out
    assert "faceblur deblur [OPTIONS] INPUT..." in out and "{" not in out
