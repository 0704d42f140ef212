"""Peak memory and time of `faceblur deblur --whole` on a huge image (default 9000 x 9000 = 81 MP).

The image is the bundled example tiled to size (a real photo's statistics, nothing downloaded).
Peak resident memory is the child's ru_maxrss, so it covers decode, network, blending and encode.

    python benchmarks/whole_memory.py [--side 9000] [--threads 2]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

EXAMPLE = Path(__file__).resolve().parents[1] / "faceblur_cli" / "assets" / "examples" / "astronaut_blurry.jpg"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=9000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        face = np.asarray(Image.open(EXAMPLE).convert("RGB"))
        reps = -(-args.side // face.shape[0]), -(-args.side // face.shape[1]), 1
        big = np.tile(face, reps)[: args.side, : args.side]
        src = Path(tmp) / "big.jpg"
        Image.fromarray(big).save(src, quality=90)
        del big
        cmd = [sys.executable, "-m", "faceblur_cli", "deblur", str(src), "-o", str(Path(tmp) / "out.jpg"), "--whole"]
        cmd += ["--threads", str(args.threads)]
        t0 = time.time()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.time() - t0
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        ok = proc.returncode == 0 and Image.open(Path(tmp) / "out.jpg").size == (args.side, args.side)
    print(
        f"{args.side}x{args.side} ({args.side**2 / 1e6:.0f} MP) --whole: exit {proc.returncode}, output ok {ok}, "
        f"{seconds:.1f} s, peak RSS {peak_mb:.0f} MB, {args.threads} threads"
    )
    if proc.returncode:
        print(proc.stderr)


if __name__ == "__main__":
    main()
