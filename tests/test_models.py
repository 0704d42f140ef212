import pytest
import torch

from faceblur_cli.losses import gradient_penalty
from faceblur_cli.models import Generator, PatchCritic, preset
from faceblur_cli.models.generator import PRESETS, GeneratorConfig, count_parameters


@pytest.mark.parametrize("hw", [(150, 150), (97, 131)])
def test_generator_keeps_shape_and_range(hw):
    torch.manual_seed(0)
    g = Generator(preset("lite")).eval()
    for p in g.tail.parameters():  # leave identity init so the output actually changes
        torch.nn.init.normal_(p, std=0.1)
    x = torch.rand(2, 3, *hw) * 2 - 1
    with torch.no_grad():
        y = g(x)
    assert y.shape == x.shape
    assert y.min() >= -1 and y.max() <= 1
    assert not torch.allclose(x, y)


def test_untrained_generator_is_identity():
    """Zero-initialised last conv: training starts from the blurry input, not noise."""
    g = Generator(preset("lite")).eval()
    x = torch.rand(1, 3, 40, 56) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(g(x), x, atol=1e-6)


@pytest.mark.parametrize("switch", ["use_enhancement", "use_drdbu", "use_rrrb", "use_resblock"])
def test_each_ablation_builds_and_changes_parameters(switch):
    base = preset("lite")
    ablated = Generator(preset("lite", **{switch: False}))
    assert count_parameters(ablated) != count_parameters(Generator(base))
    with torch.no_grad():
        assert ablated(torch.zeros(1, 3, 24, 24)).shape == (1, 3, 24, 24)


def test_presets_and_config_roundtrip():
    assert count_parameters(Generator(PRESETS["paper"])) > 10 * count_parameters(Generator(PRESETS["lite"]))
    cfg = preset("lite")
    assert GeneratorConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        GeneratorConfig.from_dict({"widht": 3})
    with pytest.raises(ValueError):
        preset("huge")


def test_critic_patch_map_and_sigmoid_head():
    c = PatchCritic(width=8)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    raw = c(x)
    assert raw.shape == (2, 1, 6, 6)  # 64 -> 63 (flat k4) -> 31 -> 15 -> 7 (stride 2) -> 6 (final k4)
    p = c.probability(x)
    assert torch.allclose(p, torch.sigmoid(raw))


def test_gradient_penalty_matches_hand_computation():
    """Linear 1x1 critic: score = mean_p(w . x_p), so grad = w/(HW) per pixel, ||grad|| = ||w|| / sqrt(HW)."""
    torch.manual_seed(0)
    critic = torch.nn.Conv2d(3, 1, 1, bias=False)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([3.0, 4.0, 12.0]).view(1, 3, 1, 1))  # ||w|| = 13
    real, fake = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    gp = gradient_penalty(critic, real, fake, eps=torch.full((2, 1, 1, 1), 0.3))
    expected = (13.0 / 4.0 - 1.0) ** 2  # sqrt(HW) = 4
    assert gp.item() == pytest.approx(expected, rel=1e-5)


def test_pixel_unshuffle_runs_at_lower_resolution_with_same_keys():
    """s x s unshuffle: multiple grows by s, cost drops; parameter names match s=1 so old weights load."""
    from faceblur_cli.models.generator import gflops

    full = Generator(preset("lite", pixel_unshuffle=1, width=8, levels=3, refine_width=0))
    folded = Generator(preset("lite", pixel_unshuffle=2, width=8, levels=3, refine_width=0))
    assert (full.multiple, folded.multiple) == (8, 16)
    assert full.state_dict().keys() == folded.state_dict().keys()
    assert folded.head[0].in_channels == 12 and folded.tail.out_channels == 12
    assert gflops(folded, 64) < 0.3 * gflops(full, 64)
    x = torch.rand(1, 3, 37, 50) * 2 - 1
    with torch.no_grad():
        assert folded(x).shape == x.shape


def test_refiner_grows_a_model_without_changing_its_output():
    """Zero-initialised refiner: a trained model plus a fresh refiner is the same function."""
    torch.manual_seed(0)
    base = Generator(preset("lite", width=8, refine_width=0)).eval()
    for p in base.tail.parameters():
        torch.nn.init.normal_(p, std=0.1)
    grown = Generator(preset("lite", width=8, refine_width=8)).eval()
    missing, unexpected = grown.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("refine.") for k in missing)
    x = torch.rand(1, 3, 37, 50) * 2 - 1
    with torch.no_grad():
        assert torch.equal(grown(x), base(x))
        torch.nn.init.normal_(grown.refine.out.weight, std=0.1)
        changed = grown(x)
    assert changed.shape == x.shape and not torch.allclose(changed, base(x))


def test_base_preset_is_the_handed_over_candidate(shared):
    """`--preset base` builds exactly the GPU candidate's network, so its release loads strictly."""
    from faceblur_cli.models.generator import Generator, preset
    from faceblur_cli.weights import load_generator

    cand = shared / "models" / "faceblur-base-candidate" / "faceblur-base-candidate.fp16.pth"
    model = load_generator(cand)
    assert model.config == preset("base")
    assert abs(sum(p.numel() for p in Generator(preset("base")).parameters()) / 1e6 - 13.34) < 0.01
