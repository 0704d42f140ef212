"""``faceblur train``: options to :class:`faceblur_cli.train.TrainConfig`, then the trainer."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import Exit, _Command, app, friendly, out_console


@app.command(cls=_Command)
@friendly
def train(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None,
        "--config",
        help="Start from a run's config.json (every option from the file; options given here override it).",
    ),
    data: list[Path] = typer.Option(
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
        "real",
        "--degradation",
        help="Degradation mix: real (default: sharp, mild, defocus, paper ...) | everyday (the blur phones make) | "
        "paper.",
    ),
    degradation_set: str = typer.Option(
        "",
        "--degradation-set",
        help="Mix overrides, key=value,...: a component's share (sharp=0.2, mild=0) or a field (jpeg_prob=0.5).",
    ),
    noise_max: float | None = typer.Option(
        None, "--noise-max", min=0.0, help="Training noise sigma ~ U(0, this), 0-255 units (default: the mix's)."
    ),
    jpeg_prob: float | None = typer.Option(
        None, "--jpeg-prob", min=0.0, max=1.0, help="Share of blurred samples JPEG re-encoded (default: the mix's)."
    ),
    objective: str = typer.Option(
        "balanced",
        "--objective",
        help="balanced (weights act on each term's gradient at the output, relative to content) | paper (raw sum).",
    ),
    perceptual_weight: float | None = typer.Option(
        None, "--perceptual-weight", help="VGG19 perceptual weight (default: paper 10, balanced 0.25)."
    ),
    adversarial_weight: float | None = typer.Option(
        None, "--adversarial-weight", help="WGAN-GP adversarial weight (default: paper 1, balanced 0.05)."
    ),
    drift: float = typer.Option(1e-3, "--drift", min=0.0, help="Critic drift penalty on D(real)^2 (0: plain WGAN-GP)."),
    warmup_steps: int = typer.Option(
        0, "--warmup-steps", min=0, help="Steps of content (+perceptual) only for the generator; the critic trains."
    ),
    gan_ramp_steps: int = typer.Option(
        0, "--gan-ramp-steps", min=0, help="Then raise the adversarial weight linearly over this many steps."
    ),
    critic_lr: float | None = typer.Option(None, "--critic-lr", help="Critic learning rate (default: --lr)."),
    max_minutes: float | None = typer.Option(
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
    amp: bool = typer.Option(
        False, "--amp/--no-amp", help="bf16 autocast (mixed precision): for CUDA and CPUs with AVX512-BF16 or AMX."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/checkpoint.pt."),
    init_from: Path | None = typer.Option(
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
    refine_width: int | None = typer.Option(
        None, "--refine-width", min=0, help="Override the preset's refiner width (0: none)."
    ),
    refine_depth: int | None = typer.Option(
        None,
        "--refine-depth",
        min=1,
        help="Override the refiner's conv layers (preset: 3); with --init-from, layers the file lacks start as "
        "identity.",
    ),
    teacher: str | None = typer.Option(
        None,
        "--teacher",
        help="Distil: a generator (registry name or release file) whose output on each training input is a "
        "second content target.",
    ),
    teacher_weight: float = typer.Option(
        0.0,
        "--teacher-weight",
        min=0.0,
        help="Weight of the teacher target (balanced: its push relative to the sharp target's).",
    ),
    export: Path | None = typer.Option(
        None, "--export", help="Write the release file from OUT/checkpoint.pt to this path and stop (no training)."
    ),
    half: bool = typer.Option(False, "--half", help="With --export: store fp16 weights."),
):
    """Train the generator: content + perceptual + WGAN-GP, balanced or paper weighting (resumable, torchrun)."""
    from ..train import TrainConfig, Trainer, config_from_file
    from ..weights import export_generator

    if export is not None:
        digest = export_generator(out / "checkpoint.pt", export, half=half)
        out_console.print(f"{export}  sha256 {digest}")
        return
    if not data and config is None:
        raise ValueError("--data is required (a folder of sharp faces, or a synthesized pair folder)")
    cfg = TrainConfig(
        data=[str(d) for d in data or []],
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
        teacher=teacher,
        teacher_weight=teacher_weight,
        generator_overrides={
            k: v for k, v in (("refine_width", refine_width), ("refine_depth", refine_depth)) if v is not None
        },
    )
    if config is not None:  # the file's values, then only what was typed on this command line
        from dataclasses import asdict

        try:
            from typer._click.core import ParameterSource  # typer >= 0.29 vendors click
        except ImportError:  # pragma: no cover - older typer on click
            from click.core import ParameterSource  # type: ignore[no-redef,assignment]

        given = {
            k: v
            for k, v in asdict(cfg).items()
            if ctx.get_parameter_source(k) == ParameterSource.COMMANDLINE or (k == "generator_overrides" and v)
        }
        cfg = config_from_file(config, **given)
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
