"""Build the compact data pack a GPU session carries (the whole upload is capped at 64 MiB).

Training faces: a seeded subset of the CelebA train split (original JPEG bytes) and all Helen train
faces re-encoded at quality 75. Benchmark faces: exactly the held-out faces that
`faceblur benchmark --num-images 200` picks, as original bytes, so numbers match a run on ../shared.
The fine-tunes start from the bundled releases, which travel with the tree. Face data is
research-only: the pack is git-ignored and never shipped.

The tracked tree is ~42 MiB (the bundled weights), so the pack must stay under ~20 MiB: the
defaults give 18.7 MiB (1,200 + 200 benchmark CelebA faces, all 870 Helen faces, 200 of them the benchmark).

    python training/gpu/pack.py --shared ../shared --out .gpu_pack
"""

from __future__ import annotations

import argparse
import io
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from faceblur_cli.benchmark import pick_images
from faceblur_cli.data import is_holdout
from faceblur_cli.imageio import list_images


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path("../shared"))
    ap.add_argument("--out", type=Path, default=Path(".gpu_pack"))
    ap.add_argument("--celeba", type=int, default=1200, help="CelebA training faces")
    ap.add_argument("--helen-quality", type=int, default=75)
    args = ap.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    for name in ("celeba", "helen"):
        files = list_images(args.shared / "data" / name / "train")
        held = [f for f in files if is_holdout(f)]
        train = [f for f in files if not is_holdout(f)]
        dst = args.out / "data" / name / "train"
        dst.mkdir(parents=True)
        for f in pick_images(held, 200, 0):
            shutil.copyfile(f, dst / f.name)
        if name == "celeba":
            idx = np.random.default_rng(0).choice(len(train), min(args.celeba, len(train)), replace=False)
            for i in sorted(idx):
                shutil.copyfile(train[i], dst / train[i].name)
        else:
            for f in train:
                buf = io.BytesIO()
                Image.open(f).convert("RGB").save(buf, "JPEG", quality=args.helen_quality)
                (dst / f.with_suffix(".jpg").name).write_bytes(buf.getvalue())
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{args.out}: {total / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
