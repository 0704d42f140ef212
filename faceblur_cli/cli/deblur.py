"""``faceblur deblur``: photos, folders and videos through :mod:`faceblur_cli.batch`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from ..ensemble import MAX_SHIFT
from .app import Exit, _Command, _progress, app, console, friendly


@app.command(cls=_Command)
@friendly
def deblur(
    inputs: list[str] = typer.Argument(
        ...,
        metavar="INPUT",
        help="Images, videos (.mp4 .mov .mkv .avi .webm), folders of them, glob patterns or s3:// objects and "
        "prefixes; several need a folder as -o.",
    ),
    output: str = typer.Option(
        ..., "-o", "--output", help="Output file (for one input file) or folder; s3://BUCKET/PREFIX too."
    ),
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
    backend: str = typer.Option(
        "auto",
        "--backend",
        help="auto (CPU: the model's int8 ONNX export when onnxruntime is installed, else torch) | torch | "
        "onnx (exported once, cached) | onnx-int8.",
    ),
    flip_tta: bool | None = typer.Option(
        None,
        "--flip-tta/--no-flip-tta",
        help="Average with a mirrored pass (2x network time). Default: the model's setting "
        "(on for faceblur-lite and faceblur-base, off for files given by path; `faceblur weights list`).",
    ),
    shift_tta: int | None = typer.Option(
        None,
        "--shift-tta",
        min=0,
        max=MAX_SHIFT,
        metavar="PIXELS",
        help="Also average passes on the input shifted by PIXELS (2x network time again); 0 = off. Default: the "
        "model's setting (4 for faceblur-lite; `faceblur weights list`).",
    ),
    shrink: bool | None = typer.Option(
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
    threads: int | None = typer.Option(
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
    crf: int = typer.Option(18, "--crf", help="Videos: H.264 quality, 0-51 (lower = better; 18 = visually lossless)."),
    smooth: float = typer.Option(
        0.6, "--smooth", help="Videos: landmark smoothing over time, 0 (none) to 0.95 (steadier, slower to follow)."
    ),
    engine: str = typer.Option(
        "local", "--engine", help="local (this process) | ray (Ray Data: a local instance, or --ray-address)."
    ),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="Join a Ray cluster: auto | ray://HOST:10001 (default: start one in-process)."
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1, max=4096, help="--engine ray without --ray-address: CPUs of the local instance."
    ),
    manifest: Path | None = typer.Option(
        None,
        "--manifest",
        help="Append a JSON line per input (status, faces, ms, model); the same command again skips what it "
        "records as written.",
    ),
):
    """Detect faces, deblur them and paste them back (or deblur aligned crops / whole frames).

    Videos are streamed frame by frame (needs the `video` extra): timestamps, rotation and audio kept.
    """
    from .. import batch
    from ..deblurrer import Deblurrer
    from ..imageio import pixel_limit

    if aligned and whole:
        raise ValueError("--aligned and --whole are exclusive")
    if engine not in batch.ENGINES:
        raise ValueError(f"--engine {engine!r}: choose from {', '.join(batch.ENGINES)}")
    if engine == "ray":
        from ..engines.ray_data import check_address, require_ray

        require_ray()  # before any model is loaded: a missing extra is a one-line error
        check_address(ray_address)
    elif ray_address or workers:
        raise ValueError("--ray-address and --workers need --engine ray")
    mode = "aligned" if aligned else "whole" if whole else "faces"
    with pixel_limit(max_pixels):  # restored afterwards: the API in the same process keeps its own limit
        opts = batch.BatchOptions(
            mode=mode,
            no_face=no_face,
            only_center_face=only_center_face,
            recursive=recursive,
            suffix=suffix,
            ext=ext,
            skip_existing=skip_existing,
            overwrite=overwrite,
            save_faces=save_faces,
            compare=compare,
            crf=crf,
            smooth=smooth,
        )
        jobs = batch.plan_many(inputs, output, opts)  # validates paths before loading any model
        deblurrer = Deblurrer(
            model,
            device=device,
            backend=backend,
            half=half,
            batch_size=batch_size,
            flip_tta=flip_tta,
            shift_tta=shift_tta,
            shrink=shrink,
            strength=strength,
            threads=threads,
        )
        if deblurrer.backend.note:
            console.print(f"note: {deblurrer.backend.note}", highlight=False)
        faces_seen = [0]
        with (
            _progress("[bold]deblur", remaining=True, disable=len(jobs) < 2) as bar,
            _progress("[bold]{task.description}", remaining=True, transient=True) as frames_bar,
        ):
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

            summary = batch.run(
                deblurrer,
                jobs,
                opts,
                tick,
                frame_tick,
                engine=engine,
                manifest=manifest,
                ray_address=ray_address,
                workers=workers,
            )
        _print_summary(summary, mode, deblurrer, skip_existing)
        raise Exit(exit_code(summary, skip_existing))


def exit_code(summary, skip_existing: bool) -> int:
    """0 when every input was written or deliberately skipped; 1 when a file failed, or nothing was
    written and not everything was skipped on request (outputs that exist without --skip-existing)."""
    if summary.failed:
        return 1
    if summary.processed == 0 and not summary.resumed and not (skip_existing and summary.skipped):
        return 1
    return 0


def _print_summary(summary, mode: str, engine, skip_existing: bool) -> None:
    """Warnings, skips, failures, extra files, then the one-line tally of a deblur run."""
    for w in summary.warnings:
        console.print(f"[yellow]warning:[/] {escape(w)}", highlight=False, soft_wrap=True)
    for src, why in summary.skipped:
        if not skip_existing:
            console.print(f"skipped: {escape(f'{src}: {why}')}", highlight=False, soft_wrap=True)
    for _src, why in summary.failed:
        console.print(f"[red]failed:[/] {escape(why)}", highlight=False, soft_wrap=True)
    if summary.extras:
        shown = ", ".join(str(p) for p in summary.extras[:3]) + (" ..." if len(summary.extras) > 3 else "")
        console.print(
            f"also wrote {len(summary.extras)} extra file(s): {escape(shown)}", highlight=False, soft_wrap=True
        )
    if summary.resumed:
        console.print(f"resumed: {summary.resumed} output(s) already written by an earlier run (manifest)")
    faces = "n/a (--whole)" if mode == "whole" else str(summary.faces)
    console.print(
        f"processed {summary.processed}, faces {faces}, skipped {len(summary.skipped)}, "
        f"failed {len(summary.failed)}  (model {engine.model_name}, {engine.backend.name}, {engine.device})",
        highlight=False,
    )
