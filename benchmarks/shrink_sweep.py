"""Correction shrinkage (faceblur_cli/shrinkage.py) swept over sigma, on hold-out faces and a real clip.

Runs the network once per image, then scores ``shrink(x, net(x), sigma)`` for each sigma: gains over the
blurry input on the hold-out probe sets (benchmarks/holdout_probe.py: paper 13-27 px, mild 5-11 px, 3 px),
PSNR of sharp faces passed through, and the gain on the paired real frames (the network on the whole
frame, as `faceblur benchmark --real` scores its aligned mode). sigma 0 is the network as it is.

python benchmarks/shrink_sweep.py default --sigmas 0,0.6,0.8,0.95,1.2 [--threads 1]
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from holdout_probe import MILD, probe_sets

from faceblur_cli.deblurrer import _from_net, _to_net
from faceblur_cli.imageio import list_images, read_rgb
from faceblur_cli.metrics import psnr
from faceblur_cli.shrinkage import shrink
from faceblur_cli.weights import load_generator


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="registry name or release file")
    ap.add_argument("--sigmas", default="0,0.6,0.8,0.95,1.2")
    ap.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    ap.add_argument("--real", type=Path, default=Path("../shared/data/real_blur/paired/vd001"))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    g = load_generator(args.model)
    sets = {k: [(s, b) for s, b, _ in v] for k, v in probe_sets(args.data_root).items()}
    blurry = list_images(args.real / "blurry")
    sets["real"] = [(read_rgb(args.real / "sharp" / f.name), read_rgb(f)) for f in blurry]
    raw = {}  # set -> [(sharp, blurry, network input, network output)]
    with torch.no_grad():
        for key, pairs in sets.items():
            raw[key] = [(s, b, x, g(torch.from_numpy(x)).numpy()) for s, b in pairs for x in [_to_net([b])]]
    for sigma in [float(v) for v in args.sigmas.split(",")]:
        row = {}
        for key, items in raw.items():
            scores = [
                psnr(s, _from_net(shrink(x, y, sigma))[0]) - (key != "sharp") * psnr(s, b) for s, b, x, y in items
            ]
            row[key] = round(float(np.mean(scores)), 3)
        row["mild"] = round(float(np.mean([row[f"mild{k}"] for k in MILD])), 3)
        print(f"sigma {sigma:g}", json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
