"""Relative speed of two generator files on one 256x256 face: torch eager and onnxruntime, the runs of
the two models interleaved so that a busy or throttled machine slows both alike (a ratio, not absolutes).

python benchmarks/speed_ab.py OLD.pth NEW.pth [--runs 15] [--threads 2]
"""

import argparse
import statistics
import time
from pathlib import Path

import torch

from faceblur_cli.onnx_backend import OnnxBackend
from faceblur_cli.weights import load_generator


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs=2)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    engines = {}
    for m in args.models:
        g = load_generator(m)
        onnx = OnnxBackend.for_model(g, threads=args.threads)  # the product's session (export cached by sha256)
        engines[m] = {"eager": lambda g=g: g(x), "onnxruntime": lambda o=onnx: o(x.numpy())}
    times = {m: {k: [] for k in e} for m, e in engines.items()}
    with torch.no_grad():
        for rep in range(args.runs + 3):  # 3 warm-up rounds
            for m, e in engines.items():
                for k, fn in e.items():
                    t = time.perf_counter()
                    fn()
                    if rep >= 3:
                        times[m][k].append((time.perf_counter() - t) * 1000)
    a, b = args.models
    for k in ("eager", "onnxruntime"):
        ta, tb = statistics.median(times[a][k]), statistics.median(times[b][k])
        print(f"{k:12} {Path(a).name}: {ta:6.1f} ms   {Path(b).name}: {tb:6.1f} ms   ratio {tb / ta:.3f}")


if __name__ == "__main__":
    main()
