import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from faceblur_cli import benchmark as bm
from faceblur_cli.cli import app
from faceblur_cli.metrics import PSNR_CAP, psnr, ssim


def test_identical_images_cap_psnr_and_ssim_one(rng):
    img = (rng.random((32, 40, 3)) * 255).astype(np.uint8)
    assert psnr(img, img) == PSNR_CAP
    assert ssim(img, img) == pytest.approx(1.0)


def test_psnr_hand_checked():
    a = np.zeros((8, 8, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 16  # MSE = 256 / 192
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / (256 / 192)), abs=1e-9)


def test_blurry_baseline_reproduces_reference_value(face_dir):
    """Fixed tiny set: 2 faces x sizes 13, 27 (seed 0). Reference computed once with this code and checked
    by hand to lie in the expected band (bigger kernel => lower PSNR)."""
    files = bm.pick_images(sorted(face_dir.glob("*.jpg")), 2, 0)
    cases = bm.make_cases(files, (13, 27), 0)
    res = bm.evaluate(cases, {"blurry": lambda c: c.blurry})["blurry"]
    assert res["per_size"]["13"]["psnr"] > res["per_size"]["27"]["psnr"]
    again = bm.evaluate(bm.make_cases(files, (13, 27), 0), {"blurry": lambda c: c.blurry})["blurry"]
    assert again == {**res, "ms_per_image": again["ms_per_image"]}
    direct = np.mean([psnr(c.sharp, c.blurry) for c in cases])
    assert res["psnr"] == pytest.approx(direct)
    assert 18 < res["psnr"] < 32


def test_schema_validation_rejects_bad_reports():
    good = {
        "dataset": "x",
        "num_images": 1,
        "sizes": [13],
        "seed": 0,
        "methods": {
            "blurry": {"psnr": 1.0, "ssim": 0.5, "ms_per_image": 0.1, "per_size": {"13": {"psnr": 1.0, "ssim": 0.5}}}
        },
    }
    bm.validate_report(good)
    bad = json.loads(json.dumps(good))
    del bad["methods"]["blurry"]["ssim"]
    with pytest.raises(ValueError):
        bm.validate_report(bad)
    bad = json.loads(json.dumps(good))
    bad["methods"]["blurry"]["per_size"] = {"big": {"psnr": 1.0, "ssim": 0.5}}
    with pytest.raises(ValueError):
        bm.validate_report(bad)


def test_cli_run_produces_every_file(face_dir, tmp_path, shared):
    out = tmp_path / "bench"
    r = CliRunner().invoke(
        app,
        [
            "benchmark",
            "--dataset",
            str(face_dir),
            "--all-images",
            "--num-images",
            "4",
            "--sizes",
            "13,27",
            "--out",
            str(out),
            "--device",
            "cpu",
            "--real",
            str(shared / "data" / "real_blur" / "unpaired"),
        ],
    )
    assert r.exit_code == 0, r.output
    for name in ("results.json", "results.csv", "psnr_ssim_by_kernel.png", "examples.png", "real.json"):
        assert (out / name).exists(), name
    data = json.loads((out / "results.json").read_text())
    bm.validate_report(data)
    assert data["num_images"] == 4 and data["sizes"] == [13, 27]
    assert set(data["methods"]) == {"blurry", "wiener_oracle", "rl_oracle", "faceblur-lite"}
    assert "sharpness" in (out / "real.json").read_text()


def test_flip_and_shift_tta_rows_score_the_other_setting_of_each_model(face_dir, tmp_path):
    out = tmp_path / "bench"
    args = ["benchmark", "--dataset", str(face_dir), "--all-images", "--num-images", "2", "--protocols", "sharp"]
    args += ["--baselines", "none", "-m", "default", "-m", "lite@everyday2", "--flip-tta", "--shift-tta"]
    args += ["--device", "cpu", "--out", str(out)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    data = json.loads((out / "results.json").read_text())
    rows = data["protocols"]["sharp"]["methods"]
    lite2 = "faceblur-lite@everyday2"  # the default runs the mirrored pass, this older tag does not
    shifted = {"faceblur-lite-shift", f"{lite2}+shift"}  # the default runs the shifted pass, the old tag not
    assert set(rows) == {"faceblur-lite", "faceblur-lite-flip", lite2, f"{lite2}+flip"} | shifted
    assert rows["faceblur-lite"] != rows["faceblur-lite-flip"]
    assert rows["faceblur-lite"] != rows["faceblur-lite-shift"]
    ran = data["models"]  # how each row ran, so a results.json says what it measured
    assert ran[f"{lite2}+flip"]["flip_tta"] and not ran[lite2]["flip_tta"]
    assert ran["faceblur-lite"]["flip_tta"] and not ran["faceblur-lite-flip"]["flip_tta"]
    assert ran["faceblur-lite"]["shift_tta"] == 4 and ran["faceblur-lite-shift"]["shift_tta"] == 0
    assert ran[f"{lite2}+shift"]["shift_tta"] == 4
    assert ran["faceblur-lite"]["shrink_sigma"] > 0 and ran[lite2]["shrink_sigma"] > 0


def test_missing_dataset_says_where(tmp_path):
    r = CliRunner().invoke(app, ["benchmark", "--dataset", "helen", "--data-root", str(tmp_path)])
    assert r.exit_code == 1 and "put its sharp face images in" in r.output


def test_detail_ratio_orders_blur_truth_and_oversharpening(face_dir):
    from scipy.ndimage import gaussian_filter

    from faceblur_cli.imageio import read_rgb
    from faceblur_cli.metrics import detail_ratio

    sharp = read_rgb(sorted(face_dir.glob("*.jpg"))[0]).astype(np.float64)
    blurred = np.stack([gaussian_filter(sharp[..., c], 2.0) for c in range(3)], -1)
    oversharp = np.clip(sharp + 1.5 * (sharp - blurred), 0, 255)
    as_u8 = lambda a: np.rint(a).astype(np.uint8)  # noqa: E731
    assert detail_ratio(as_u8(sharp), as_u8(sharp)) == pytest.approx(1.0)
    assert detail_ratio(as_u8(sharp), as_u8(blurred)) < 0.5 < 1.5 < detail_ratio(as_u8(sharp), as_u8(oversharp))


def test_gmsd_and_colour_shift(face_dir):
    from scipy.ndimage import gaussian_filter

    from faceblur_cli.imageio import read_rgb
    from faceblur_cli.metrics import colour_shift, gmsd

    sharp = read_rgb(sorted(face_dir.glob("*.jpg"))[0])
    light = np.clip(gaussian_filter(sharp.astype(float), (0.7, 0.7, 0)), 0, 255).astype(np.uint8)
    heavy = np.clip(gaussian_filter(sharp.astype(float), (3, 3, 0)), 0, 255).astype(np.uint8)
    assert gmsd(sharp, sharp) == 0.0
    assert 0 < gmsd(sharp, light) < gmsd(sharp, heavy)
    tinted = np.clip(sharp.astype(int) + [0, 0, 6], 0, 255).astype(np.uint8)
    assert colour_shift(sharp, heavy) < 1.0 and 4.0 < colour_shift(sharp, tinted) <= 6.0


def test_outputs_of_a_sharp_only_run_are_what_was_written(tmp_path):
    """No per-size protocol: no empty figure, and every path reported exists."""
    report = bm.Report("celeba", 2, [0], 0)
    m = {"psnr": 47.0, "ssim": 0.998, "ms_per_image": 1.0, "per_size": {"0": {"psnr": 47.0, "ssim": 0.998}}}
    report.protocols["sharp"] = {"sizes": [0], "methods": {"faceblur-lite": m}}
    paths = bm.write_outputs(report, tmp_path, {})
    assert {p.name for p in paths} == {"results.json", "results.csv"}
    assert all(p.exists() for p in paths) and not (tmp_path / "psnr_ssim_by_kernel.png").exists()


def test_validation_faces_never_include_a_reported_face(tmp_path):
    """Releases are chosen on validation faces: the hold-out minus what `faceblur benchmark` reports on."""
    from faceblur_cli.data import is_holdout

    for i in range(300):  # the split is by file name, so empty files do for the choice
        (tmp_path / f"{i:05d}.png").write_bytes(b"")
    hold = {f for f in tmp_path.glob("*.png") if is_holdout(f)}
    reported = bm.reported_faces(tmp_path, 10)
    spare = bm.validation_faces(tmp_path, 10)
    assert len(hold) > 10 and len(reported) == 10 and set(reported) <= hold
    assert set(spare) == hold - set(reported)  # disjoint, and together the whole hold-out
    assert bm.reported_faces(tmp_path, 10) == reported  # seeded
    assert bm.validation_faces(tmp_path, len(hold)) == []  # all reported (Helen's case)
