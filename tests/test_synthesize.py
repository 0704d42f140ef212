import csv

import numpy as np
import pytest
from helpers import file_hashes
from typer.testing import CliRunner

from faceblur_cli.cli import app
from faceblur_cli.kernels import KernelBank
from faceblur_cli.synthesize import SynthConfig, assign_kernels, synthesize

CFG = SynthConfig(kernels=16, sizes=(13, 17), per_image=2, crop=64, noise=1.0, seed=7)


def _digest(folder):
    return {p.relative_to(folder): h for p, h in file_hashes(folder).items()}


def test_paper_scheme_blocks():
    bank = KernelBank.generate(800, seed=0)
    plan = assign_kernels(8000, bank, range(13, 28, 2), 5)
    assert all(len(p) == 40 for p in plan)
    assert plan[0] == plan[399] and plan[400] != plan[399]  # blocks of 400 images
    assert len({tuple(p) for p in plan}) == 20
    assert len({k for p in plan for k in p}) == 800  # every kernel used


def test_deterministic_and_manifest_matches(face_dir, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    synthesize(face_dir, a, CFG, workers=2)
    synthesize(face_dir, b, CFG, workers=1)
    assert _digest(a) == _digest(b)
    rows = list(csv.DictReader(open(a / "manifest.csv")))
    assert len(rows) == 8 * 2 * 2
    names = {r["pair"] for r in rows}
    assert names == {p.name for p in (a / "blurry").iterdir()} == {p.name for p in (a / "sharp").iterdir()}
    assert {int(r["kernel_size"]) for r in rows} == {13, 17}


def test_bad_files_are_skipped_with_message(face_dir, tmp_path):
    import shutil

    src = tmp_path / "src"
    shutil.copytree(face_dir, src)
    (src / "empty.jpg").write_bytes(b"")
    (src / "fake.png").write_bytes(b"not an image at all")
    res = synthesize(src, tmp_path / "out", CFG, workers=1)
    assert len(res.errors) == 2
    assert any("empty" in e for e in res.errors) and any("fake.png" in e for e in res.errors)
    assert res.pairs_written == 8 * 4


def test_resume_rewrites_only_missing(face_dir, tmp_path):
    out = tmp_path / "out"
    synthesize(face_dir, out, CFG, workers=1)
    before = _digest(out)
    victims = sorted((out / "blurry").iterdir())[:3]
    for v in victims:
        v.unlink()
    res = synthesize(face_dir, out, CFG, workers=1)
    assert res.pairs_written == 3 and res.pairs_skipped == 29
    assert _digest(out) == before


def test_changed_settings_refused(face_dir, tmp_path):
    synthesize(None, tmp_path, CFG)
    with pytest.raises(ValueError, match="different settings"):
        synthesize(None, tmp_path, SynthConfig(kernels=8))


def test_cli_kernels_only(tmp_path):
    result = CliRunner().invoke(app, ["synthesize", "--kernels", "40", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    bank = KernelBank.load(tmp_path / "kernels.npz")
    assert len(bank) == 40 and (tmp_path / "kernels.png").exists()
    assert not (tmp_path / "manifest.csv").exists()
    assert all(abs(k.sum() - 1) < 1e-5 for k in bank.kernels)
    assert np.unique(bank.sizes).tolist() == list(range(13, 28, 2))


def test_real_mix_pairs_are_reproducible_and_labelled(face_dir, tmp_path):
    cfg = SynthConfig(kernels=16, per_image=6, crop=48, seed=3, degradation="real", degradation_set="mild=0")
    a, b = tmp_path / "a", tmp_path / "b"
    synthesize(face_dir, a, cfg, workers=2)
    synthesize(face_dir, b, cfg, workers=1)
    assert _digest(a) == _digest(b)
    rows = list(csv.DictReader(open(a / "manifest.csv")))
    assert len(rows) == 8 * 6 and all(r["pair"].endswith(f"_d{int(r['kernel_id']):04d}.png") for r in rows)
    comps = {r["component"] for r in rows}
    assert "mild" not in comps and len(comps) >= 3
    for r in rows:
        if r["component"] == "sharp":  # no blur: the pair is identical
            assert (a / "blurry" / r["pair"]).read_bytes() == (a / "sharp" / r["pair"]).read_bytes()
