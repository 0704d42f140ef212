"""The degradation model: deterministic per (seed, index), every component switchable, paper mix unchanged."""

from collections import Counter

import numpy as np
import pytest
import torch

from faceblur_cli.blur import degrade
from faceblur_cli.data import OnTheFlyBlur, gather_face_files, to_tensor
from faceblur_cli.degradations import (
    COMPONENTS,
    Degrader,
    RollPath,
    disk_kernel,
    gaussian_kernel,
    get_mix,
    linear_kernel,
    linear_to_srgb,
    srgb_to_linear,
)
from faceblur_cli.kernels import KernelBank


@pytest.fixture(scope="module")
def files(face_dir):
    return gather_face_files([face_dir])


@pytest.fixture(scope="module")
def paper_bank():
    return KernelBank.generate(40, seed=0)


def _old_paper_sample(files, bank, crop, seed, index):
    """The on-the-fly sample exactly as the project drew it before the degradation module (reference copy)."""
    from faceblur_cli.imageio import read_rgb

    rng = np.random.default_rng([seed, index])
    img = read_rgb(files[int(rng.integers(len(files)))])
    kernel = bank.kernels[int(rng.integers(len(bank)))]
    noise = float(rng.uniform(0, 2.0))
    quality = int(rng.integers(70, 96)) if rng.random() < 0.3 else None
    h, w = img.shape[:2]
    c = min(crop, h, w)
    y, x = int(rng.integers(h - c + 1)), int(rng.integers(w - c + 1))
    p = kernel.shape[0] // 2
    y0, x0 = max(y - p, 0), max(x - p, 0)
    region = img[y0 : min(y + c + p, h), x0 : min(x + c + p, w)]
    blurry = degrade(region, kernel, rng, noise_sigma=noise, jpeg_quality=quality)[
        y - y0 : y - y0 + c, x - x0 : x - x0 + c
    ]
    sharp = img[y : y + c, x : x + c]
    if rng.random() < 0.5:
        blurry, sharp = blurry[:, ::-1], sharp[:, ::-1]
    return to_tensor(blurry), to_tensor(sharp)


def test_paper_mix_reproduces_the_old_samples_bit_for_bit(files, paper_bank):
    ds = OnTheFlyBlur(files, Degrader(get_mix("paper", paper_kernels=40), paper_bank), crop=64, seed=3)
    for index in range(24):
        old_b, old_s = _old_paper_sample(files, paper_bank, 64, 3, index)
        new_b, new_s = ds[index]
        assert torch.equal(old_b, new_b) and torch.equal(old_s, new_s), index


@pytest.mark.parametrize("name", ["paper", "real", "everyday"])
def test_samples_are_a_function_of_seed_and_index(files, name):
    mix = get_mix(name, paper_kernels=40, mild_kernels=20)
    a = OnTheFlyBlur(files, Degrader(mix), crop=48, seed=1)
    b = OnTheFlyBlur(files, Degrader(mix), crop=48, seed=1)  # a fresh process would build this
    for i in (0, 7, 1234):
        assert all(torch.equal(x, y) for x, y in zip(a[i], b[i]))
    assert not torch.equal(a[0][0], a[1][0])
    assert not torch.equal(a[5][0], OnTheFlyBlur(files, Degrader(mix), crop=48, seed=2)[5][0])


@pytest.mark.parametrize("name", ["real", "everyday"])
def test_mix_draws_every_component_at_its_share(name):
    d = Degrader(get_mix(name, paper_kernels=40, mild_kernels=20))
    counts = Counter(d.draw(np.random.default_rng([0, i])).component for i in range(3000))
    for comp, share in d.mix.active:
        assert abs(counts[comp] / 3000 - share) < 0.03, (comp, counts)
    assert set(counts) == {c for c, _ in d.mix.active}


@pytest.mark.parametrize("off", COMPONENTS)
def test_every_component_can_be_switched_off(off):
    d = Degrader(
        get_mix("everyday", f"defocus=0.05,gaussian=0.05,roll=0.05,{off}=0", paper_kernels=40, mild_kernels=20)
    )
    drawn = {d.draw(np.random.default_rng([0, i])).component for i in range(600)}
    assert off not in drawn and len(drawn) == len(COMPONENTS) - 1


def test_everyday_kernels_have_their_extent():
    from faceblur_cli.degradations import EVERYDAY_KINDS, everyday_degrade, everyday_kernel

    rng = np.random.default_rng(0)
    for kind in EVERYDAY_KINDS:
        for size in (5, 17):
            k = everyday_kernel(kind, size, rng)
            assert abs(k.sum() - 1) < 1e-5 and k.min() >= 0
            ys, xs = np.nonzero(k > k.max() * 0.05)
            extent = max(np.ptp(ys), np.ptp(xs)) + 1
            assert size * 0.5 <= extent <= size + 2, (kind, size, extent)
    face = np.full((64, 64, 3), 128, np.uint8)
    face[20:44, 20:44] = 200
    a, _ = everyday_degrade(face, "streak", 9, np.random.default_rng(1))
    b, _ = everyday_degrade(face, "streak", 9, np.random.default_rng(1))
    assert np.array_equal(a, b) and not np.array_equal(a, face)


def test_roll_blur_varies_across_the_image():
    """A pure roll leaves its centre sharp and smears a point far from it along an arc of roll x radius."""
    img = np.zeros((161, 241, 1), np.float32)
    img[80, 120] = img[80, 220] = 1000.0  # the centre, and a point 100 px to its right
    out = RollPath(10, (0.0, 0.0), 0.08, 0.0, (0.0, 0.0), 0.0).blur(img)[..., 0]
    spread = lambda y, x: np.ptp(np.nonzero(out[y - 10 : y + 11, x - 10 : x + 11] > 1)[0]) + 1  # noqa: E731
    assert spread(80, 120) <= 2 and 7 <= spread(80, 220) <= 10
    assert abs(out.sum() / img.sum() - 1) < 0.005  # light is moved, not made or lost
    flat = np.full((64, 64, 3), 90, np.float32)
    assert np.allclose(RollPath.draw(np.random.default_rng(0)).blur(flat), 90, atol=1e-3)


def test_roll_component_draws_a_margin_and_is_deterministic(files):
    mix = get_mix("everyday", "roll=1,sharp=0,paper=0,mild=0,shake=0,streak=0,disk=0,soft=0,linear=0")
    d = Degrader(mix)
    r = d.draw(np.random.default_rng([0, 1]))
    assert r.component == "roll" and r.roll is not None and 3 <= r.roll.extent <= 13 and r.margin > r.roll.extent
    a, b = OnTheFlyBlur(files, d, crop=48, seed=4), OnTheFlyBlur(files, Degrader(mix), crop=48, seed=4)
    assert torch.equal(a[3][0], b[3][0]) and not torch.equal(a[3][0], a[3][1])


def test_post_processing_switches_off():
    mix = get_mix("real", "jpeg_prob=0,linear_light_prob=0,resize_prob=0,shot_prob=0,noise_max=0", mild_kernels=20)
    d = Degrader(mix)
    for i in range(200):
        r = d.draw(np.random.default_rng([0, i]))
        assert r.jpeg_quality is None and not r.linear_light and r.resize == 1.0 and r.shot_gain == 0 and r.noise == 0


def test_sharp_component_leaves_the_face_untouched(files):
    ds = OnTheFlyBlur(files, Degrader(get_mix("real", "paper=0,mild=0,linear=0,defocus=0,gaussian=0")), crop=64)
    for i in range(5):
        blurry, sharp = ds[i]
        assert torch.equal(blurry, sharp)


def test_parametric_kernels_are_normalised_and_sized():
    for k in (linear_kernel(9, 0.7, 0.2, 0), linear_kernel(9, 2.0, -0.3, 4), disk_kernel(3.0), gaussian_kernel(1.5)):
        assert k.ndim == 2 and k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
        assert k.min() >= 0 and abs(k.sum() - 1) < 1e-5
    ghost = linear_kernel(10, 0.0, 0.0, 3)
    assert (ghost > 0.05).sum() <= 6  # three separated instants, each splatted onto <= 2 pixels


def test_linear_light_round_trip_and_brightening():
    u = np.arange(256, dtype=np.uint8)
    assert np.abs(linear_to_srgb(srgb_to_linear(u)) - u).max() < 0.01
    # Blurring a black/white edge in linear light gives a brighter mid-tone than in sRGB (real exposure).
    edge = np.zeros((1, 2, 3), np.uint8)
    edge[:, 1] = 255
    assert linear_to_srgb(srgb_to_linear(edge).mean(axis=1)).mean() > 180


def test_unknown_components_and_keys_are_refused():
    with pytest.raises(ValueError, match="unknown degradation"):
        get_mix("nope")
    with pytest.raises(ValueError, match="unknown key"):
        get_mix("real", "blurriness=2")
    with pytest.raises(ValueError, match="shares"):
        get_mix("paper", "paper=0")
    assert get_mix("real", "jpeg_quality=50:80").jpeg_quality == (50, 80)
