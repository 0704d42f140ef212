"""The README's side-by-side crop grid: how sharp each model's faces look, on a public-domain face.

scikit-image's astronaut() photo (public domain) is aligned like any input face, blurred by one
paper-protocol trajectory kernel per row (fixed seed), and deblurred by each model in aligned mode.
Each tile is the eyes-and-nose region, enlarged 2x, captioned with PSNR against the sharp face and
the detail-energy ratio (1.0 = as detailed as the sharp face; see ``metrics.detail_ratio``).

python benchmarks/crop_grid.py -m default -m lite-gan [--sizes 11,17,23] [--out docs/assets/lite_gan_grid.jpg]
"""

import argparse

import numpy as np
from PIL import Image, ImageDraw
from skimage.data import astronaut

from faceblur_cli import Deblurrer
from faceblur_cli.alignment import alignment_matrix, warp_face
from faceblur_cli.blur import degrade
from faceblur_cli.faces import FaceDetector
from faceblur_cli.imageio import save_image
from faceblur_cli.kernels import motion_kernel
from faceblur_cli.metrics import detail_ratio, psnr

REGION = (slice(72, 184), slice(48, 208))  # eyes, nose and mouth corners of the 256 x 256 aligned face
SCALE = 2
CAPTION = 28


def tile(image: np.ndarray, caption: str) -> Image.Image:
    crop = Image.fromarray(image[REGION])
    crop = crop.resize((crop.width * SCALE, crop.height * SCALE), Image.LANCZOS)
    out = Image.new("RGB", (crop.width, crop.height + CAPTION), "white")
    out.paste(crop, (0, CAPTION))
    ImageDraw.Draw(out).multiline_text((3, 1), caption, fill="black", spacing=1)
    return out


def grid(rows: list[list[Image.Image]], gap: int = 6) -> Image.Image:
    w, h = rows[0][0].size
    sheet = Image.new("RGB", (len(rows[0]) * (w + gap) - gap, len(rows) * (h + gap) - gap), "white")
    for r, tiles in enumerate(rows):
        for c, t in enumerate(tiles):
            sheet.paste(t, (c * (w + gap), r * (h + gap)))
    return sheet


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("-m", "--model", action="append", help="model name or release file (repeatable)")
    ap.add_argument("--sizes", default="11,17,23", help="one blur kernel per size, one row each")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--out", default="docs/assets/lite_gan_grid.jpg")
    args = ap.parse_args()
    models = args.model or ["default", "lite-gan"]
    rgb = astronaut()
    faces = FaceDetector("cpu").detect(rgb)
    if not faces:
        raise SystemExit("no face found in astronaut()")
    sharp = warp_face(rgb, alignment_matrix(faces[0].landmarks))
    engines = [Deblurrer(m, device="cpu") for m in models]
    rng = np.random.default_rng(args.seed)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        blurry = degrade(sharp, motion_kernel(size, rng))
        outs = [e.restore(blurry, "aligned").image for e in engines]
        row = [tile(sharp, f"sharp\n{size} px blur below")]
        for name, img in [("blurry input", blurry)] + [(e.model_name, o) for e, o in zip(engines, outs)]:
            caption = f"{name}\n{psnr(sharp, img):.2f} dB  detail {detail_ratio(sharp, img):.2f}"
            row.append(tile(img, caption))
            print(f"{size:>3} px  {name:<24} {caption.splitlines()[1]}")
        rows.append(row)
    print(save_image(np.asarray(grid(rows)), args.out, overwrite=True))
