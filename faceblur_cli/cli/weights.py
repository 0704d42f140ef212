"""``faceblur export-onnx`` and ``faceblur weights ...``: the registry, downloads, releases."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ..ensemble import MAX_SHIFT
from .app import Exit, _Command, app, console, friendly, out_console, weights_app


@app.command("export-onnx", cls=_Command)
@friendly
def export_onnx_cmd(
    model: str = typer.Option("default", "--model", "-m", help="Model name or release .pth path."),
    output: Path = typer.Option(..., "-o", "--output", help="Output .onnx file."),
    opset: int = typer.Option(18, "--opset", help="ONNX opset."),
    fp16: bool = typer.Option(False, "--fp16", help="Store fp16 weights (fp32 inputs/outputs)."),
):
    """Export a model to ONNX (dynamic batch/height/width), checked with onnx.checker."""
    from ..onnx_backend import export_onnx
    from ..weights import load_generator

    path = export_onnx(load_generator(model), output, opset=opset, fp16=fp16)
    out_console.print(f"wrote {path}")


# --------------------------------------------------------------------------------------- weights
@weights_app.command("list", cls=_Command)
@friendly
def weights_list(
    as_json: bool = typer.Option(False, "--json", help="Every field of every entry, as JSON (for scripts)."),
):
    """Registered models and third-party weights: role, size, where they come from, held-out results."""
    import json
    from dataclasses import asdict

    from ..weights import cache_dir, load_registry

    registry = load_registry()
    if as_json:
        out_console.print_json(json.dumps({n: {**asdict(s), "root": None} for n, s in registry.items()}))
        return
    table = Table(expand=False)
    table.add_column("name and role", overflow="fold", ratio=3)
    table.add_column("size / local", overflow="fold", ratio=1)
    table.add_column("held-out results, source", overflow="fold", ratio=4)
    for spec in registry.values():
        local = (
            "bundled"
            if spec.bundled_path and spec.bundled_path.exists()
            else "cached"
            if (cache_dir() / spec.name / spec.filename).exists()
            else "no"
        )
        flags = (("CPU default", spec.default), ("CUDA default", spec.gpu_default), ("flip TTA", spec.flip_tta))
        roles = [r for r, on in flags if on] + [f"shift TTA {spec.shift_tta} px"] * bool(spec.shift_tta)
        roles += [f"shrink sigma {spec.shrink_sigma:g}"] * bool(spec.shrink_sigma)
        name = spec.name + (f" ({', '.join(roles)})" if roles else "") + (f" = {spec.alias}" if spec.alias else "")
        results = "; ".join(f"{k}: {v}" for k, v in spec.metrics.items())
        table.add_row(
            f"[bold]{name}[/]\n{spec.kind}",
            f"{spec.size / 1e6:.1f} MB\n{local}",
            (results + "\n" if results else "") + spec.source_text,
        )
    out_console.print(table)


@weights_app.command("download", cls=_Command)
@friendly
def weights_download(name: str = typer.Argument(..., help="Model name from weights.toml.")):
    """Fetch a model from the Hugging Face Hub into the local cache (for later offline use)."""
    from ..weights import resolve

    path, _ = resolve(name)
    out_console.print(f"{name}: {path} (sha256 verified)")


@weights_app.command("verify", cls=_Command)
@friendly
def weights_verify():
    """Check the sha256 of every locally available weights file."""
    from ..weights import WeightsError, cache_dir, load_registry, verify

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
    from ..weights import interpolate, write_release

    digest = write_release(interpolate(a, b, alpha, half), output)
    out_console.print(f"wrote {output} (sha256 {digest})")


@weights_app.command("release", cls=_Command)
@friendly
def weights_release(
    run: Path = typer.Argument(..., help="Training run folder (checkpoint.pt, config.json)."),
    tag: str = typer.Option(..., "--tag", help="MODEL@TAG, e.g. lite@everyday1; a tag is never reused."),
    current: bool = typer.Option(False, "--current", help="Point the plain name (faceblur-lite) at this tag."),
    fp32: bool = typer.Option(False, "--fp32", help="Store fp32 weights (default fp16, upcast on load)."),
    registry: Path | None = typer.Option(
        None, "--registry", help="Registry to add to (default: $FACEBLUR_REGISTRY, else the package's weights.toml)."
    ),
    docs: Path | None = typer.Option(Path("docs"), "--docs", help="Where docs/models/MODEL@TAG.md goes."),
    step: int | None = typer.Option(
        None, "--step", min=0, help="Release the run's snapshot of this step (train --snapshots), not its last state."
    ),
    shrink_sigma: float = typer.Option(
        0.0, "--shrink-sigma", min=0.0, help="Its error floor (holdout_probe.py sharp_rms): correction shrinkage on."
    ),
    flip_tta: bool = typer.Option(
        False, "--flip-tta", help="Run it with the mirrored-pass ensemble by default (measured that way)."
    ),
    shift_tta: int = typer.Option(
        0,
        "--shift-tta",
        min=0,
        max=MAX_SHIFT,
        help="Also average a pass shifted by this many pixels by default (0 = none).",
    ),
):
    """Release a training run as a tagged model: the weights file, its registry entry with lineage, a card stub."""
    from ..weights.release import release_run

    entry = release_run(
        run,
        tag,
        registry,
        half=not fp32,
        make_current=current,
        docs=docs,
        step=step,
        shrink_sigma=shrink_sigma,
        flip_tta=flip_tta,
        shift_tta=shift_tta,
    )
    out_console.print(
        f"released {entry['name']} (step {entry['step']}, sha256 {entry['sha256'][:16]}..., parent "
        f"{entry['parent'] or 'none'})" + (f"; {entry['name'].split('@')[0]} now points at it" if current else "")
    )


@weights_app.command("convert", cls=_Command)
@friendly
def weights_convert(
    source: str = typer.Argument(..., help="Model name or release file (e.g. a --snapshots file)."),
    output: Path = typer.Option(..., "-o", "--output", help="Release file to write (with OUTPUT.sha256)."),
    half: bool = typer.Option(False, "--half", help="Store fp16 weights (half the size; upcast on load)."),
):
    """Re-store a generator release as fp16 or fp32, keeping its config, step and provenance."""
    from ..weights import convert, write_release

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
    from ..weights import push

    info = push(run_dir, repo_id, private=private)
    out_console.print("add to weights.toml:\n" + "\n".join(f'{k} = "{v}"' for k, v in info.items()))
