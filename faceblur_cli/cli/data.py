"""``faceblur synthesize``: blurry/sharp training pairs and kernel banks."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import _Command, _progress, app, console, friendly


def _parse_sizes(text: str) -> tuple[int, ...]:
    """'13-27' -> odd sizes 13..27; '13,17,21' -> those."""
    text = text.strip()
    if "-" in text and "," not in text:
        lo, hi = (int(x) for x in text.split("-"))
        sizes = tuple(k for k in range(lo, hi + 1) if k % 2)
    else:
        sizes = tuple(int(x) for x in text.split(",") if x.strip())
    if not sizes or any(k < 3 or k % 2 == 0 for k in sizes):
        raise ValueError(f"--sizes {text!r}: need odd kernel sizes >= 3, e.g. 13-27 or 13,15,17")
    return sizes


@app.command(cls=_Command)
@friendly
def synthesize(
    images: Path | None = typer.Option(None, "--images", help="Folder of sharp faces (omit: kernel bank only)."),
    out: Path = typer.Option(Path("synth"), "--out", "-o", help="Output folder."),
    kernels: int = typer.Option(800, "--kernels", min=1, help="Kernels in the bank (spread evenly over sizes)."),
    sizes: str = typer.Option("13-27", "--sizes", help="Odd kernel sizes: a range 13-27 or a list 13,15,17."),
    per_image: int = typer.Option(
        5, "--per-image", min=1, help="Kernels of each size per image (paper: 5); pairs per image for other mixes."
    ),
    crop: int = typer.Option(150, "--crop", min=0, help="Random crop side (paper: 150); 0 keeps whole images."),
    noise: float = typer.Option(0.0, "--noise", min=0.0, help="Gaussian noise sigma (0-255 units)."),
    jpeg_quality: int = typer.Option(0, "--jpeg-quality", min=0, max=100, help="JPEG re-encode quality (0: off)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bank and of every pair."),
    workers: int = typer.Option(0, "--workers", min=0, help="Processes (0: one per CPU)."),
    limit: int = typer.Option(0, "--limit", min=0, help="Use only the first N images (0: all)."),
    kernels_only: bool = typer.Option(False, "--kernels-only", help="Write the kernel bank and stop."),
    degradation: str = typer.Option(
        "paper", "--degradation", help="paper (the paper's block scheme) | real (draws of the training mix)."
    ),
    degradation_set: str = typer.Option("", "--degradation-set", help="Mix overrides, key=value,... (as in train)."),
):
    """Build the kernel bank and blurry/sharp pairs the way the paper did (resumable, parallel)."""
    from ..synthesize import SynthConfig
    from ..synthesize import synthesize as run

    cfg = SynthConfig(
        kernels, _parse_sizes(sizes), per_image, crop, noise, jpeg_quality, seed, degradation, degradation_set
    )
    src = None if kernels_only else images
    with _progress("[bold]synthesize", disable=src is None) as bar:
        task = bar.add_task("pairs", total=None, rate="")

        def tick(done, total):
            elapsed = bar.tasks[task].elapsed or 1e-9
            bar.update(task, completed=done, total=total, rate=f"{done / elapsed:.0f} pairs/s")

        res = run(src, out, cfg, workers=workers or None, limit=limit or None, progress=tick)
    for err in res.errors:
        console.print(f"[red]skipped bad file:[/] {err}", highlight=False, soft_wrap=True)
    console.print(f"bank: {kernels} kernels, sizes {list(cfg.sizes)} -> {out / 'kernels.npz'}, {out / 'kernels.png'}")
    if src is not None:
        rate = res.pairs_written / max(res.seconds, 1e-9)
        console.print(
            f"pairs written {res.pairs_written} ({rate:.0f} pairs/s), already present {res.pairs_skipped}, "
            f"bad files {len(res.errors)} -> {out / 'manifest.csv'}"
        )
