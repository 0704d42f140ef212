"""The paper's Tables 2 and 3 at lite scale: train each variant for the same budget, same seed, score it.

Table 3 (objective): content + GAN, content + perceptual, content + perceptual + GAN, each fine-tuned
from the shipped faceblur-lite (the same start) with the balanced objective.
Table 2 (architecture): the generator's four switches (no enhancement module, no DRDBU, no RRRB,
no ResBlock) and the full net, each trained from scratch with the full objective (the same seed).
Every variant gets the same steps, batch and crops; scored on the trainer's held-out validation
set (paper protocol 13-27 px, plus mild blur and sharp faces). The scale is far below the paper's
(hundreds of CPU steps, not 3,000 K GPU iterations): differences are indicative only.

    python benchmarks/ablations.py --data ../shared/data/celeba/train --data ../shared/data/helen/train \
        --steps 200 --out runs/ablations
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from faceblur_cli.train import TrainConfig, Trainer

LITE = Path(__file__).resolve().parents[1] / "faceblur_cli" / "assets" / "weights" / "faceblur-lite.pth"

#: name -> (table, TrainConfig overrides)
VARIANTS = {
    "content+GAN": ("3", {"perceptual_weight": 0.0, "init_from": str(LITE)}),
    "content+perceptual": ("3", {"adversarial_weight": 0.0, "init_from": str(LITE)}),
    "content+perceptual+GAN": ("3", {"init_from": str(LITE)}),
    "w/o enhancement module": ("2", {"generator_overrides": {"use_enhancement": False}}),
    "w/o DRDBU": ("2", {"generator_overrides": {"use_drdbu": False}}),
    "w/o RRRB": ("2", {"generator_overrides": {"use_rrrb": False}}),
    "w/o ResBlock": ("2", {"generator_overrides": {"use_resblock": False}}),
    "full": ("2", {}),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", action="append", required=True)
    ap.add_argument("--out", type=Path, default=Path("runs/ablations"))
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--val-images", type=int, default=32)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--only", default="", help="comma list of variant names (default: all)")
    args = ap.parse_args()
    chosen = [v for v in VARIANTS if not args.only or v in args.only.split(",")]
    results = {}
    for name in chosen:
        table, over = VARIANTS[name][0], dict(VARIANTS[name][1])
        gen = {"refine_width": 32, **over.pop("generator_overrides", {})}  # the shipped lite layout
        cfg = TrainConfig(
            data=args.data,
            out=str(args.out / name.replace(" ", "_").replace("/", "-").replace("+", "_")),
            preset="lite",
            steps=args.steps,
            batch=args.batch,
            crop=args.crop,
            lr=args.lr if table == "2" else args.lr / 4,  # a fine-tune takes a gentler rate
            content_loss="l1",
            val_every=args.steps,
            val_images=args.val_images,
            log_every=max(1, args.steps // 10),
            ckpt_every=args.steps,
            workers=args.workers,
            device="cpu",
            warmup_steps=args.steps // 10,
            gan_ramp_steps=args.steps // 5,
            generator_overrides=gen,
            **over,
        )
        t0 = time.time()
        res = Trainer(cfg).run()
        v = res["val"]
        results[name] = {
            "table": table,
            "psnr": v["psnr"],
            "ssim": v["ssim"],
            "detail": v.get("detail", float("nan")),
            "gain": v["psnr"] - v["blurry_psnr"],
            "mild_gain": v.get("mild_psnr", float("nan")) - v.get("mild_blurry_psnr", float("nan")),
            "sharp_psnr": v.get("sharp_psnr"),
            "minutes": (time.time() - t0) / 60,
        }
        print(f"{name}: {results[name]}", flush=True)
        args.out.mkdir(parents=True, exist_ok=True)
        blob = {"args": vars(args) | {"out": str(args.out)}, "results": results}
        (args.out / "ablations.json").write_text(json.dumps(blob, indent=2))
    print("| table | variant | PSNR / SSIM (paper protocol) | gain | detail | mild gain | sharp PSNR | minutes |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {r['table']} | {name} | {r['psnr']:.2f} / {r['ssim']:.4f} | {r['gain']:+.2f} | {r['detail']:.2f} "
            f"| {r['mild_gain']:+.2f} "
            f"| {r['sharp_psnr']:.2f} | {r['minutes']:.1f} |"
        )


if __name__ == "__main__":
    main()
