"""Build the compact data pack a GPU session carries (the whole upload is capped at 64 MiB).

Training faces: a seeded subset of the CelebA train split (original JPEG bytes) and all Helen train
faces re-encoded (--helen-quality). Validation faces (what `train` validates on there): a spread of the
hold-out minus the faces `faceblur benchmark` reports on (`benchmark.validation_faces`; Helen has
none), so nothing on the GPU is chosen on a reported face; the held-out benchmark runs on the CPU.
The fine-tunes start from the bundled releases, which travel with the tree. Face data is
research-only: the pack is git-ignored and never shipped. Sizes and the carry: training/gpu/run.sh.

    python training/gpu/pack.py --celeba 450 --helen 200 --helen-quality 75 --holdout 40 --out /tmp/p/.gpu_pack
"""

from __future__ import annotations

import argparse
import io
import shutil
from pathlib import Path

from PIL import Image

from faceblur_cli.benchmark import pick_images, validation_faces
from faceblur_cli.data import is_holdout
from faceblur_cli.imageio import list_images


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path("../shared"))
    ap.add_argument("--out", type=Path, default=Path(".gpu_pack"))
    ap.add_argument("--celeba", type=int, default=1200, help="CelebA training faces")
    ap.add_argument("--helen", type=int, default=100000, help="Helen training faces (seeded subset)")
    ap.add_argument("--helen-quality", type=int, default=75)
    ap.add_argument(
        "--holdout", type=int, default=40, help="validation faces per dataset (the hold-out minus the reported faces)"
    )
    args = ap.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    for name in ("celeba", "helen"):
        files = list_images(args.shared / "data" / name / "train")
        spare = validation_faces(args.shared / "data" / name / "train")  # Helen's: none
        train = [f for f in files if not is_holdout(f)]
        dst = args.out / "data" / name / "train"
        dst.mkdir(parents=True)
        for f in spare[:: max(1, len(spare) // max(args.holdout, 1))][: args.holdout]:
            shutil.copyfile(f, dst / f.name)
        if name == "celeba":
            for f in pick_images(train, args.celeba, 0):
                shutil.copyfile(f, dst / f.name)
        else:
            for f in pick_images(train, args.helen, 0):
                buf = io.BytesIO()
                Image.open(f).convert("RGB").save(buf, "JPEG", quality=args.helen_quality)
                (dst / f.with_suffix(".jpg").name).write_bytes(buf.getvalue())
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{args.out}: {total / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
