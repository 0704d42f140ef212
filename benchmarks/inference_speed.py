"""Torch eager vs channels-last vs torch.compile vs onnxruntime: ms per 256x256 face, median of N after warm-up.

python benchmarks/inference_speed.py [--runs 20] [--batch 1]
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from faceblur_cli.onnx_backend import OnnxBackend, export_onnx
from faceblur_cli.weights import load_generator, load_registry


def median_ms(fn, runs):
    for _ in range(3):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--compile", action="store_true", help="also try torch.compile (slow to build)")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, 256x256")
    x = torch.rand(args.batch, 3, 256, 256) * 2 - 1
    for name, spec in load_registry().items():
        if spec.kind != "generator":
            continue
        model = load_generator(name)
        res = {}
        with torch.no_grad():
            res["torch eager"] = median_ms(lambda m=model: m(x), args.runs)
            cl = load_generator(name).to(memory_format=torch.channels_last)
            xc = x.to(memory_format=torch.channels_last)
            res["torch channels-last"] = median_ms(lambda m=cl, v=xc: m(v), args.runs)
            if args.compile:
                comp = torch.compile(load_generator(name))
                res["torch.compile"] = median_ms(lambda m=comp: m(x), args.runs)
        with tempfile.TemporaryDirectory() as tmp:
            sess = OnnxBackend(export_onnx(model, Path(tmp) / "m.onnx"))
            xn = x.numpy()
            res["onnxruntime"] = median_ms(lambda s=sess, v=xn: s(v), args.runs)
        base = res["torch eager"]
        print(f"{name}:")
        for k, v in res.items():
            print(f"  {k:20} {v / args.batch:8.1f} ms/face   {base / v:5.2f}x vs eager")
