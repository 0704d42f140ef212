"""Milliseconds per face for each stage of `faceblur deblur` (detection, alignment, network, paste-back).

python benchmarks/deblur_timing.py [--runs 10] [--backend torch|onnx]
"""

import argparse
import statistics
from pathlib import Path

import numpy as np
from PIL import Image

from faceblur_cli import Deblurrer

EXAMPLE = Path(__file__).resolve().parents[1] / "faceblur_cli/assets/examples/astronaut_blurry.jpg"

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--backend", default="torch")
    ap.add_argument("--image", default=str(EXAMPLE))
    args = ap.parse_args()
    rgb = np.asarray(Image.open(args.image).convert("RGB"))
    d = Deblurrer("default", device="cpu", backend=args.backend)
    d.restore(rgb)  # warm-up
    stages: dict = {}
    for _ in range(args.runs):
        res = d.restore(rgb)
        for k, v in res.timings.items():
            stages.setdefault(k, []).append(v * 1000 / max(len(res.faces), 1))
    print(
        f"image {rgb.shape[1]}x{rgb.shape[0]}, {len(res.faces)} face(s), backend {args.backend}, "
        f"median of {args.runs} runs, ms per face:"
    )
    for k, v in stages.items():
        print(f"  {k:8} {statistics.median(v):8.1f}")
    print(f"  {'total':8} {sum(statistics.median(v) for v in stages.values()):8.1f}")
