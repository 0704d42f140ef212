"""Our RetinaFace definition against facexlib's original: same weights, same detections."""

import numpy as np
import pytest
import torch
from PIL import Image

from faceblur_cli.faces import FaceDetector
from faceblur_cli.models.retinaface import priors


@pytest.fixture(scope="module")
def facexlib_net():
    from faceblur_cli.compat import ensure_torchvision

    ensure_torchvision()
    retinaface = pytest.importorskip("facexlib.detection.retinaface")
    from faceblur_cli.weights import load_checkpoint, resolve

    net = retinaface.RetinaFace(network_name="mobile0.25", half=False, device=torch.device("cpu"))
    net.load_state_dict({k.removeprefix("module."): v for k, v in load_checkpoint(resolve("retinaface")[0]).items()})
    return net.eval()


def _images(example_photo, shared):
    yield np.asarray(Image.open(example_photo).convert("RGB"))
    yield np.asarray(
        Image.open(shared / "data" / "real_blur" / "paired" / "vd001" / "blurry" / "00001.png").convert("RGB")
    )
    helen = sorted((shared / "data" / "helen" / "train").glob("*.jpg"))[3]
    yield np.asarray(Image.open(helen).convert("RGB"))[:, 10:]  # odd width: the prior grid must round up


def test_detections_equal_facexlib(facexlib_net, example_photo, shared):
    ours = FaceDetector("cpu")
    for img in _images(example_photo, shared):
        mine = ours.detect(img)
        with torch.no_grad():
            ref = facexlib_net.detect_faces(np.ascontiguousarray(img[:, :, ::-1]).astype(np.float32), 0.8, 0.4, True)
        assert len(mine) == len(ref) >= 1
        for face, r in zip(mine, ref):
            assert np.abs(face.box - r[:4]).max() < 1e-3
            assert abs(face.score - r[4]) < 1e-5
            assert np.abs(face.landmarks.ravel() - r[5:15]).max() < 1e-3


def test_prior_order_and_count():
    p = priors(64, 96)
    # 2 anchors per cell on 3 levels (strides 8, 16, 32)
    assert len(p) == 2 * (8 * 12 + 4 * 6 + 2 * 3)
    assert torch.allclose(p[0], torch.tensor([4 / 96, 4 / 64, 16 / 96, 16 / 64]))
    assert torch.allclose(p[1, 2:], torch.tensor([32 / 96, 32 / 64]))


def test_wrong_weights_are_refused(tmp_path):
    from faceblur_cli.weights import WeightsError

    torch.save({"x": torch.zeros(1)}, tmp_path / "w.pth")
    with pytest.raises(WeightsError, match="not RetinaFace"):
        FaceDetector("cpu", weights=str(tmp_path / "w.pth"))
