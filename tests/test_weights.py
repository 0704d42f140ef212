import os
import shutil

import pytest
import torch

from faceblur_cli import weights as W
from faceblur_cli.weights import export_generator

REV = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def release(tmp_path):
    """A real (tiny) generator release file."""
    from faceblur_cli.models import Generator, preset

    g = Generator(preset("lite", width=4, levels=2))
    ckpt = {"generator": g.state_dict(), "generator_config": g.config.to_dict(), "preset": "lite", "step": 3}
    torch.save(ckpt, tmp_path / "ckpt.pt")
    out = tmp_path / "tiny.pth"
    export_generator(tmp_path / "ckpt.pt", out)
    return out


def _hf_cache(root, release):
    snap = root / "hub" / "models--acme--tiny" / "snapshots" / REV
    snap.mkdir(parents=True)
    shutil.copy(release, snap / "tiny.pth")
    (root / "hub" / "models--acme--tiny" / "refs").mkdir()
    (root / "hub" / "models--acme--tiny" / "refs" / "main").write_text(REV)
    return snap / "tiny.pth"


def _spec(release, **kw):
    return W.WeightSpec(
        name="tiny", filename="tiny.pth", sha256=W.sha256_of(release), repo_id="acme/tiny", revision=REV, **kw
    )


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("FACEBLUR_CACHE", str(tmp_path / "fbcache"))
    return tmp_path / "hf"


def test_hub_cache_resolves_offline(offline, release):
    cached = _hf_cache(offline, release)
    path, spec = W.resolve("tiny", {"tiny": _spec(release)})
    assert path.resolve() == cached.resolve() and spec.name == "tiny"


def test_offline_with_nothing_cached_names_the_command(offline, release):
    with pytest.raises(W.WeightsError, match="faceblur weights download tiny"):
        W.resolve("tiny", {"tiny": _spec(release)})


def test_wrong_sha_refused_and_file_kept(offline, release):
    cached = _hf_cache(offline, release)
    spec = W.WeightSpec(name="tiny", filename="tiny.pth", sha256="0" * 64, repo_id="acme/tiny", revision=REV)
    with pytest.raises(W.WeightsError, match="does not match"):
        W.resolve("tiny", {"tiny": spec})
    assert cached.exists()


def test_truncated_file_refused(offline, release):
    cached = _hf_cache(offline, release)
    data = cached.read_bytes()
    cached.unlink()
    cached.write_bytes(data[: len(data) // 2])
    with pytest.raises(W.WeightsError):
        W.resolve("tiny", {"tiny": _spec(release)})
    with pytest.raises(W.WeightsError, match="not a PyTorch weights file|cannot be loaded safely"):
        W.load_generator(cached)  # as an explicit path (no registry hash): the loader still refuses


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch EVIL_RAN",))


def test_malicious_pickle_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"format": W.RELEASE_FORMAT, "x": _Evil()}, tmp_path / "evil.pth")
    with pytest.raises(W.WeightsError, match="refused: it would import"):
        W.load_generator(tmp_path / "evil.pth")
    assert not (tmp_path / "EVIL_RAN").exists()


def test_local_cache_beats_bundled(offline, release, tmp_path):
    d = tmp_path / "fbcache" / "tiny"
    d.mkdir(parents=True)
    shutil.copy(release, d / "tiny.pth")
    path, _ = W.resolve("tiny", {"tiny": _spec(release, bundled="does/not/exist.pth")})
    assert path == d / "tiny.pth"


def test_bundled_default_loads():
    model = W.load_generator("default")
    assert model.name == W.default_model_name() and len(model.sha256) == 64


@pytest.mark.parametrize("name", [n for n, s in W.load_registry().items() if s.kind == "generator" and s.bundled])
def test_every_bundled_generator_loads_verified(name):
    """Each bundled release matches its registered sha256 and preset (the loader checks both)."""
    model = W.load_generator(name)
    assert model.name == name and model.sha256 == W.load_registry()[name].sha256


def test_registry_rejects_unknown_keys(tmp_path):
    p = tmp_path / "w.toml"
    p.write_text('[m]\nfilename = "a"\nsha265 = "typo"\n')
    with pytest.raises(W.WeightsError, match="unknown keys"):
        W.load_registry(p)


def test_push_uses_hub_api_and_writes_card(tmp_path, release):
    torch.save(
        {
            "generator": W.load_generator(release).state_dict(),
            "generator_config": W.load_generator(release).config.to_dict(),
            "preset": "lite",
            "step": 3,
        },
        tmp_path / "checkpoint.pt",
    )
    (tmp_path / "results.json").write_text(
        '{"dataset": "celeba", "num_images": 2, "sizes": [13], "seed": 0, '
        '"methods": {"blurry": {"psnr": 25.0, "ssim": 0.7, "ms_per_image": 0.1, '
        '"per_size": {"13": {"psnr": 25.0, "ssim": 0.7}}}}}'
    )
    calls = {}

    class FakeApi:
        def create_repo(self, repo_id, **kw):
            calls["create"] = repo_id

        def upload_folder(self, folder_path, repo_id, **kw):
            from pathlib import Path

            calls["files"] = sorted(p.name for p in Path(folder_path).iterdir())
            calls["card"] = (Path(folder_path) / "README.md").read_text()

            class Info:
                oid = REV

            return Info()

    info = W.push(tmp_path, "acme/tiny", api=FakeApi())
    assert calls["create"] == "acme/tiny" and calls["files"] == ["README.md", "tiny.pth", "tiny.pth.sha256"]
    assert "| blurry | 25.00 / 0.700 |" in calls["card"] and info["revision"] == REV
    assert len(info["sha256"]) == 64


def test_model_auto_picks_the_gpu_tier_only_on_cuda(tmp_path, monkeypatch):
    reg = {
        "lite": W.WeightSpec(name="lite", default=True),
        "big": W.WeightSpec(name="big", filename="big.pth", gpu_default=True),
    }
    monkeypatch.setenv("FACEBLUR_CACHE", str(tmp_path))
    assert W.auto_model_name(reg, cuda=False) == "lite"
    assert W.auto_model_name(reg, cuda=True) == "lite"  # not installed: fall back, never download
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "big.pth").write_bytes(b"x")
    assert W.auto_model_name(reg, cuda=True) == "big"
    assert W.auto_model_name(reg, cuda=False) == "lite"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # mocked CUDA, default argument
    assert W.auto_model_name(reg) == "big"
    assert W.auto_model_name(W.load_registry(), cuda=False) == "faceblur-lite"
    assert W.auto_model_name(W.load_registry(), cuda=True) == "faceblur-base"  # the bundled GPU tier


def test_fp16_release_loads_as_fp32_and_matches(tmp_path):
    from faceblur_cli.models.generator import Generator, preset

    torch.manual_seed(0)
    g = Generator(preset("lite", width=8, refine_width=8))
    for p in g.parameters():  # non-trivial weights (the last conv starts at zero)
        p.data.normal_(0, 0.05)
    ckpt = {"generator": g.state_dict(), "generator_config": g.config.to_dict(), "preset": "lite", "step": 1}
    torch.save(ckpt, tmp_path / "c.pt")
    W.export_generator(tmp_path / "c.pt", tmp_path / "full.pth")
    W.export_generator(tmp_path / "c.pt", tmp_path / "half.pth", half=True)
    blob = torch.load(tmp_path / "half.pth", weights_only=True)
    assert all(v.dtype == torch.float16 for v in blob["state_dict"].values() if v.is_floating_point())
    full, half = W.load_generator(tmp_path / "full.pth"), W.load_generator(tmp_path / "half.pth")
    assert all(p.dtype == torch.float32 for p in half.parameters())
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert (full(x) - half(x)).abs().max() < 1e-2


def test_release_of_the_wrong_preset_is_refused(tmp_path, monkeypatch, release):
    spec = W.WeightSpec(name="tiny", filename="tiny.pth", sha256=W.sha256_of(release), preset="base")
    monkeypatch.setattr(W.files, "load_registry", lambda *a: {"tiny": spec})  # where load_generator looks
    monkeypatch.setattr(W.files, "resolve", lambda name, reg=None: (release, spec))
    with pytest.raises(W.WeightsError, match="registers tiny as preset 'base'"):
        W.load_generator("tiny")


def _tiny_release(path, seed, **overrides):
    from faceblur_cli.models import Generator, preset

    torch.manual_seed(seed)
    g = Generator(preset("lite", width=4, levels=2, **overrides))
    for p in g.parameters():
        p.data.normal_(0, 0.05)
    blob = W.release_of(
        {"generator": g.state_dict(), "generator_config": g.config.to_dict(), "preset": "lite", "step": 1}
    )
    W.write_release(blob, path)
    return path


def test_interpolate_blends_weights_and_refuses_other_architectures(tmp_path):
    a, b = _tiny_release(tmp_path / "a.pth", 0), _tiny_release(tmp_path / "b.pth", 1)
    ga, gb = W.load_generator(a), W.load_generator(b)
    for alpha, want in ((0.0, ga), (1.0, gb)):
        W.write_release(W.interpolate(a, b, alpha), tmp_path / "m.pth")
        m = W.load_generator(tmp_path / "m.pth")
        assert all(torch.equal(v, want.state_dict()[k]) for k, v in m.state_dict().items())
    blob = W.interpolate(a, b, 0.25)
    k = next(k for k, v in blob["state_dict"].items() if v.is_floating_point() and v.numel() > 1)
    assert torch.allclose(blob["state_dict"][k], 0.75 * ga.state_dict()[k] + 0.25 * gb.state_dict()[k])
    assert blob["meta"]["interpolated"]["alpha"] == 0.25 and blob["preset"] == "lite"
    other = _tiny_release(tmp_path / "c.pth", 2, refine_width=4)
    with pytest.raises(W.WeightsError, match="different architectures"):
        W.interpolate(a, other, 0.5)
    with pytest.raises(W.WeightsError, match="alpha"):
        W.interpolate(a, b, 1.5)


def test_convert_to_half_keeps_config_step_and_output(tmp_path):
    """`faceblur weights convert --half`: a fp32 snapshot becomes a verified fp16 release of the same model."""
    from typer.testing import CliRunner

    from faceblur_cli.cli import app

    src = _tiny_release(tmp_path / "snap.pth", 0)
    out = tmp_path / "half.pth"
    r = CliRunner().invoke(app, ["weights", "convert", str(src), "-o", str(out), "--half"])
    assert r.exit_code == 0, r.output
    blob = torch.load(out, weights_only=True)
    assert all(v.dtype == torch.float16 for v in blob["state_dict"].values() if v.is_floating_point())
    a, h = W.load_generator(src), W.load_generator(out)
    assert blob["meta"]["step"] == 1 and a.sha256 in blob["meta"]["converted_from"] and h.config == a.config
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert (a(x) - h(x)).abs().max() < 1e-2
    r = CliRunner().invoke(
        app, ["weights", "convert", str(tmp_path / "snap.pth.sha256"), "-o", str(tmp_path / "x.pth")]
    )
    assert r.exit_code != 0 and "error:" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "x.pth").exists()


def test_release_a_tiny_run_by_tag_and_alias(face_dir, tmp_path, monkeypatch):
    """faceblur weights release: tiny run -> tag -> loads by tag and, once current, by the plain name."""
    from faceblur_cli.cli import main_argv
    from faceblur_cli.train import TrainConfig, Trainer

    registry = tmp_path / "reg" / "weights.toml"
    registry.parent.mkdir()
    registry.write_text("# a private registry\n")
    cfg = TrainConfig(
        data=[str(face_dir)],
        out=str(tmp_path / "run"),
        preset="lite",
        steps=2,
        batch=2,
        crop=64,
        val_every=100,
        val_images=0,
        log_every=1,
        workers=0,
        adversarial_weight=0,
        perceptual_weight=0,
        generator_overrides={"width": 4, "levels": 2, "refine_width": 4},
    )
    Trainer(cfg).run()
    monkeypatch.setenv("FACEBLUR_REGISTRY", str(registry))
    args = ["weights", "release", str(tmp_path / "run"), "--registry", str(registry), "--docs", str(tmp_path / "docs")]
    assert main_argv([*args, "--tag", "lite@tiny1"]) == 0
    tagged = W.load_generator("faceblur-lite@tiny1")
    assert tagged.name == "faceblur-lite@tiny1" and tagged.meta["step"] == 2
    assert W.load_generator("lite@tiny1").sha256 == tagged.sha256  # the short name
    assert main_argv([*args, "--tag", "lite@tiny1"]) == 1  # a tag is never reused
    spec = W.load_registry(registry)["faceblur-lite@tiny1"]
    assert spec.run == str(tmp_path / "run") and spec.step == 2 and spec.mix.startswith("real")
    card = (tmp_path / "docs" / "models" / "faceblur-lite@tiny1.md").read_text()
    assert "-o docs/bench/lite@tiny1-DATASET" in card  # bench folders are named by the short tag
    Trainer(cfg, resume=False).run()  # the same run again: another file, released as current
    assert not tagged.flip_tta  # single-pass unless released with --flip-tta
    assert main_argv([*args, "--tag", "lite@tiny2", "--current", "--fp32", "--flip-tta", "--shift-tta", "4"]) == 0
    current = W.load_generator("faceblur-lite")  # the plain name is now an alias of tiny2
    assert current.flip_tta and current.shift_tta == 4  # and runs the ensemble it was released with
    assert tagged.shift_tta == 0
    assert current.sha256 == W.load_registry(registry)["faceblur-lite@tiny2"].sha256 != tagged.sha256
