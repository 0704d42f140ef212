import shutil

import numpy as np
import pytest
from helpers import file_hashes
from PIL import Image
from typer.testing import CliRunner

from faceblur_cli.alignment import feather_mask, paste_back
from faceblur_cli.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def photo(example_photo):
    return np.asarray(Image.open(example_photo).convert("RGB"))


def test_face_photo_one_detection_same_size(deblurrer, photo):
    res = deblurrer.restore(photo)
    assert res.mode == "faces" and len(res.faces) == 1
    assert res.image.shape == photo.shape and res.image.dtype == np.uint8
    assert res.restored[0].shape == (256, 256, 3)
    assert not np.array_equal(res.image, photo)
    assert set(res.timings) == {"detect", "align", "network", "paste"}


def test_paste_back_leaves_far_pixels_bit_identical(deblurrer, photo):
    res = deblurrer.restore(photo)
    import cv2

    from faceblur_cli.alignment import alignment_matrix

    m = alignment_matrix(res.faces[0].landmarks)
    support = cv2.warpAffine(feather_mask(), cv2.invertAffineTransform(m), photo.shape[1::-1]) > 0
    assert support.any() and (~support).any()
    assert np.abs(res.image[~support].astype(int) - photo[~support]).max() == 0
    # and paste_back alone: a restored crop of constant colour only touches the support
    out = paste_back(photo, np.zeros((256, 256, 3), np.uint8), m)
    assert np.array_equal(out[~support], photo[~support])


def test_api_keeps_kind_mode_and_alpha(deblurrer, photo):
    rgba = np.concatenate([photo, np.full(photo.shape[:2] + (1,), 77, np.uint8)], 2)
    out = deblurrer.deblur(Image.fromarray(rgba, "RGBA"))
    assert isinstance(out, Image.Image) and out.mode == "RGBA"
    assert np.all(np.asarray(out)[:, :, 3] == 77)
    gray = deblurrer.deblur(Image.fromarray(photo).convert("L"), mode="whole")
    assert gray.mode == "L" and gray.size == (photo.shape[1], photo.shape[0])
    arr = deblurrer.deblur(photo[:100, :120], mode="aligned")
    assert isinstance(arr, np.ndarray) and arr.shape == (100, 120, 3)


def test_whole_mode_tiles_without_seams(deblurrer, photo):
    tiled = deblurrer.whole(photo)  # 512 <= tile: one pass
    deblurrer.tile = 160
    try:
        tiles = deblurrer.whole(photo)
    finally:
        deblurrer.tile = 512
    assert tiles.shape == photo.shape
    # tiles see less context than one pass, but blending keeps them close everywhere
    assert np.abs(tiles.astype(int) - tiled).mean() < 3.0


def test_cli_single_file_compare_and_faces(example_photo, tmp_path):
    out = tmp_path / "out.png"
    r = runner.invoke(app, ["deblur", str(example_photo), "-o", str(out), "--compare", "--save-faces"])
    assert r.exit_code == 0, r.output
    assert Image.open(out).size == Image.open(example_photo).size
    assert (tmp_path / "out_compare.png").exists() and (tmp_path / "out_face00.png").exists()
    # never overwrite an existing output without --overwrite
    before = out.read_bytes()
    r = runner.invoke(app, ["deblur", str(example_photo), "-o", str(out)])
    assert out.read_bytes() == before and "exists" in r.output


def test_exif_rotated_comes_out_upright(photo, tmp_path):
    upright = photo[:, :400]  # non-square so a wrong rotation shows in the size
    stored = np.ascontiguousarray(np.rot90(upright, 1))  # what the camera stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    src = tmp_path / "rotated.jpg"
    Image.fromarray(stored).save(src, exif=exif.tobytes(), quality=95)
    out = tmp_path / "o.jpg"
    r = runner.invoke(app, ["deblur", str(src), "-o", str(out)])
    assert r.exit_code == 0, r.output
    res = Image.open(out)
    assert res.size == (upright.shape[1], upright.shape[0])
    assert res.getexif().get(0x0112) in (None, 1)
    assert "faces 1" in r.output


def test_bad_input_corpus(example_photo, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(example_photo, src / "good.jpg")
    (src / "zero.jpg").write_bytes(b"")
    (src / "fake.jpg").write_bytes(b"<html>not a jpeg</html>")
    (src / "truncated.jpg").write_bytes(example_photo.read_bytes()[:2000])
    Image.new("RGB", (1, 1)).save(src / "tiny.png")
    before = file_hashes(src)

    r = runner.invoke(app, ["deblur", str(src), "-o", str(tmp_path / "out")])
    assert r.exit_code == 1
    assert "processed 2" in r.output and "failed 3" in r.output  # a 1x1 image is padded and processed
    for name in ("zero.jpg", "fake.jpg", "truncated.jpg"):
        assert name in r.output
    assert Image.open(tmp_path / "out" / "tiny.png").size == (1, 1)
    assert "Traceback" not in r.output
    assert (tmp_path / "out" / "good.jpg").exists()
    assert file_hashes(src) == before  # inputs untouched

    r = runner.invoke(app, ["deblur", str(tmp_path / "missing.jpg"), "-o", str(tmp_path / "x.png")])
    assert r.exit_code == 1 and "no such file" in r.output
    empty = tmp_path / "empty"
    empty.mkdir()
    r = runner.invoke(app, ["deblur", str(empty), "-o", str(tmp_path / "y")])
    assert r.exit_code == 1 and "no images or videos found" in r.output
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    r = runner.invoke(app, ["deblur", str(src / "good.jpg"), "-o", str(blocker / "sub" / "o.png")])
    assert r.exit_code == 2 and "is a file" in r.output and "Traceback" not in r.output  # refused before any work
    r = runner.invoke(app, ["deblur", str(src / "good.jpg"), "-o", str(src / "good.jpg"), "--overwrite"])
    assert r.exit_code == 2 and "input" in r.output
    assert file_hashes(src) == before


def test_no_face_policy(tmp_path):
    flat = tmp_path / "sky.png"
    Image.fromarray(np.tile(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], (48, 1, 3))).save(flat)
    r = runner.invoke(app, ["deblur", str(flat), "-o", str(tmp_path / "a.png")])
    assert r.exit_code == 0 and "no face found" in r.output
    r = runner.invoke(app, ["deblur", str(flat), "-o", str(tmp_path / "b.png"), "--no-face", "skip"])
    assert r.exit_code == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "b.png")), np.asarray(Image.open(flat)))
    r = runner.invoke(app, ["deblur", str(flat), "-o", str(tmp_path / "c.png"), "--no-face", "error"])
    assert r.exit_code == 1 and "no face found" in r.output


def test_batch_keeps_tree_suffix_ext(example_photo, tmp_path):
    src = tmp_path / "album" / "trip"
    src.mkdir(parents=True)
    img = Image.open(example_photo).resize((200, 200))
    img.save(src / "a.jpg")
    img.convert("L").save(tmp_path / "album" / "b.png")
    out = tmp_path / "sharp"
    r = runner.invoke(app, ["deblur", str(tmp_path / "album"), "-o", str(out), "--suffix", "_s", "--ext", "png"])
    assert r.exit_code == 0, r.output
    assert (out / "trip" / "a_s.png").exists()
    assert Image.open(out / "b_s.png").mode == "L"
    r = runner.invoke(
        app, ["deblur", str(tmp_path / "album"), "-o", str(out), "--suffix", "_s", "--ext", "png", "--skip-existing"]
    )
    assert r.exit_code == 0 and "skipped 2" in r.output


def test_decompression_bomb_limit(example_photo, tmp_path):
    r = runner.invoke(app, ["deblur", str(example_photo), "-o", str(tmp_path / "o.png"), "--max-pixels", "1000"])
    assert r.exit_code == 1 and "too large" in r.output


def test_sixteen_bit_png_converted_with_warning(tmp_path):
    arr = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16
    src = tmp_path / "deep.png"
    Image.fromarray(arr).save(src)
    r = runner.invoke(app, ["deblur", str(src), "-o", str(tmp_path / "o.png"), "--whole"])
    assert r.exit_code == 0 and "16-bit" in r.output
    assert Image.open(tmp_path / "o.png").mode == "L"


def test_flip_tta_averages_the_mirrored_pass(deblurrer, example_photo):
    from faceblur_cli import Deblurrer
    from faceblur_cli.deblurrer import _from_net, _to_net

    crop = np.asarray(Image.open(example_photo).convert("RGB"))[100:164, 180:260]
    x = _to_net([crop])
    plain = deblurrer.backend(x)
    mirrored = deblurrer.backend(np.ascontiguousarray(x[..., ::-1]))[..., ::-1]
    expected = _from_net((plain + mirrored) / 2)[0]
    tta = Deblurrer("default", device="cpu", flip_tta=True, shift_tta=0, shrink=False)  # the raw mirrored pair
    got = tta.run_network([crop])[0]
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    single = Deblurrer("default", device="cpu", flip_tta=False, shift_tta=0, shrink=False).run_network([crop])[0]
    assert not np.array_equal(got, single)


def test_shift_tta_runs_the_ensemble_module_and_is_checked(deblurrer, example_photo, tmp_path):
    from faceblur_cli import Deblurrer
    from faceblur_cli.deblurrer import _from_net, _to_net
    from faceblur_cli.ensemble import ensemble

    crop = np.asarray(Image.open(example_photo).convert("RGB"))[100:164, 180:260]
    shifted = Deblurrer("default", device="cpu", shift_tta=4, shrink=False)
    assert shifted.shift_tta == 4 and shifted.config["shift_tta"] == 4  # the Ray workers rebuild it so
    expected = _from_net(ensemble(deblurrer.backend, _to_net([crop]), shifted.flip_tta, 4))[0]
    got = shifted.run_network([crop])[0]
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    plain = Deblurrer("default", device="cpu", shift_tta=0, shrink=False).run_network([crop])[0]
    assert not np.array_equal(got, plain)
    assert Deblurrer("default", device="cpu").shift_tta == 4  # everyday6 to 9 were released with it
    assert Deblurrer("lite@everyday2", device="cpu").shift_tta == 0  # older tags: without
    with pytest.raises(ValueError, match="shift_tta"):
        Deblurrer("default", device="cpu", shift_tta=-2)
    r = runner.invoke(app, ["deblur", str(example_photo), "-o", str(tmp_path / "o.png"), "--shift-tta", "17"])
    assert r.exit_code == 2


def test_strength_zero_returns_the_input_and_blends_linearly(deblurrer, photo):
    rgb = photo
    zero = deblurrer.restore(rgb, "faces", strength=0.0)
    assert zero.faces and np.array_equal(zero.image, rgb)  # inside and outside the face
    full = deblurrer.restore(rgb, "faces").image
    half = deblurrer.restore(rgb, "faces", strength=0.5).image
    expected = rgb.astype(np.float32) + 0.5 * (full.astype(np.float32) - rgb)
    assert np.abs(half - np.rint(expected)).max() <= 1
    assert not np.array_equal(full, rgb)


def test_strength_option_on_the_cli(example_photo, tmp_path):
    r = runner.invoke(app, ["deblur", str(example_photo), "-o", str(tmp_path / "s0.png"), "--strength", "0"])
    assert r.exit_code == 0, r.output
    assert np.array_equal(
        np.asarray(Image.open(tmp_path / "s0.png")), np.asarray(Image.open(example_photo).convert("RGB"))
    )
    r = runner.invoke(app, ["deblur", str(example_photo), "-o", str(tmp_path / "s2.png"), "--strength", "1.5"])
    assert r.exit_code == 2


def test_identity_network_leaves_the_photo_unchanged_in_faces_mode(photo, monkeypatch):
    """Paste-back adds the network's correction only: the warp round trip itself must cost nothing
    (pasting the crop cost 0.5 dB on real video frames whose faces are larger than the template)."""
    from faceblur_cli import Deblurrer

    d = Deblurrer("default", device="cpu")
    monkeypatch.setattr(d, "backend", lambda batch: batch)  # a network that changes nothing
    result = d.restore(photo, "faces")
    assert result.faces and np.array_equal(result.image, photo)


def test_flip_tta_default_is_the_models_registry_setting():
    """faceblur-base and faceblur-lite (since @everyday3) are measured and shipped with the mirrored pass
    on; older tags and bare files are single-pass."""
    from faceblur_cli import Deblurrer
    from faceblur_cli.weights import load_registry

    registry = load_registry()
    assert registry["faceblur-base"].flip_tta and registry["faceblur-lite@everyday3"].flip_tta
    assert not registry["faceblur-lite@everyday2"].flip_tta
    assert Deblurrer("base", device="cpu").flip_tta
    assert not Deblurrer("base", device="cpu", flip_tta=False).flip_tta  # --no-flip-tta wins
    assert Deblurrer("default", device="cpu").flip_tta  # the alias runs its target's setting
    assert not Deblurrer("lite@everyday2", device="cpu").flip_tta
    assert Deblurrer("lite@everyday2", device="cpu", flip_tta=True).flip_tta
    assert not Deblurrer(str(registry["faceblur-base"].bundled_path), device="cpu").flip_tta  # a path: as asked
