"""Score generator files on validation faces: the training hold-out minus the benchmark's reported faces.

For choosing between snapshots without touching the benchmark's test faces: the hold-out is the
10 % of ../shared's *training* folders that `faceblur train` never trains on (`data.split_files`);
`benchmark.validation_faces` leaves out the 200 faces per dataset `faceblur benchmark` reports on
(before 2026-12-04 it did not: 83 of its 199 faces were reported ones). Helen's hold-out is all
reported, so these are CelebA faces (344).
Prints gains over the blurry input (paper 13-27 px, 48 faces; mild 5-11 px, 96 faces, also per
size; 3 px, 24 faces; everyday, the blur phones make, 96 faces over its kinds and sizes) and the
PSNR of sharp faces passed through (24 faces), ``video`` (48 faces blurred as a video frame is:
3-7 px motion, down-sampled and back, strong JPEG; a validation stand-in for the real clip, which is a test
set and never probed), ``roll`` (48 faces under spatially varying shake of 5/9/13 px,
degradations.RollPath, noise and JPEG as everyday), plus ``sharp_rms``: the median change the model
makes to those sharp faces (8-bit levels), which calibrates its ``shrink_sigma``
(faceblur_cli/shrinkage.py, weights.toml).

python benchmarks/holdout_probe.py base runs/x/snapshots/step_0002100.pth [--threads 1] [--flip] [--shift 4] [--shrink]

``--flip`` / ``--shift N`` score each model with the mirrored / shifted-pass ensemble, as a release with
``flip_tta`` / ``shift_tta`` runs; ``--shrink`` with correction shrinkage at ``shrink_sigma`` = its
``sharp_rms``, as a release calibrated that way runs (near-sharp faces, 3 px, depend on it most).
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from faceblur_cli.benchmark import validation_faces
from faceblur_cli.blur import ImageSpectrum, finish
from faceblur_cli.data import to_tensor
from faceblur_cli.degradations import EVERYDAY_JPEG, EVERYDAY_NOISE, RollPath, everyday_kernel, rescale
from faceblur_cli.ensemble import ensemble
from faceblur_cli.evaluation import VAL_KERNEL_SEED, evaluate, everyday_set, protocol_set, spread, validation_set
from faceblur_cli.imageio import read_rgb
from faceblur_cli.shrinkage import correction_rms, shrink
from faceblur_cli.weights import load_generator

MILD = (5, 7, 9, 11)
EVERYDAY_SEED = 4242
VIDEO_SEED = 5151
ROLL_SEED = 6161


def degraded_set(files: list[Path], count: int, seed: int, degrade) -> list:
    """(sharp, blurry, size) for ``count`` files spread over ``files``; ``degrade(sharp, i, rng)`` returns
    (blurry, size), ``rng`` seeded with (seed, i)."""
    out = []
    for i, f in enumerate(spread(files, count)):
        rng = np.random.default_rng([seed, i])
        sharp = read_rgb(f)
        out.append((sharp, *degrade(sharp, i, rng)))
    return out


def video_blur(sharp: np.ndarray, i: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """A video frame's blur: short shake or streak (3-7 px), a resolution loss (down-sampled by 0.6-0.85
    and back up), noise sigma 1 and JPEG quality 55-80 for the codec."""
    size = (3, 5, 7)[i % 3]
    kernel = everyday_kernel(("shake", "streak")[i % 2], size, rng)
    blurred = rescale(ImageSpectrum(sharp, max(kernel.shape) | 1).blur(kernel), rng.uniform(0.6, 0.85))
    return finish(blurred, rng, 1.0, int(rng.integers(55, 81))), size


def roll_blur(sharp: np.ndarray, i: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Spatially varying shake (:class:`RollPath` of 5, 9, 13 px), everyday noise and JPEG."""
    size = (5, 9, 13)[i % 3]
    blurred = RollPath.draw(rng, float(size)).blur(sharp)
    return finish(blurred, rng, EVERYDAY_NOISE, EVERYDAY_JPEG), size


def probe_sets(data_root: Path) -> dict[str, list]:
    hold = sorted(f for ds in ("celeba", "helen") for f in validation_faces(data_root / ds / "train"))
    sets = {"paper": validation_set(hold, 48)}
    sets.update({f"mild{k}": protocol_set(hold[2:], 24, (k,), VAL_KERNEL_SEED + 17 + k) for k in MILD})
    sets["three"] = protocol_set(hold[3:], 24, (3,), VAL_KERNEL_SEED + 5)
    sets["sharp"] = protocol_set(hold[1:], 24, (0,), 0)
    sets["everyday"] = everyday_set(hold[5:], 96, EVERYDAY_SEED)
    sets["video"] = degraded_set(hold[7:], 48, VIDEO_SEED, video_blur)
    sets["roll"] = degraded_set(hold[11:], 48, ROLL_SEED, roll_blur)
    return sets


class Shipped(torch.nn.Module):
    """A generator as Deblurrer._infer runs it: its test-time ensemble (faceblur_cli/ensemble.py), then
    correction shrinkage with error floor ``sigma`` (0 = none; faceblur_cli/shrinkage.py)."""

    def __init__(self, g: torch.nn.Module, flip: bool, shift: int, sigma: float = 0.0):
        super().__init__()
        self.g, self.flip, self.shift, self.sigma = g, flip, shift, sigma

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def run(batch: np.ndarray) -> np.ndarray:
            return self.g(torch.from_numpy(np.ascontiguousarray(batch))).numpy()

        x_np = x.numpy()
        return torch.from_numpy(shrink(x_np, ensemble(run, x_np, self.flip, self.shift), self.sigma))


@torch.no_grad()
def sharp_rms(g: torch.nn.Module, cases: list) -> float:
    """Median RMS change (8-bit levels) the network makes to sharp faces: its error floor."""
    xs = [to_tensor(sharp)[None] for sharp, _, _ in cases]
    return float(np.median([correction_rms(x.numpy(), g(x).numpy())[0] for x in xs]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="registry names or release files")
    ap.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--flip", action="store_true", help="score the mirrored-pass ensemble")
    ap.add_argument("--shift", type=int, default=0, help="... and the pass shifted by SHIFT pixels")
    ap.add_argument("--shrink", action="store_true", help="score with shrinkage at sigma = its sharp_rms")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sets = probe_sets(args.data_root)
    for name in args.models:
        net = load_generator(name)
        g = Shipped(net, args.flip, args.shift).eval()
        rms = sharp_rms(g, sets["sharp"])  # the release's shrink_sigma
        g = Shipped(net, args.flip, args.shift, rms if args.shrink else 0.0).eval()
        row = {}
        for key, cases in sets.items():
            r = evaluate(g, cases, torch.device("cpu"))
            row[key] = round(r["psnr"] if key == "sharp" else r["psnr"] - r["blurry_psnr"], 3)
        row["mild"] = round(sum(row[f"mild{k}"] for k in MILD) / len(MILD), 3)
        row["sharp_rms"] = round(rms, 3)
        print(name, json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
