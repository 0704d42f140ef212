import numpy as np
import onnx
import pytest
from PIL import Image
from typer.testing import CliRunner

from faceblur_cli.cli import app
from faceblur_cli.deblurrer import TorchBackend, _to_net
from faceblur_cli.onnx_backend import OnnxBackend, export_onnx
from faceblur_cli.weights import load_generator


@pytest.fixture(scope="module", params=["faceblur-lite", "faceblur-base"])
def exported(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / f"{request.param}.onnx"
    export_onnx(load_generator(request.param), path)
    return request.param, path


@pytest.mark.parametrize("size", [(256, 256), (150, 198)])
def test_parity_on_real_faces(exported, face_dir, size):
    import torch

    name, path = exported
    onnx.checker.check_model(onnx.load(str(path)))
    faces = [np.asarray(Image.open(p).convert("RGB").resize(size[::-1])) for p in sorted(face_dir.glob("*.jpg"))[:2]]
    batch = _to_net(faces)
    ref = TorchBackend(load_generator(name), torch.device("cpu"))(batch)
    got = OnnxBackend(path)(batch)
    assert got.shape == ref.shape == batch.shape
    assert np.abs((got - ref) / 2).max() <= 1e-3  # in [0, 1] image units


def test_backend_onnx_cli(example_photo, tmp_path, monkeypatch):
    monkeypatch.setenv("FACEBLUR_CACHE", str(tmp_path / "cache"))
    r = CliRunner().invoke(app, ["deblur", str(example_photo), "-o", str(tmp_path / "o.png"), "--backend", "onnx"])
    assert r.exit_code == 0, r.output
    assert "onnx" in r.output and list((tmp_path / "cache" / "onnx").glob("*.onnx"))
