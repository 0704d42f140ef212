"""The GAN objective: term scales as documented, balanced shares, a bounded critic."""

import numpy as np
import pytest
import torch
from conftest import REPO
from torch import nn

from faceblur_cli.blur import degrade
from faceblur_cli.data import to_tensor
from faceblur_cli.imageio import read_rgb
from faceblur_cli.kernels import motion_kernel
from faceblur_cli.losses import LossWeights, VGGPerceptual, critic_loss
from faceblur_cli.models.critic import PatchCritic
from faceblur_cli.objective import Objective
from faceblur_cli.weights import resolve


@pytest.fixture(scope="module")
def pair():
    """The bundled public-domain face, 128 x 128, blurred by a 17 px trajectory (the paper's middle size)."""
    sharp = read_rgb(REPO / "faceblur_cli" / "assets" / "examples" / "astronaut_sharp.png")
    h, w = sharp.shape[:2]
    face = np.ascontiguousarray(sharp[h // 2 - 64 : h // 2 + 64, w // 2 - 64 : w // 2 + 64])
    blurry = degrade(face, motion_kernel(17, np.random.default_rng(0)))
    return to_tensor(blurry)[None], to_tensor(face)[None]


@pytest.fixture(scope="module")
def vgg():
    return VGGPerceptual(resolve("vgg19-conv3_1")[0])


def test_term_scales_are_the_documented_ones(pair, vgg):
    """objective.py's docstring: MSE ~0.01-0.03, VGG relu3_1 MSE a few units, and the perceptual
    gradient at the output hundreds of times the content one (why the paper's 1/10/1 breaks here)."""
    blurry, sharp = pair
    obj = Objective(LossWeights(1.0, 10.0, 0.0), "paper")
    leaf = blurry.clone().requires_grad_(True)
    terms = obj.terms(leaf, sharp, vgg)
    content, perceptual = terms["content"][0], terms["perceptual"][0]
    assert 0.005 < content.item() < 0.05
    assert 1.0 < perceptual.item() < 10.0
    g_c = torch.autograd.grad(content, leaf, retain_graph=True)[0].norm()
    g_p = torch.autograd.grad(perceptual, leaf)[0].norm()
    assert g_p / g_c > 100


def test_balanced_shares_follow_the_weights(pair, vgg):
    """At the first step (no history) each term's push on the output is weight x the content push."""
    blurry, sharp = pair
    torch.manual_seed(0)
    critic = PatchCritic(8)
    gen = nn.Conv2d(3, 3, 3, padding=1)
    obj = Objective(LossWeights(1.0, 0.3, 0.1), "balanced")
    logs = obj.backward(gen(blurry), sharp, vgg, critic)
    assert logs["share_content"] == pytest.approx(1 / 1.4, rel=1e-4)
    assert logs["share_perceptual"] == pytest.approx(0.3 / 1.4, rel=1e-4)
    assert logs["share_adversarial"] == pytest.approx(0.1 / 1.4, rel=1e-4)
    assert gen.weight.grad is not None and torch.isfinite(gen.weight.grad).all()
    # the paper's raw sum, by contrast, lets the perceptual term dominate
    gen.zero_grad()
    paper = Objective(LossWeights(1.0, 10.0, 1.0), "paper").backward(gen(blurry), sharp, vgg, critic)
    assert paper["share_perceptual"] > 0.9 and paper["share_content"] < 0.01


def test_balanced_gradient_equals_the_weighted_sum_of_normalised_gradients(pair, vgg):
    blurry, sharp = pair
    obj = Objective(LossWeights(1.0, 0.5, 0.0, content_kind="l1"), "balanced")
    fake = blurry.clone().requires_grad_(True)
    obj.backward(fake, sharp, vgg)
    leaf = blurry.clone().requires_grad_(True)
    terms = obj.terms(leaf, sharp, vgg)
    g_c = torch.autograd.grad(terms["content"][0], leaf)[0]
    g_p = torch.autograd.grad(terms["perceptual"][0], leaf)[0]
    expected = g_c + 0.5 * g_c.norm() / g_p.norm() * g_p
    torch.testing.assert_close(fake.grad, expected, rtol=1e-4, atol=1e-9)


def test_objective_state_round_trips():
    obj = Objective(LossWeights(), "balanced")
    obj.coefficients({"content": 1.0, "perceptual": 0.3}, {"content": 2.0, "perceptual": 50.0})
    again = Objective(LossWeights(), "balanced")
    again.load_state_dict(obj.state_dict())
    a = obj.coefficients({"content": 1.0, "perceptual": 0.3}, {"content": 1.0, "perceptual": 10.0})
    b = again.coefficients({"content": 1.0, "perceptual": 0.3}, {"content": 1.0, "perceptual": 10.0})
    assert a == b
    with pytest.raises(ValueError, match="objective"):
        Objective(LossWeights(), "wgan")


def _toy_critic_scores(drift: float, steps: int = 300) -> list[float]:
    """Real and fake clouds 1 unit apart whose common position moves 30 units during training.
    The Wasserstein terms see only score differences, so plain WGAN-GP lets the scores follow the
    data away; the drift penalty holds them near 0 while the critic still separates the clouds."""
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Conv2d(2, 16, 1), nn.LeakyReLU(0.2), nn.Conv2d(16, 1, 1))
    opt = torch.optim.Adam(critic.parameters(), 1e-2, betas=(0.5, 0.999))
    g = torch.Generator().manual_seed(0)
    out = []
    for i in range(steps):
        centre = 30.0 * i / steps
        real = torch.randn(32, 2, 1, 1, generator=g) * 0.3 + centre
        fake = torch.randn(32, 2, 1, 1, generator=g) * 0.3 + centre - 1.0
        loss, logs = critic_loss(critic, real, fake, 10.0, drift)
        opt.zero_grad()
        loss.backward()
        opt.step()
        out.append((logs["d_real"], logs["wasserstein"]))
    return out


def test_drift_penalty_bounds_the_critic_where_plain_wgan_gp_drifts():
    plain = _toy_critic_scores(0.0)
    anchored = _toy_critic_scores(1e-2)
    assert max(abs(r) for r, _ in plain[-50:]) > 30  # drifted with the data
    assert max(abs(r) for r, _ in anchored[-50:]) < 10  # held near 0
    assert min(w for _, w in anchored[-50:]) > 0.3  # and still tells real from fake


def test_teacher_term_pulls_the_output_towards_the_teachers(pair):
    """Distillation (--teacher): the teacher's output is a second target; alone, it is what the
    generator learns, and without a teacher output the term is absent."""
    blurry, sharp = pair
    taught = -blurry  # a target far from the sharp face, and one a conv can reach
    torch.manual_seed(0)
    gen = nn.Conv2d(3, 3, 3, padding=1)
    opt = torch.optim.Adam(gen.parameters(), 1e-2)
    obj = Objective(LossWeights(0.0, 0.0, 0.0, content_kind="mse", teacher=1.0), "paper")
    assert "teacher" not in obj.terms(gen(blurry), sharp)

    def errors():
        with torch.no_grad():
            out = gen(blurry)
            return ((out - taught) ** 2).mean().item(), ((out - sharp) ** 2).mean().item()

    to_teacher, to_sharp = errors()
    for _ in range(60):
        opt.zero_grad()
        logs = obj.backward(gen(blurry), sharp, taught=taught)
        opt.step()
    assert "teacher" in logs and logs["share_teacher"] == pytest.approx(1.0)
    after_teacher, after_sharp = errors()
    assert after_teacher < 0.1 * to_teacher
    assert after_teacher < after_sharp
