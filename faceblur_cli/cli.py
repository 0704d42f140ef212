"""The ``faceblur`` command line: a thin Typer layer over the Python API.

Each command parses options, calls one library function and prints the result.
Expected failures (bad input, missing weights, ...) print one ``error:`` line and
exit non-zero; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from pathlib import Path
from typing import List, Optional

import typer
import typer.core
from rich.console import Console
from rich.table import Table

from . import __version__

app = typer.Typer(
    help="Remove motion blur from face photos with a GAN (Qi et al. 2020), offline, CPU or GPU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
weights_app = typer.Typer(help="List, prefetch, verify and publish model weights (weights.toml).", no_args_is_help=True)
app.add_typer(weights_app, name="weights")


class _Command(typer.core.TyperCommand):
    """Usage lines without typer's braces around required arguments: ``faceblur deblur [OPTIONS] INPUT``."""

    def collect_usage_pieces(self, ctx):
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in super().collect_usage_pieces(ctx)]


console = Console(stderr=True)
out_console = Console()
_state = {"debug": False}


class Exit(Exception):
    """A failure already explained to the user; carries the exit code."""

    def __init__(self, code: int):
        self.code = code


def friendly(fn):
    """Turn expected exceptions into one ``error:`` line and exit code 1 (2 for usage errors)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from .imageio import ImageError
        from .weights import WeightsError

        try:
            return fn(*args, **kwargs)
        except Exit as e:
            raise typer.Exit(e.code)
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]")
            raise typer.Exit(130)
        except (
            ImageError,
            WeightsError,
            ValueError,
            FileExistsError,
            FileNotFoundError,
            PermissionError,
            RuntimeError,
            OSError,
        ) as err:
            if _state["debug"]:
                raise
            msg = str(err).splitlines()[0] if str(err) else type(err).__name__
            console.print(f"[red]error:[/] {msg}", highlight=False, soft_wrap=True)
            raise typer.Exit(2 if isinstance(err, ValueError) else 1)

    return wrapper


def _version(value: bool):
    if value:
        out_console.print(f"faceblur {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
):
    _state["debug"] = debug


# ---------------------------------------------------------------------------------------- deblur
def _progress(label: str, rate: bool = True, remaining: bool = False, **kw):
    """A rich progress bar: label, bar, done/total, the task's ``rate`` field, elapsed (or remaining) time."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn()]
    if rate:
        columns.append(TextColumn("{task.fields[rate]}"))
    columns.append(TimeRemainingColumn() if remaining else TimeElapsedColumn())
    return Progress(*columns, console=console, **kw)


@app.command(cls=_Command)
@friendly
def deblur(
    input: Path = typer.Argument(
        ..., metavar="INPUT", help="An image, a video (.mp4 .mov .mkv .avi .webm) or a folder of them."
    ),
    output: Path = typer.Option(..., "-o", "--output", help="Output file (for one input file) or folder."),
    aligned: bool = typer.Option(False, "--aligned", help="Inputs are already face crops: skip detection."),
    whole: bool = typer.Option(False, "--whole", help="Deblur the entire frame (tiled), not just faces."),
    no_face: str = typer.Option(
        "whole",
        "--no-face",
        help="When no face is found: whole | skip | error. Videos: frames without a face are copied unchanged; "
        "a video with no face at all is written unchanged (whole), not written (skip) or an error.",
    ),
    only_center_face: bool = typer.Option(False, "--only-center-face", help="Only the face nearest the centre."),
    model: str = typer.Option(
        "auto",
        "--model",
        "-m",
        help="auto (faceblur-base on CUDA, faceblur-lite on a CPU) | a name from "
        "`faceblur weights list` | a .pth path.",
    ),
    backend: str = typer.Option("torch", "--backend", help="torch | onnx (needs the onnx extra)."),
    flip_tta: Optional[bool] = typer.Option(
        None,
        "--flip-tta/--no-flip-tta",
        help="Average with a mirrored pass (2x network time). Default: the model's setting "
        "(on for faceblur-base, off for faceblur-lite; `faceblur weights list`).",
    ),
    shrink: Optional[bool] = typer.Option(
        None,
        "--shrink/--no-shrink",
        help="Damp a correction no larger than the model's error floor (near-sharp faces). Default: on for "
        "models with a calibrated floor (`faceblur weights list`).",
    ),
    strength: float = typer.Option(
        1.0, "--strength", min=0.0, max=1.0, help="Blend input and result: 1 = full deblur, 0.5 = halfway, 0 = input."
    ),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda."),
    half: bool = typer.Option(False, "--half", help="fp16 inference (CUDA only)."),
    batch_size: int = typer.Option(
        8, "--batch-size", min=1, max=256, help="Faces per network call (videos: frames held in memory)."
    ),
    threads: Optional[int] = typer.Option(
        None, "--threads", min=1, max=1024, help="CPU threads (default: the cores not busy right now)."
    ),
    recursive: bool = typer.Option(True, "--recursive/--no-recursive", help="Descend into sub-folders."),
    suffix: str = typer.Option("", "--suffix", help="Added to output file names, e.g. _sharp."),
    ext: str = typer.Option("auto", "--ext", help="Output format: auto (same as input) | png | jpg | webp ..."),
    skip_existing: bool = typer.Option(False, "--skip-existing", help="Silently skip outputs that exist."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs (never the input)."),
    save_faces: bool = typer.Option(False, "--save-faces", help="Also write each aligned face, before|after."),
    compare: bool = typer.Option(False, "--compare", help="Also write a side-by-side before|after image."),
    max_pixels: int = typer.Option(
        89_478_485,
        "--max-pixels",
        min=1,
        max=2**40,
        help="Refuse larger images and videos with larger frames (decompression bombs); checked from the header.",
    ),
    crf: int = typer.Option(
        18, "--crf", help="Videos: H.264 quality, 0-51 (lower = better; 18 = visually lossless)."
    ),
    smooth: float = typer.Option(
        0.6, "--smooth", help="Videos: landmark smoothing over time, 0 (none) to 0.95 (steadier, slower to follow)."
    ),
):
    """Detect faces, deblur them and paste them back (or deblur aligned crops / whole frames).

    Videos are streamed frame by frame (needs the `video` extra): timestamps, rotation and audio kept.
    """
    from . import batch
    from .deblurrer import Deblurrer
    from .imageio import pixel_limit

    if aligned and whole:
        raise ValueError("--aligned and --whole are exclusive")
    mode = "aligned" if aligned else "whole" if whole else "faces"
    with pixel_limit(max_pixels):  # restored afterwards: the API in the same process keeps its own limit
        opts = batch.BatchOptions(
            mode,
            no_face,
            only_center_face,
            recursive,
            suffix,
            ext,
            skip_existing,
            overwrite,
            save_faces,
            compare,
            crf,
            smooth,
        )
        jobs = batch.plan(input, output, opts)  # validates paths before loading any model
        engine = Deblurrer(
            model,
            device=device,
            backend=backend,
            half=half,
            batch_size=batch_size,
            flip_tta=flip_tta,
            shrink=shrink,
            strength=strength,
            threads=threads,
        )
        if getattr(engine.backend, "note", ""):
            console.print(f"note: {engine.backend.note}", highlight=False)
        faces_seen = [0]
        with _progress("[bold]deblur", disable=len(jobs) < 2) as bar, _progress(
            "[bold]{task.description}", remaining=True, transient=True
        ) as frames_bar:
            task = bar.add_task("deblur", total=len(jobs), rate="")
            video_tasks: dict = {}

            def tick(_src, faces):
                faces_seen[0] += faces
                elapsed = bar.tasks[task].elapsed or 1e-9
                bar.update(task, advance=1, rate=f"{faces_seen[0] / elapsed:.1f} faces/s")

            def frame_tick(src, done, total):
                if src not in video_tasks:
                    video_tasks[src] = frames_bar.add_task(src.name, total=total, rate="")
                t = video_tasks[src]
                elapsed = frames_bar.tasks[t].elapsed or 1e-9
                frames_bar.update(t, completed=done, rate=f"{done / elapsed:.1f} frames/s")

            summary = batch.run(engine, jobs, opts, tick, frame_tick)
        _print_summary(summary, mode, engine, skip_existing)
        raise Exit(exit_code(summary, skip_existing))


def exit_code(summary, skip_existing: bool) -> int:
    """0 when every input was written or deliberately skipped; 1 when a file failed, or nothing was
    written and not everything was skipped on request (outputs that exist without --skip-existing)."""
    if summary.failed:
        return 1
    if summary.processed == 0 and not (skip_existing and summary.skipped):
        return 1
    return 0


def _print_summary(summary, mode: str, engine, skip_existing: bool) -> None:
    """Warnings, skips, failures, extra files, then the one-line tally of a deblur run."""
    for w in summary.warnings:
        console.print(f"[yellow]warning:[/] {w}", highlight=False, soft_wrap=True)
    for src, why in summary.skipped:
        if not skip_existing:
            console.print(f"skipped: {src}: {why}", highlight=False, soft_wrap=True)
    for _src, why in summary.failed:
        console.print(f"[red]failed:[/] {why}", highlight=False, soft_wrap=True)
    if summary.extras:
        shown = ", ".join(str(p) for p in summary.extras[:3]) + (" ..." if len(summary.extras) > 3 else "")
        console.print(f"also wrote {len(summary.extras)} extra file(s): {shown}", highlight=False, soft_wrap=True)
    faces = "n/a (--whole)" if mode == "whole" else str(summary.faces)
    console.print(
        f"processed {summary.processed}, faces {faces}, skipped {len(summary.skipped)}, "
        f"failed {len(summary.failed)}  (model {engine.model_name}, {engine.backend.name}, {engine.device})",
        highlight=False,
    )


# ------------------------------------------------------------------------------------ synthesize
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


@app.command()
@friendly
def synthesize(
    images: Optional[Path] = typer.Option(None, "--images", help="Folder of sharp faces (omit: kernel bank only)."),
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
    from .synthesize import SynthConfig
    from .synthesize import synthesize as run

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


# ----------------------------------------------------------------------------------------- train
@app.command()
@friendly
def train(
    data: List[Path] = typer.Option(
        None,
        "--data",
        help="Sharp face folders (blurred on the fly) or one synthesized pair folder; repeat --data for several.",
    ),
    preset: str = typer.Option("lite", "--preset", help="Generator preset: lite (CPU) | base (GPU tier) | paper."),
    out: Path = typer.Option(Path("runs/lite"), "--out", help="Run folder (checkpoints, logs)."),
    steps: int = typer.Option(10000, "--steps", min=1, help="Total optimisation steps."),
    batch: int = typer.Option(16, "--batch", min=1, help="Batch size per process (paper: 16)."),
    crop: int = typer.Option(150, "--crop", min=16, help="Random crop side (paper: 150)."),
    lr: float = typer.Option(1e-4, "--lr", help="Adam learning rate (paper: 1e-4), betas (0.5, 0.999)."),
    lr_schedule: str = typer.Option(
        "constant", "--lr-schedule", help="constant | cosine (decays to lr/100 by --steps)."
    ),
    content_weight: float = typer.Option(1.0, "--content-weight", help="Content (pixel) loss weight (paper: 1)."),
    content_loss: str = typer.Option(
        "mse", "--content-loss", help="Pixel loss: mse (paper) | l1 | charbonnier | l1+mse."
    ),
    degradation: str = typer.Option(
        "real", "--degradation", help="Degradation mix: real (default: sharp, mild, defocus, paper ...) | everyday (the blur phones make) | paper."
    ),
    degradation_set: str = typer.Option(
        "",
        "--degradation-set",
        help="Mix overrides, key=value,...: a component's share (sharp=0.2, mild=0) or a field (jpeg_prob=0.5).",
    ),
    noise_max: Optional[float] = typer.Option(
        None, "--noise-max", min=0.0, help="Training noise sigma ~ U(0, this), 0-255 units (default: the mix's)."
    ),
    jpeg_prob: Optional[float] = typer.Option(
        None, "--jpeg-prob", min=0.0, max=1.0, help="Share of blurred samples JPEG re-encoded (default: the mix's)."
    ),
    objective: str = typer.Option(
        "balanced",
        "--objective",
        help="balanced (weights act on each term's gradient at the output, relative to content) | paper (raw sum).",
    ),
    perceptual_weight: Optional[float] = typer.Option(
        None, "--perceptual-weight", help="VGG19 perceptual weight (default: paper 10, balanced 0.25)."
    ),
    adversarial_weight: Optional[float] = typer.Option(
        None, "--adversarial-weight", help="WGAN-GP adversarial weight (default: paper 1, balanced 0.05)."
    ),
    drift: float = typer.Option(1e-3, "--drift", min=0.0, help="Critic drift penalty on D(real)^2 (0: plain WGAN-GP)."),
    warmup_steps: int = typer.Option(
        0, "--warmup-steps", min=0, help="Steps of content (+perceptual) only for the generator; the critic trains."
    ),
    gan_ramp_steps: int = typer.Option(
        0, "--gan-ramp-steps", min=0, help="Then raise the adversarial weight linearly over this many steps."
    ),
    critic_lr: Optional[float] = typer.Option(None, "--critic-lr", help="Critic learning rate (default: --lr)."),
    max_minutes: Optional[float] = typer.Option(
        None, "--max-minutes", min=0.0, help="Stop (checkpoint saved) after this wall time."
    ),
    critic_width: int = typer.Option(64, "--critic-width", min=4, help="PatchGAN base channels."),
    vgg_weights: str = typer.Option("vgg19-conv3_1", "--vgg-weights", help="VGG19 weights (name or state-dict path)."),
    vgg_layer: str = typer.Option("relu3_1", "--vgg-layer", help="Perceptual layer (relu3_3 needs full VGG19)."),
    val_every: int = typer.Option(500, "--val-every", min=1, help="Validate on the held-out split every N steps."),
    val_images: int = typer.Option(32, "--val-images", min=0, help="Held-out images in the validation set."),
    ckpt_every: int = typer.Option(200, "--ckpt-every", min=1, help="Checkpoint every N steps."),
    snapshots: bool = typer.Option(
        False, "--snapshots", help="Also write the generator at every validation (OUT/snapshots/step_N.pth)."
    ),
    log_every: int = typer.Option(50, "--log-every", min=1, help="Log losses every N steps."),
    seed: int = typer.Option(0, "--seed", help="Seed of sampling, crops, blur and init."),
    workers: int = typer.Option(1, "--workers", min=0, help="Data-loading processes."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda."),
    amp: bool = typer.Option(False, "--amp", help="bf16 autocast (mixed precision)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/checkpoint.pt."),
    init_from: Optional[Path] = typer.Option(
        None,
        "--init-from",
        help="Start the generator from these weights (checkpoint or release): fine-tune, or grow with "
        "--refine-width / --refine-depth.",
    ),
    ema: float = typer.Option(
        0.0,
        "--ema",
        min=0.0,
        max=0.999999,
        help="Keep an exponential moving average of the weights with this decay (e.g. 0.999) and "
        "validate, snapshot and export it instead of the raw weights (0: off).",
    ),
    refine_width: Optional[int] = typer.Option(
        None, "--refine-width", min=0, help="Override the preset's refiner width (0: none)."
    ),
    refine_depth: Optional[int] = typer.Option(
        None,
        "--refine-depth",
        min=1,
        help="Override the refiner's conv layers (preset: 3); with --init-from, layers the file lacks start as identity.",
    ),
    export: Optional[Path] = typer.Option(
        None, "--export", help="Write the release file from OUT/checkpoint.pt to this path and stop (no training)."
    ),
    half: bool = typer.Option(False, "--half", help="With --export: store fp16 weights."),
):
    """Train the generator: content + perceptual + WGAN-GP, balanced or paper weighting (resumable, torchrun)."""
    from .train import TrainConfig, Trainer
    from .weights import export_generator

    if export is not None:
        digest = export_generator(out / "checkpoint.pt", export, half=half)
        out_console.print(f"{export}  sha256 {digest}")
        return
    if not data:
        raise ValueError("--data is required (a folder of sharp faces, or a synthesized pair folder)")
    cfg = TrainConfig(
        data=[str(d) for d in data],
        out=str(out),
        preset=preset,
        steps=steps,
        batch=batch,
        crop=crop,
        lr=lr,
        lr_schedule=lr_schedule,
        content_weight=content_weight,
        content_loss=content_loss,
        degradation=degradation,
        degradation_set=degradation_set,
        noise_max=noise_max,
        jpeg_prob=jpeg_prob,
        objective=objective,
        perceptual_weight=perceptual_weight,
        adversarial_weight=adversarial_weight,
        drift=drift,
        warmup_steps=warmup_steps,
        gan_ramp_steps=gan_ramp_steps,
        critic_lr=critic_lr,
        max_minutes=max_minutes,
        critic_width=critic_width,
        vgg_weights=vgg_weights,
        vgg_layer=vgg_layer,
        val_every=val_every,
        val_images=val_images,
        ckpt_every=ckpt_every,
        snapshots=snapshots,
        log_every=log_every,
        seed=seed,
        workers=workers,
        device=device,
        amp=amp,
        init_from=str(init_from) if init_from else None,
        ema=ema,
        generator_overrides={
            k: v for k, v in (("refine_width", refine_width), ("refine_depth", refine_depth)) if v is not None
        },
    )
    trainer = Trainer(cfg, resume=resume, console=out_console)
    result = trainer.run()
    if trainer.rank == 0:
        state = "interrupted" if result["interrupted"] else "done"
        out_console.print(
            f"{state} at step {result['step']} ({result['steps_run']} steps in {result['seconds']:.0f} s); "
            f"checkpoint {out / 'checkpoint.pt'}"
        )
    if result["interrupted"]:
        raise Exit(130)


# ------------------------------------------------------------------------------------- benchmark
@app.command()
@friendly
def benchmark(
    dataset: str = typer.Option(..., "--dataset", help="celeba | helen | a folder of sharp faces."),
    data_root: Optional[Path] = typer.Option(
        None,
        "--data-root",
        help="Where celeba/ and helen/ live (default: $FACEBLUR_DATA, then ~/.cache/faceblur/data).",
    ),
    num_images: int = typer.Option(200, "--num-images", min=1, help="Images to test (paper: 200)."),
    sizes: str = typer.Option("13,15,17,19,21,23,25,27", "--sizes", help="Kernel sizes of the paper protocol."),
    protocols: str = typer.Option(
        "paper,mild,sharp",
        "--protocols",
        help="Comma list: paper (13-27 px, Table 1) | mild (3-11 px) | sharp (no blur, scored against the input) | "
        "everyday (shake, streaks, defocus, Gaussian 5-17 px + noise + JPEG) | wild (faces in whole photos, detect mode).",
    ),
    wild_images: int = typer.Option(
        60, "--wild-images", min=1, help="Faces for the wild protocol (each pasted at 3 widths: 3 photos per face)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of image choice and test kernels."),
    noise: float = typer.Option(0.0, "--noise", min=0.0, help="Gaussian noise sigma on the blurry input."),
    holdout: bool = typer.Option(
        True, "--holdout/--all-images", help="Only faces of the held-out split (never trained on)."
    ),
    model: List[str] = typer.Option(["default"], "--model", "-m", help="Models to test (repeatable)."),
    backend: str = typer.Option("torch", "--backend", help="torch | onnx."),
    flip_tta: bool = typer.Option(
        False,
        "--flip-tta",
        help="Also score each model with the mirrored-pass ensemble switched the other way from its default "
        "(rows NAME+flip, or NAME-flip for models that run it by default).",
    ),
    shrink: Optional[bool] = typer.Option(
        None, "--shrink/--no-shrink", help="Correction shrinkage for every model (default: each model's setting)."
    ),
    baselines: str = typer.Option(
        "blurry,wiener,rl", "--baselines", help="Comma list of blurry, wiener, rl (or none)."
    ),
    out: Path = typer.Option(Path("benchmark_out"), "--out", "-o", help="Output folder."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads (default: the idle cores)."),
    vgg_distance: bool = typer.Option(
        False, "--vgg-distance", help="Also score VGG19 relu3_1 feature distance (~0.4 s per image on a CPU)."
    ),
    real: Optional[Path] = typer.Option(
        None,
        "--real",
        help="Also evaluate real blur, as aligned input and with face detection + paste-back: a paired folder "
        "(blurry/ + sharp/) or unpaired images (no-reference sharpness).",
    ),
):
    """PSNR/SSIM per kernel size for models vs baselines: the paper's protocol (Table 1), mild blur, sharp faces."""

    from . import benchmark as bm
    from .data import is_holdout
    from .deblurrer import Deblurrer
    from .degradations import PROTOCOLS
    from .imageio import list_images

    size_list = _parse_sizes(sizes)
    chosen = [b.strip() for b in baselines.split(",") if b.strip() and b.strip() != "none"]
    unknown = set(chosen) - set(bm.BASELINES)
    if unknown:
        raise ValueError(f"unknown baselines {sorted(unknown)}; choose from {', '.join(bm.BASELINES)}")
    protocol_list = [p.strip() for p in protocols.split(",") if p.strip()]
    unknown = set(protocol_list) - set(PROTOCOLS)
    if unknown or not protocol_list:
        raise ValueError(f"--protocols {protocols!r}: choose from {', '.join(PROTOCOLS)}")
    if real is not None and not real.is_dir():
        raise ValueError(f"--real {real}: not a folder")
    folder = bm.resolve_dataset(dataset, data_root)
    files = list_images(folder)
    if holdout:
        files = [f for f in files if is_holdout(f)]
        if not files:
            raise ValueError(f"{folder}: no held-out images (pass --all-images for a folder of test faces)")
    files = bm.pick_images(files, num_images, seed)
    engines = {}
    for m in model:
        eng = Deblurrer(m, device=device, backend=backend, shrink=shrink, threads=threads)
        engines[eng.model_name] = eng
        if flip_tta:
            other = not eng.flip_tta
            engines[eng.model_name + ("+flip" if other else "-flip")] = Deblurrer(
                m, device=device, backend=backend, flip_tta=other, shrink=shrink, threads=threads
            )
    ran = {n: dict(sha256=e.model_sha256, flip_tta=e.flip_tta, shrink_sigma=e.shrink_sigma) for n, e in engines.items()}
    report = bm.Report(
        dataset if dataset in bm.DATASETS else str(folder), len(files), list(size_list), seed, models=ran
    )
    examples: dict = {}
    for pname in protocol_list:
        psizes = size_list if pname == "paper" else PROTOCOLS[pname]
        if pname in ("everyday", "wild"):
            picked = files if pname == "everyday" else files[:wild_images]
            with _progress(f"[bold]{pname}", rate=False) as bar:
                task = bar.add_task("cases", total=len(picked) * (len(psizes) if pname == "everyday" else 3))
                tick = lambda: bar.advance(task)  # noqa: E731
                results = (
                    bm.everyday_block(picked, engines, chosen, seed, tick)
                    if pname == "everyday"
                    else bm.wild_block(picked, engines, seed, tick)
                )
            report.protocols[pname] = {"sizes": list(psizes), "methods": results}
            _print_protocol(report.dataset, pname, len(picked), psizes, results)
            continue
        methods = {}
        if "blurry" in chosen:
            methods["blurry"] = lambda c: c.blurry
        if pname != "sharp":  # the oracles undo a kernel; a sharp face has none
            if "wiener" in chosen:
                methods["wiener_oracle"] = lambda c: bm.wiener_oracle(c.blurry, c.kernel)
            if "rl" in chosen:
                methods["rl_oracle"] = lambda c: bm.rl_oracle(c.blurry, c.kernel)
        for name, eng in engines.items():
            methods[name] = (lambda e: lambda c: e.whole(c.blurry))(eng)
        cases = bm.make_cases(files, psizes, seed, noise)
        pick = {(files[min(i, len(files) - 1)].name, psizes[j]) for i, j in ((0, 0), (1, len(psizes) // 2), (2, -1))}

        def keep(name, case, img, pick=pick, pname=pname):
            if pname == "paper" and (case.name, case.size) in pick:
                examples.setdefault((case.name, case.size), {"sharp": case.sharp})[name] = img

        with _progress(f"[bold]{pname}", rate=False) as bar:
            task = bar.add_task("cases", total=len(cases))
            results = bm.evaluate(cases, methods, lambda: bar.advance(task), keep, vgg=vgg_distance)
        report.protocols[pname] = {"sizes": list(psizes), "methods": results}
        if pname == "paper":
            report.methods = results
        _print_protocol(report.dataset, pname, len(files), psizes, results)
    if real is not None:
        modes = {
            "aligned": {n: (lambda e: lambda x: e.whole(x))(e) for n, e in engines.items()},
            "faces": {
                n: (lambda e: lambda x: e.restore(x, "faces", no_face="skip").image)(e) for n, e in engines.items()
            },
        }
        report.real = bm.evaluate_real(real, modes)
        for mode, block in report.real["modes"].items():
            out_console.print(
                f"real blur ({real}, {report.real['count']} images, {mode}): "
                + ", ".join(f"{n}: " + " / ".join(f"{k} {v:.4g}" for k, v in m.items()) for n, m in block.items())
            )
    paths = bm.write_outputs(report, out, examples)
    out_console.print("wrote " + ", ".join(str(p) for p in paths))


def _print_protocol(dataset: str, protocol: str, n: int, sizes, results: dict) -> None:
    """One table per protocol, methods as columns (fits 80 columns for a few models): PSNR per kernel
    size (and per face width / kind where the protocol has them), overall PSNR and SSIM, extra
    metrics, ms per image. The full numbers are in results.json."""
    what = "no blur: scored against the input" if protocol == "sharp" else f"{len(sizes)} kernel sizes"
    table = Table(title=f"{dataset}, {protocol}: {n} images, {what}; PSNR dB (oracle = true kernel)")
    table.add_column("")
    for name in results:
        table.add_column(name.removeprefix("faceblur-").replace("_oracle", " oracle"), justify="right")
    first = next(iter(results.values()))
    for g in ("per_size", "per_width", "per_kind"):
        for k in first.get(g, {}):
            label = {"per_size": f"{k} px", "per_width": f"face {k} px", "per_kind": k}[g]
            table.add_row(label, *[f"{m[g][k]['psnr']:.2f}" for m in results.values()])
    table.add_row("[bold]all", *[f"[bold]{m['psnr']:.2f}" for m in results.values()])
    table.add_row("SSIM", *[f"{m['ssim']:.4f}" for m in results.values()])
    for k in ("detail", "gmsd", "colour_shift", "vgg", "found_one"):
        if k in first:
            table.add_row(k.replace("_", " "), *[f"{m[k]:.3f}" for m in results.values()])
    table.add_row("ms / image", *[f"{m['ms_per_image']:.0f}" for m in results.values()])
    out_console.print(table)


# ----------------------------------------------------------------------------------- export-onnx
@app.command("export-onnx")
@friendly
def export_onnx_cmd(
    model: str = typer.Option("default", "--model", "-m", help="Model name or release .pth path."),
    output: Path = typer.Option(..., "-o", "--output", help="Output .onnx file."),
    opset: int = typer.Option(18, "--opset", help="ONNX opset."),
    fp16: bool = typer.Option(False, "--fp16", help="Store fp16 weights (fp32 inputs/outputs)."),
):
    """Export a model to ONNX (dynamic batch/height/width), checked with onnx.checker."""
    from .onnx_backend import export_onnx
    from .weights import load_generator

    path = export_onnx(load_generator(model), output, opset=opset, fp16=fp16)
    out_console.print(f"wrote {path}")


# --------------------------------------------------------------------------------------- weights
@weights_app.command("list")
@friendly
def weights_list():
    """Registered models and third-party weights, where they come from and whether they are local."""
    from .weights import cache_dir, load_registry

    table = Table()
    table.add_column("name", no_wrap=True)  # copied into --model: never broken across lines
    for col in ("kind", "size", "source", "local", "held-out results"):
        table.add_column(col, overflow="fold")
    for spec in load_registry().values():
        local = (
            "bundled"
            if spec.bundled_path and spec.bundled_path.exists()
            else "cached"
            if (cache_dir() / spec.name / spec.filename).exists()
            else "no"
        )
        roles = (("CPU default", spec.default), ("CUDA default", spec.gpu_default), ("flip TTA", spec.flip_tta))
        roles = [r for r, on in roles if on] + ([f"shrink sigma {spec.shrink_sigma:g}"] if spec.shrink_sigma else [])
        table.add_row(
            spec.name + (f" ({', '.join(roles)})" if roles else ""),
            spec.kind,
            f"{spec.size / 1e6:.1f} MB",
            spec.source_text,
            local,
            "\n".join(f"{k}: {v}" for k, v in spec.metrics.items()) or "-",
        )
    out_console.print(table)


@weights_app.command("download", cls=_Command)
@friendly
def weights_download(name: str = typer.Argument(..., help="Model name from weights.toml.")):
    """Fetch a model from the Hugging Face Hub into the local cache (for later offline use)."""
    from .weights import resolve

    path, _ = resolve(name)
    out_console.print(f"{name}: {path} (sha256 verified)")


@weights_app.command("verify")
@friendly
def weights_verify():
    """Check the sha256 of every locally available weights file."""
    from .weights import WeightsError, cache_dir, load_registry, verify

    bad = 0
    for spec in load_registry().values():
        for path in (spec.bundled_path, cache_dir() / spec.name / spec.filename):
            if path is not None and path.exists():
                try:
                    verify(path, spec.sha256)
                    out_console.print(f"ok   {spec.name}: {path}")
                except WeightsError as err:
                    bad += 1
                    console.print(f"[red]BAD[/]  {err}", highlight=False, soft_wrap=True)
    if bad:
        raise Exit(1)


@weights_app.command("interpolate", cls=_Command)
@friendly
def weights_interpolate(
    a: str = typer.Argument(..., help="Fidelity model (name or release file)."),
    b: str = typer.Argument(..., help="Its fine-tune, e.g. the GAN-refined one (same architecture)."),
    alpha: float = typer.Option(..., "--alpha", min=0.0, max=1.0, help="Weight of B: 0 = A, 1 = B."),
    output: Path = typer.Option(..., "-o", "--output", help="Release file to write (with OUTPUT.sha256)."),
    half: bool = typer.Option(False, "--half", help="Store fp16 weights."),
):
    """Blend two generators in weight space, (1 - alpha) * A + alpha * B: a fidelity/detail dial."""
    from .weights import interpolate, write_release

    digest = write_release(interpolate(a, b, alpha, half), output)
    out_console.print(f"wrote {output} (sha256 {digest})")


@weights_app.command("convert", cls=_Command)
@friendly
def weights_convert(
    source: str = typer.Argument(..., help="Model name or release file (e.g. a --snapshots file)."),
    output: Path = typer.Option(..., "-o", "--output", help="Release file to write (with OUTPUT.sha256)."),
    half: bool = typer.Option(False, "--half", help="Store fp16 weights (half the size; upcast on load)."),
):
    """Re-store a generator release as fp16 or fp32, keeping its config, step and provenance."""
    from .weights import convert, write_release

    digest = write_release(convert(source, half), output)
    out_console.print(f"wrote {output} (sha256 {digest})")


@weights_app.command("push", cls=_Command)
@friendly
def weights_push(
    run_dir: Path = typer.Argument(..., help="Training run folder with checkpoint.pt (and optional results.json)."),
    repo_id: str = typer.Option(..., "--repo-id", help="Hub repo, e.g. org/faceblur-lite."),
    private: bool = typer.Option(False, "--private", help="Create the repo as private."),
):
    """Publish a trained model to the Hugging Face Hub with a model card (needs HF_TOKEN)."""
    from .weights import push

    info = push(run_dir, repo_id, private=private)
    out_console.print("add to weights.toml:\n" + "\n".join(f'{k} = "{v}"' for k, v in info.items()))


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (a scheduler, ``kill``) cleans up exactly as Ctrl-C does: temp files removed, exit 130."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main_argv(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code; a usage error is one ``error:`` line (exit 2), not a panel."""
    try:
        from typer._click import exceptions as click_errors  # typer >= 0.29 vendors click
    except ImportError:  # pragma: no cover - older typer on click
        from click import exceptions as click_errors

    try:
        with _sigterm_as_interrupt():
            rv = app(args=argv, prog_name="faceblur", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as err:
        out_console.print(err.ctx.get_help(), highlight=False, markup=False)
        return 2
    except click_errors.UsageError as err:
        hint = f" (see: {err.ctx.command_path} --help)" if err.ctx is not None else ""
        console.print(f"[red]error:[/] {err.format_message()}{hint}", highlight=False, soft_wrap=True)
        return 2
    except click_errors.ClickException as err:
        console.print(f"[red]error:[/] {err.format_message()}", highlight=False, soft_wrap=True)
        return err.exit_code
    except (typer.Abort, getattr(click_errors, "Abort", typer.Abort)):
        console.print("[yellow]interrupted[/]")
        return 130
    return rv if isinstance(rv, int) else 0


def run() -> None:  # console-script entry point
    sys.exit(main_argv())


if __name__ == "__main__":
    run()
