"""``faceblur benchmark``: the held-out protocols, printed as tables and written as results.json."""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer
from rich.table import Table

from ..ensemble import SHIFT
from .app import _Command, _progress, app, friendly, out_console
from .data import _parse_sizes


@app.command(cls=_Command)
@friendly
def benchmark(
    dataset: str = typer.Option(..., "--dataset", help="celeba | helen | a folder of sharp faces."),
    data_root: Path | None = typer.Option(
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
        "everyday (shake, streaks, defocus, Gaussian 5-17 px + noise + JPEG) | "
        "wild (faces in whole photos, detect mode).",
    ),
    wild_images: int = typer.Option(
        60, "--wild-images", min=1, help="Faces for the wild protocol (each pasted at 3 widths: 3 photos per face)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of image choice and test kernels."),
    noise: float = typer.Option(0.0, "--noise", min=0.0, help="Gaussian noise sigma on the blurry input."),
    holdout: bool = typer.Option(
        True, "--holdout/--all-images", help="Only faces of the held-out split (never trained on)."
    ),
    model: list[str] = typer.Option(["default"], "--model", "-m", help="Models to test (repeatable)."),
    backend: str = typer.Option("torch", "--backend", help="torch | onnx | onnx-int8 | auto (as deblur)."),
    flip_tta: bool = typer.Option(
        False,
        "--flip-tta",
        help="Also score each model with the mirrored-pass ensemble switched the other way from its default "
        "(rows NAME+flip, or NAME-flip for models that run it by default).",
    ),
    shift_tta: bool = typer.Option(
        False,
        "--shift-tta",
        help="Also score each model with the shifted-pass ensemble switched the other way from its default "
        f"(rows NAME+shift with a {SHIFT} px shift, or NAME-shift without).",
    ),
    shrink: bool | None = typer.Option(
        None, "--shrink/--no-shrink", help="Correction shrinkage for every model (default: each model's setting)."
    ),
    baselines: str = typer.Option(
        "blurry,wiener,rl", "--baselines", help="Comma list of blurry, wiener, rl (or none)."
    ),
    out: Path = typer.Option(Path("benchmark_out"), "--out", "-o", help="Output folder."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda."),
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU threads (default: the idle cores)."),
    vgg_distance: bool = typer.Option(
        False, "--vgg-distance", help="Also score VGG19 relu3_1 feature distance (~0.4 s per image on a CPU)."
    ),
    real: Path | None = typer.Option(
        None,
        "--real",
        help="Also evaluate real blur, as aligned input and with face detection + paste-back: a paired folder "
        "(blurry/ + sharp/) or unpaired images (no-reference sharpness).",
    ),
):
    """PSNR/SSIM per kernel size for models vs baselines: the paper's protocol (Table 1), mild blur, sharp faces."""

    from .. import benchmark as bm
    from ..deblurrer import Deblurrer
    from ..degradations import PROTOCOLS
    from ..imageio import list_images

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
    if holdout:
        files = bm.reported_faces(folder, num_images, seed)
        if not files:
            raise ValueError(f"{folder}: no held-out images (pass --all-images for a folder of test faces)")
    else:
        files = bm.pick_images(list_images(folder), num_images, seed)
    engines = {}
    for m in model:
        eng = Deblurrer(m, device=device, backend=backend, shrink=shrink, threads=threads)
        engines[eng.model_name] = eng
        if flip_tta:
            other = not eng.flip_tta
            engines[eng.model_name + ("+flip" if other else "-flip")] = Deblurrer(
                m, device=device, backend=backend, flip_tta=other, shrink=shrink, threads=threads
            )
        if shift_tta:
            moved = 0 if eng.shift_tta else SHIFT
            engines[eng.model_name + ("+shift" if moved else "-shift")] = Deblurrer(
                m, device=device, backend=backend, shift_tta=moved, shrink=shrink, threads=threads
            )

    @contextlib.contextmanager
    def bar(label: str, total: int):
        with _progress(f"[bold]{label}", rate=False) as p:
            task = p.add_task("cases", total=total)
            yield lambda: p.advance(task)

    def show(pname: str, n: int, sizes, results: dict) -> None:
        _print_protocol(str(dataset if dataset in bm.DATASETS else folder), pname, n, sizes, results)

    report, examples = bm.run(
        dataset if dataset in bm.DATASETS else str(folder),
        files,
        engines,
        bm.RunOptions(
            protocols=protocol_list,
            paper_sizes=size_list,
            seed=seed,
            noise=noise,
            baselines=chosen,
            wild_images=wild_images,
            vgg=vgg_distance,
            real=real,
        ),
        progress=bar,
        on_protocol=show,
    )
    if report.real is not None:
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
