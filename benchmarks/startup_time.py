"""Start-up cost of `faceblur deblur` on the bundled example against a bare `python -c "import torch"`.

Both are run in alternation (so machine load hits them alike), `--runs` times each; the medians and
their ratio are printed (target: deblur <= 1.8x import torch). Also lists the heaviest imports.

python benchmarks/startup_time.py [--runs 5]
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "faceblur_cli" / "assets" / "examples" / "astronaut_blurry.jpg"


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "o.png"
        deblur = [sys.executable, "-m", "faceblur_cli", "deblur", str(EXAMPLE), "-o", str(out), "--overwrite"]
        torch_only = [sys.executable, "-c", "import torch"]
        timed(torch_only), timed(deblur)  # warm the file cache
        t_torch, t_deblur = [], []
        for _ in range(args.runs):
            t_torch.append(timed(torch_only))
            t_deblur.append(timed(deblur))
    a, b = statistics.median(t_torch), statistics.median(t_deblur)
    print(f"import torch {a:.2f} s, faceblur deblur (1 face, 512x512) {b:.2f} s: {b / a:.2f}x  (median of {args.runs})")
