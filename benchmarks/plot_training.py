"""Plot a run's train.csv: generator terms, their shares, and the critic's scores (is it bounded?).

python benchmarks/plot_training.py training/paper-gan --out docs/assets/paper_gan_curve.png
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def column(rows: list[dict], key: str) -> tuple[list[int], list[float]]:
    pts = [(int(r["step"]), float(r[key])) for r in rows if r.get(key) not in (None, "")]
    return [p[0] for p in pts], [p[1] for p in pts]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    rows = list(csv.DictReader(open(args.run / "train.csv")))
    val = list(csv.DictReader(open(args.run / "val.csv"))) if (args.run / "val.csv").exists() else []
    fig, ax = plt.subplots(1, 3, figsize=(15, 4))
    for key in ("content", "perceptual"):
        ax[0].plot(*column(rows, key), label=key)
    ax[0].set_yscale("log")
    ax[0].set_title("generator terms (raw values)")
    if val:
        tw = ax[0].twinx()
        steps = [int(v["step"]) for v in val]
        tw.plot(steps, [float(v["psnr"]) - float(v["blurry_psnr"]) for v in val], "k--o", label="val gain (dB)")
        tw.set_ylabel("held-out gain over the blurry input (dB)")
        tw.legend(loc="upper right")
    for key in ("share_content", "share_perceptual", "share_adversarial"):
        ax[1].plot(*column(rows, key), label=key.removeprefix("share_"))
    ax[1].set_title("share of the gradient at the output")
    ax[1].set_ylim(0, 1)
    for key in ("d_real", "d_fake", "wasserstein"):
        ax[2].plot(*column(rows, key), label=key)
    ax[2].axhline(0, color="grey", lw=0.5)
    ax[2].set_title("critic: mean scores and Wasserstein estimate")
    for a in ax:
        a.set_xlabel("step")
        a.legend(loc="upper left")
    fig.suptitle(str(args.run))
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=80)
    print(args.out)


if __name__ == "__main__":
    main()
