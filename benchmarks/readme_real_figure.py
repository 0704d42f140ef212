"""The README's do-no-harm strip: a real motion-blurred video frame and an already sharp face, each
through two models (e.g. the paper-only model and the real-mix model), detect + paste-back mode.

Row 1: ../shared real_blur/paired/vd001 frame (blurry | model A | model B | sharp frame), face region x2.
Row 2: scikit-image's public-domain astronaut() photo, sharp (input | model A | model B), face region.

python benchmarks/readme_real_figure.py --model-a OLD.pth --model-b default [--frame 00012]
"""

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from skimage.data import astronaut

from faceblur_cli import Deblurrer
from faceblur_cli.imageio import read_rgb, save_image
from faceblur_cli.metrics import psnr

SHARED = Path(__file__).resolve().parents[2] / "shared"


def face_region(rgb: np.ndarray, box: np.ndarray, scale: int) -> tuple:
    """A square around the detected face box, 1.6x its size, clipped to the image."""
    x1, y1, x2, y2 = box
    cx, cy, side = (x1 + x2) / 2, (y1 + y2) / 2, 1.6 * max(x2 - x1, y2 - y1)
    h, w = rgb.shape[:2]
    top, left = int(max(0, cy - side / 2)), int(max(0, cx - side / 2))
    return slice(top, int(min(h, top + side))), slice(left, int(min(w, left + side))), scale


def row(images: list[np.ndarray], labels: list[str], region) -> Image.Image:
    ys, xs, scale = region
    tiles = [
        Image.fromarray(im[ys, xs]).resize(((xs.stop - xs.start) * scale, (ys.stop - ys.start) * scale), Image.LANCZOS)
        for im in images
    ]
    w, h = tiles[0].size
    sheet = Image.new("RGB", (len(tiles) * (w + 6), h + 18), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (t, label) in enumerate(zip(tiles, labels)):
        sheet.paste(t, (i * (w + 6), 18))
        draw.text((i * (w + 6) + 3, 3), label, fill="black")
    return sheet


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-a", required=True, help="e.g. the previous release file")
    ap.add_argument("--model-b", default="default")
    ap.add_argument("--label-a", default="paper-only model")
    ap.add_argument("--label-b", default="faceblur-lite (real mix)")
    ap.add_argument("--frame", default="00012")
    ap.add_argument("--out", default="docs/assets/real_and_sharp_before_after.png")
    args = ap.parse_args()
    a, b = Deblurrer(args.model_a, device="cpu"), Deblurrer(args.model_b, device="cpu")
    pair = SHARED / "data" / "real_blur" / "paired" / "vd001"
    blurry, sharp = read_rgb(pair / "blurry" / f"{args.frame}.png"), read_rgb(pair / "sharp" / f"{args.frame}.png")
    ra, rb = a.restore(blurry, "faces", no_face="skip"), b.restore(blurry, "faces", no_face="skip")
    region = face_region(blurry, rb.faces[0].box, 1)
    p = [psnr(sharp, x) for x in (blurry, ra.image, rb.image)]
    rows = [
        row(
            [blurry, ra.image, rb.image, sharp],
            [
                f"real blur {p[0]:.2f} dB",
                f"{args.label_a} {p[1]:.2f} dB",
                f"{args.label_b} {p[2]:.2f} dB",
                "sharp frame",
            ],
            region,
        )
    ]
    face = astronaut()
    sa, sb = a.restore(face, "faces"), b.restore(face, "faces")
    region = face_region(face, sb.faces[0].box, 2)
    q = [psnr(face, x) for x in (sa.image, sb.image)]
    rows.append(
        row(
            [face, sa.image, sb.image],
            ["sharp input", f"{args.label_a} {q[0]:.2f} dB", f"{args.label_b} {q[1]:.2f} dB"],
            region,
        )
    )
    width = max(r.size[0] for r in rows)
    sheet = Image.new("RGB", (width, sum(r.size[1] for r in rows) + 8), "white")
    y = 0
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.size[1] + 8
    print(save_image(np.asarray(sheet), args.out, overwrite=True))
