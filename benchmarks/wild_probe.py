"""Everyday and in-the-wild protocols on *validation* faces, to choose pipeline settings and releases.

Validation faces: the training hold-out (`data.split_files`) minus the 200 faces per dataset that
`faceblur benchmark` reports on (seed 0), so nothing chosen here is chosen on the reported set.

python benchmarks/wild_probe.py -m default -m runs/x/snapshots/step_0001000.pth [--faces 16] [--wild]
"""

import argparse
import json
from pathlib import Path

import torch

from faceblur_cli.benchmark import validation_faces
from faceblur_cli.deblurrer import Deblurrer
from faceblur_cli.evaluation import evaluate_everyday, evaluate_wild, everyday_cases, wild_cases, wild_methods


def validation_sample(root: Path, per_dataset: int) -> list[Path]:
    out = []
    for ds in ("celeba", "helen"):
        spare = validation_faces(root / ds / "train")
        out += spare[:: max(1, len(spare) // per_dataset)][:per_dataset]
    return out


def summary(block: dict, keys) -> dict:
    row = {"all": round(block["psnr"], 3)}
    for k in keys:
        row.update({f"{k}{v}": round(s["psnr"], 2) for v, s in block[f"per_{k}"].items()})
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", action="append", default=[])
    ap.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    ap.add_argument("--faces", type=int, default=12, help="faces per dataset")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--wild", action="store_true", help="also the whole-photo protocol")
    ap.add_argument("--whole", action="store_true", help="also --whole on the photos")
    ap.add_argument("--min-face-scale", type=float, action="append", default=[], help="extra rows with this setting")
    ap.add_argument("--no-everyday", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    files = validation_sample(args.data_root, args.faces)
    engines = {m: Deblurrer(m, device="cpu", threads=args.threads) for m in args.model or ["default"]}
    for sc in args.min_face_scale:
        for m in args.model or ["default"]:
            engines[f"{m}@{sc:g}"] = Deblurrer(m, device="cpu", threads=args.threads, min_face_scale=sc)
    ev = [] if args.no_everyday else everyday_cases(files)
    methods = {
        "blurry": lambda c: c.blurry,
        **{n: (lambda c, e=e: e.whole(c.blurry)) for n, e in engines.items()},
    }
    res = evaluate_everyday(ev, methods) if ev else {}
    for n, b in res.items():
        print("everyday", n, json.dumps(summary(b, ("size", "kind"))), flush=True)
    if args.wild:
        wc = wild_cases(files)
        methods = wild_methods(engines)
        if not args.whole:
            methods = {k: v for k, v in methods.items() if not k.endswith("/whole")}
        res = evaluate_wild(wc, methods)
        for n, b in res.items():
            print(
                "wild",
                n,
                json.dumps({**summary(b, ("width", "size", "kind")), "found": round(b["found_one"], 2)}),
                flush=True,
            )


if __name__ == "__main__":
    main()
