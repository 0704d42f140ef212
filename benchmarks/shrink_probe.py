"""Compare correction-shrinkage rules on validation faces, the network run once per face.

The probe sets and the shipped ensemble are those of ``holdout_probe.py`` (validation faces only,
never the reported hold-out or the real clip). Each face's ensemble output is computed once; then
every rule is scored on the cached outputs: ``none``, ``global`` (the shipped per-image Wiener
factor), ``global:K`` (the same with the floor at K x sigma) and ``local:W:K`` (a per-pixel Wiener
factor from the correction's energy under a Gaussian window of sigma W pixels, floor K x sigma).
Prints one JSON row per rule, gains as holdout_probe.

python benchmarks/shrink_probe.py default [--rules global,local:4:1] [--flip] [--shift 4]
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from holdout_probe import MILD, Shipped, probe_sets, sharp_rms
from scipy.ndimage import gaussian_filter

from faceblur_cli.data import to_tensor, to_uint8
from faceblur_cli.metrics import psnr
from faceblur_cli.shrinkage import LEVEL, shrink
from faceblur_cli.weights import load_generator


def shrink_local(inputs: np.ndarray, outputs: np.ndarray, sigma: float, window: float) -> np.ndarray:
    """``inputs + a * (outputs - inputs)`` with a per-pixel Wiener factor: ``rho`` is the correction's
    RMS (levels, over channels) under a Gaussian window of ``window`` pixels, so a change at the floor
    is damped where it is (flat skin) and kept where the network restores an edge."""
    if sigma <= 0:
        return outputs
    diff = (outputs.astype(np.float64) - inputs) / LEVEL
    energy = np.mean(diff * diff, axis=1, keepdims=True)  # N x 1 x H x W
    rho2 = gaussian_filter(energy, sigma=(0, 0, window, window), mode="reflect")
    a = (rho2 / (rho2 + sigma * sigma)).astype(np.float32)
    return inputs + a * (outputs - inputs)


def rule(name: str, sigma: float):
    """A function (inputs, outputs) -> outputs for one rule name."""
    if name == "none":
        return lambda x, y: y
    kind, *args = name.split(":")
    if kind == "global":  # global[:K]
        k = float(args[0]) if args else 1.0
        return lambda x, y: shrink(x, y, k * sigma)
    assert kind == "local", name
    window, floor = args
    return lambda x, y: shrink_local(x, y, float(floor) * sigma, float(window))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--flip", action="store_true")
    ap.add_argument("--shift", type=int, default=0)
    ap.add_argument("--rules", default="none,global,local:2:1,local:4:1,local:8:1,local:4:0.75,local:4:1.5")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sets = probe_sets(args.data_root)
    for name in args.models:
        g = Shipped(load_generator(name), args.flip, args.shift).eval()
        sigma = sharp_rms(g, sets["sharp"])
        cached: dict[str, list] = {key: [] for key in sets}  # (sharp, blurry, network input, ensemble output)
        with torch.no_grad():
            for key, cases in sets.items():
                for sharp, blurry, _ in cases:
                    x = to_tensor(blurry)[None]
                    cached[key].append((sharp, blurry, x.numpy(), g(x).numpy()))
        for rname in args.rules.split(","):
            f = rule(rname, sigma)
            row = {}
            for key, items in cached.items():
                gains = [
                    psnr(sharp, to_uint8(torch.from_numpy(f(x, y))[0])) - (0 if key == "sharp" else psnr(sharp, blurry))
                    for sharp, blurry, x, y in items
                ]
                row[key] = round(float(np.mean(gains)), 3)
            row["mild"] = round(sum(row[f"mild{k}"] for k in MILD) / len(MILD), 3)
            print(name, rname, json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
