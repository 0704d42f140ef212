"""ms per 256 x 256 face for each CPU backend, idle and beside busy processes (OpenMP oversubscription).

Each measurement is a fresh process that picks its threads as the product does (free cores),
so a backend that collapses when another program holds the cores shows it here.

python benchmarks/contention.py [--busy 2] [--faces 30] [--backends torch,onnx,int8:FILE] [-m default]
(int8:FILE: an int8 export written by benchmarks/int8.py --out FILE)
"""

import argparse
import json
import subprocess
import sys
import time

PROBE = r"""
import json, sys, time, numpy as np
from faceblur_cli.deblurrer import Deblurrer
backend = sys.argv[2]
e = Deblurrer(sys.argv[1], device="cpu", backend="torch" if backend.startswith("int8:") else backend)
if backend.startswith("int8:"):  # an int8 export not (yet) in the registry: benchmarks/int8.py --out FILE
    from faceblur_cli.onnx_backend import OnnxBackend
    e.backend = OnnxBackend(backend[5:], "cpu", e.threads)
x = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
e.run_network([x]); e.run_network([x])
ms = []
for _ in range(int(sys.argv[3])):
    t0 = time.perf_counter(); e.run_network([x]); ms.append((time.perf_counter() - t0) * 1000)
row = {"median": float(np.median(ms)), "p90": float(np.percentile(ms, 90)), "threads": e.threads}
print(json.dumps({k: round(v, 1) for k, v in row.items()}))
"""

BUSY = "import torch\ntorch.set_num_threads(2)\na = torch.randn(768, 768)\nwhile True:\n    a @ a\n"


def measure(model: str, backend: str, faces: int) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, model, backend, str(faces)], capture_output=True, text=True)
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", default="default")
    ap.add_argument("--backends", default="torch,onnx")
    ap.add_argument("--busy", type=int, default=2, help="busy processes (2 threads each) in the loaded run")
    ap.add_argument("--faces", type=int, default=30)
    args = ap.parse_args()
    for label, n in (("idle", 0), (f"beside {args.busy} busy processes", args.busy)):
        busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(n)]
        time.sleep(3 if n else 0)
        try:
            for b in args.backends.split(","):
                print(f"{label:28s} {b:10s}", json.dumps(measure(args.model, b, args.faces)), flush=True)
        finally:
            for p in busy:
                p.kill()
                p.wait()


if __name__ == "__main__":
    main()
