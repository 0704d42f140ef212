"""The README's before/after strip: the bundled example's aligned face, blurry | deblurred.

python benchmarks/readme_figure.py [--model default] [--out docs/assets/astronaut_face_before_after.png]
"""

import argparse
from pathlib import Path

import numpy as np

from faceblur_cli import Deblurrer
from faceblur_cli.imageio import read_rgb, save_image

EXAMPLE = Path(__file__).resolve().parents[1] / "faceblur_cli/assets/examples/astronaut_blurry.jpg"

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="default")
    ap.add_argument("--out", default="docs/assets/astronaut_face_before_after.png")
    args = ap.parse_args()
    result = Deblurrer(model=args.model, device="cpu").restore(read_rgb(EXAMPLE))
    if not result.faces:
        raise SystemExit("no face found in the example")
    gap = np.full((result.crops[0].shape[0], 8, 3), 255, np.uint8)
    strip = np.concatenate([result.crops[0], gap, result.restored[0]], 1)
    print(save_image(strip, args.out, overwrite=True))
