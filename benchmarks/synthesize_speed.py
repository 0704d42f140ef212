"""Speed of the data builder on this machine: an 800-kernel bank, and pairs/s on 178x218 CelebA faces.

python benchmarks/synthesize_speed.py [--images ../shared/data/celeba/train] [--count 200]

200 images x 40 kernels = 8000 pairs, enough that pool start-up is a small part of the time
(a real run is 320,000 pairs); the reported rate still includes the bank and the start-up.
"""

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from faceblur_cli.kernels import KernelBank
from faceblur_cli.synthesize import SynthConfig, synthesize

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", default=str(Path(__file__).resolve().parents[2] / "shared/data/celeba/train"))
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--workers", type=int, default=0)
    args = ap.parse_args()
    t = time.perf_counter()
    KernelBank.generate(800, seed=0)
    print(f"kernel bank of 800 (sizes 13..27): {time.perf_counter() - t:.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for f in sorted(Path(args.images).glob("*.jpg"))[: args.count]:
            shutil.copy(f, src / f.name)
        for crop in (150, 0):
            out = Path(tmp) / f"out{crop}"
            res = synthesize(src, out, SynthConfig(crop=crop), workers=args.workers or None)
            # res.seconds includes the bank (built once per run); report the pair phase separately too
            print(
                f"crop {crop or 'full 178x218'}: {res.pairs_written} pairs in {res.seconds:.1f} s "
                f"-> {res.pairs_written / res.seconds:.0f} pairs/s (PNG out, bank included)"
            )
