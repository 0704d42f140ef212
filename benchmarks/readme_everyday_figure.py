"""The README's everyday-blur picture: three fixed held-out faces, each blurred as phones blur them
(shake 13 px, straight streak 11 px, defocus 9 px; noise sigma 2, JPEG 90), before | after | sharp,
with PSNR. The same cases every release, so releases compare at a glance.

python benchmarks/readme_everyday_figure.py [-m default] [--out docs/assets/everyday_before_after.png]
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).parent))
from wild_probe import validation_sample  # noqa: E402

from faceblur_cli.deblurrer import Deblurrer  # noqa: E402
from faceblur_cli.degradations import everyday_degrade  # noqa: E402
from faceblur_cli.imageio import read_rgb  # noqa: E402
from faceblur_cli.metrics import psnr  # noqa: E402

CASES = (("shake", 13), ("streak", 11), ("disk", 9))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", default="default")
    ap.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("docs/assets/everyday_before_after.png"))
    args = ap.parse_args()
    eng = Deblurrer(args.model, device="cpu")
    files = validation_sample(args.data_root, 3)[:3]
    rows = []
    for i, (f, (kind, size)) in enumerate(zip(files, CASES)):
        sharp = read_rgb(f)
        blurry, _ = everyday_degrade(sharp, kind, size, np.random.default_rng([28, i]))
        out = eng.whole(blurry)
        tiles = []
        for img, label in (
            (blurry, f"{kind} {size} px: {psnr(sharp, blurry):.1f} dB"),
            (out, f"{eng.model_name}: {psnr(sharp, out):.1f} dB"),
            (sharp, "sharp"),
        ):
            im = Image.fromarray(img).resize((192, round(192 * img.shape[0] / img.shape[1])))
            canvas = Image.new("RGB", (im.width, im.height + 18), "white")
            canvas.paste(im, (0, 18))
            ImageDraw.Draw(canvas).text((4, 3), label, fill="black")
            tiles.append(np.asarray(canvas))
        h = max(t.shape[0] for t in tiles)
        tiles = [np.pad(t, ((0, h - t.shape[0]), (0, 4), (0, 0)), constant_values=255) for t in tiles]
        rows.append(np.concatenate(tiles, 1))
    w = max(r.shape[1] for r in rows)
    grid = np.concatenate([np.pad(r, ((0, 4), (0, w - r.shape[1]), (0, 0)), constant_values=255) for r in rows])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(args.out)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
