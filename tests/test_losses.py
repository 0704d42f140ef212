import pytest
import torch

from faceblur_cli.losses import LossWeights, VGGPerceptual
from faceblur_cli.objective import Objective
from faceblur_cli.weights import resolve


@pytest.fixture(scope="module")
def vgg():
    path, _ = resolve("vgg19-conv3_1")
    return VGGPerceptual(path, "relu3_1")


def test_perceptual_zero_for_identical_positive_otherwise(vgg):
    torch.manual_seed(0)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert vgg(x, x).item() == 0.0
    assert vgg(x, x.flip(-1)).item() > 0.0


def test_vgg_weights_load_strict_and_safe():
    path, spec = resolve("vgg19-conv3_1")
    sd = torch.load(path, map_location="cpu", weights_only=True)
    assert set(sd) == {f"{i}.{p}" for i in (0, 2, 5, 7, 10) for p in ("weight", "bias")}
    with pytest.raises(ValueError, match="relu3_3"):
        VGGPerceptual(path, "relu3_3")  # the offline file stops at conv3_1


def test_weighted_total(vgg):
    fake, sharp = torch.zeros(1, 3, 16, 16), torch.full((1, 3, 16, 16), 0.5)
    terms = Objective(LossWeights(1.0, 10.0, 0.0), "paper").terms(fake, sharp, vgg)
    assert set(terms) == {"content", "perceptual"} and terms["perceptual"][1] == 10.0
    assert terms["content"][0].item() == pytest.approx(0.25)


@pytest.mark.parametrize(
    "kind,expected", [("mse", 0.25), ("l1", 0.5), ("charbonnier", 0.5), ("l1+mse", 0.5 + 0.25 / 0.1)]
)
def test_content_loss_kinds(kind, expected):
    fake, sharp = torch.zeros(1, 3, 8, 8), torch.full((1, 3, 8, 8), 0.5)
    terms = Objective(LossWeights(1.0, 0.0, 0.0, content_kind=kind)).terms(fake, sharp)
    assert terms["content"][0].item() == pytest.approx(expected, rel=1e-4)
    with pytest.raises(ValueError, match="content loss"):
        Objective(LossWeights(content_kind="l3")).terms(fake, sharp)
