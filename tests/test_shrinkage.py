import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from faceblur_cli.cli import app
from faceblur_cli.shrinkage import LEVEL, correction_rms, shrink

runner = CliRunner()


def test_wiener_factor_halves_a_correction_at_the_floor_and_keeps_a_large_one():
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.5, 0.5, (3, 3, 16, 16)).astype(np.float32)
    step = np.sign(rng.standard_normal((3, 3, 16, 16))).astype(np.float32) * LEVEL  # RMS exactly 1 level
    y = x + step * np.array([2.0, 40.0, 0.0], np.float32)[:, None, None, None]
    assert correction_rms(x, y) == pytest.approx([2.0, 40.0, 0.0], abs=1e-4)
    out = shrink(x, y, sigma=2.0)
    assert correction_rms(x, out) == pytest.approx([1.0, 40.0 * 1600 / 1604, 0.0], rel=1e-4)  # a = 1/2, ~1, -
    assert np.allclose(out[1], x[1] + (y[1] - x[1]) * 1600 / 1604, atol=1e-6)
    assert shrink(x, y, sigma=0.0) is y  # off: the network's output as it is


def test_default_follows_the_registry_and_a_bare_file_is_unshrunk():
    from faceblur_cli import Deblurrer
    from faceblur_cli.weights import load_registry

    spec = load_registry()["faceblur-lite"]
    assert spec.shrink_sigma > 0
    assert Deblurrer("default", device="cpu").shrink_sigma == spec.shrink_sigma
    assert Deblurrer("default", device="cpu", shrink=False).shrink_sigma == 0.0
    assert Deblurrer(str(spec.bundled_path), device="cpu").shrink_sigma == 0.0
    with pytest.raises(ValueError, match="shrink_sigma"):
        Deblurrer(str(spec.bundled_path), device="cpu", shrink=True)


def test_shrunk_output_of_a_sharp_face_stays_closer_to_it(example_photo):
    """The sharp public-domain astronaut (the bundled example before it was blurred), as an aligned-size crop."""
    from faceblur_cli import Deblurrer
    from faceblur_cli.deblurrer import _from_net, _to_net
    from faceblur_cli.ensemble import ensemble
    from faceblur_cli.metrics import psnr

    crop = np.asarray(Image.open(example_photo.parent / "astronaut_sharp.png").convert("RGB"))[40:296, 120:376]
    on, off = Deblurrer("default", device="cpu"), Deblurrer("default", device="cpu", shrink=False)
    raw, shrunk = off.run_network([crop])[0], on.run_network([crop])[0]
    x = _to_net([crop])
    net = ensemble(off.backend, x, off.flip_tta, off.shift_tta)  # shrinkage acts on the default's ensemble
    expected = _from_net(shrink(x, net, on.shrink_sigma))[0]
    assert np.abs(shrunk.astype(int) - expected).max() <= 1
    assert psnr(crop, shrunk) > psnr(crop, raw) + 0.5, (psnr(crop, shrunk), psnr(crop, raw))


def test_cli_switch_and_weights_list(example_photo, tmp_path):
    r = runner.invoke(app, ["deblur", str(example_photo), "-o", str(tmp_path / "a.png"), "--no-shrink"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["deblur", str(example_photo), "-o", str(tmp_path / "b.png")])
    assert r.exit_code == 0, r.output
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), np.asarray(Image.open(tmp_path / "b.png")))
    r = runner.invoke(app, ["weights", "list"])
    assert r.exit_code == 0 and "shrink sigma" in r.output
