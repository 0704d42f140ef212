"""What a training run is: its options (:class:`TrainConfig`), its learning-rate schedule, and the
provenance recorded beside them, so a run can be reproduced from its folder alone
(``faceblur train --config runs/NAME/config.json``)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from .degradations import get_mix
from .losses import LossWeights
from .objective import DEFAULT_WEIGHTS
from .weights import sha256_of


def provenance(init_from: str | None) -> dict:
    """What a run needs to be reproduced beyond its options: the code's commit (and whether the tree
    had uncommitted changes) and the sha256 of the file it started from."""
    import subprocess

    out: dict = {"commit": None, "dirty": None, "init_from_sha256": None}
    repo = Path(__file__).resolve().parents[1]
    try:
        out["commit"] = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        out["dirty"] = bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass  # an installed package: no repository to name
    if init_from and Path(init_from).is_file():
        out["init_from_sha256"] = sha256_of(init_from)
    return out


def config_from_file(path: str | Path, **overrides) -> TrainConfig:
    """A :class:`TrainConfig` from a run's ``config.json`` (or a plain JSON dict of its fields),
    ``overrides`` applied: ``faceblur train --config runs/x/config.json --out runs/y`` reruns x."""
    blob = json.loads(Path(path).read_text())
    fields_ = blob.get("config", blob) if isinstance(blob, dict) else None
    if not isinstance(fields_, dict):
        raise ValueError(f"{path}: not a training config (expected a JSON object)")
    known = set(TrainConfig.__dataclass_fields__)
    unknown = set(fields_) - known
    if unknown:
        raise ValueError(f"{path}: unknown training config keys {sorted(unknown)}")
    merged = {**fields_, **overrides}
    if "betas" in merged:
        merged["betas"] = tuple(merged["betas"])
    return TrainConfig(**merged)


@dataclass
class TrainConfig:
    data: list[str]
    out: str
    preset: str = "lite"
    steps: int = 1000
    batch: int = 16
    crop: int = 150
    lr: float = 1e-4
    lr_schedule: str = "constant"  # or "cosine": lr -> lr/100 over `steps` (a pure function of the step)
    betas: tuple[float, float] = (0.5, 0.999)
    content_weight: float = 1.0
    content_loss: str = "mse"  # paper: MSE; see losses.CONTENT_LOSSES
    perceptual_weight: float | None = None  # None = the objective's default (objective.DEFAULT_WEIGHTS)
    adversarial_weight: float | None = None
    gp_weight: float = 10.0
    objective: str = "balanced"  # how the terms combine: see objective.py ("paper" = raw weighted sum)
    drift: float = 1e-3  # critic drift penalty (0 = the paper's plain WGAN-GP)
    warmup_steps: int = 0  # generator sees content (+ perceptual) only; the critic already trains
    gan_ramp_steps: int = 0  # then the adversarial weight rises linearly over this many steps
    critic_lr: float | None = None  # None = lr
    critic_width: int = 64
    vgg_layer: str = "relu3_1"
    vgg_weights: str = "vgg19-conv3_1"
    kernels: int = 800
    kernel_seed: int = 0
    seed: int = 0
    degradation: str = "real"  # a named mix of degradations.MIXES ("paper" = the paper's protocol)
    degradation_set: str = ""  # key=value overrides of the mix, e.g. "sharp=0.2,jpeg_prob=0.5"
    noise_max: float | None = None  # None = the mix's own
    jpeg_prob: float | None = None
    holdout_fraction: float = 0.1
    val_every: int = 500
    val_images: int = 32
    log_every: int = 50
    ckpt_every: int = 200
    snapshots: bool = False  # also write the generator as a release file at every validation
    workers: int = 1
    device: str = "auto"
    amp: bool = False
    generator_overrides: dict = field(default_factory=dict)
    init_from: str | None = None  # start the generator from these weights (a checkpoint or a release)
    ema: float = 0.0  # decay of the weight average that is validated and released (0 = the raw weights)
    max_minutes: float | None = None  # stop (and save) after this wall time, whatever the step
    teacher: str | None = None  # distillation: a generator (registry name or release file) whose output ...
    teacher_weight: float = 0.0  # ... is a second content target with this weight (objective.py)

    @property
    def mix(self):
        fixed = {"paper_kernels": self.kernels, "kernel_seed": self.kernel_seed}
        fixed.update({k: v for k, v in (("noise_max", self.noise_max), ("jpeg_prob", self.jpeg_prob)) if v is not None})
        return get_mix(self.degradation, self.degradation_set, **fixed)

    @property
    def loss_weights(self) -> LossWeights:
        perceptual, adversarial = DEFAULT_WEIGHTS[self.objective]
        return LossWeights(
            self.content_weight,
            perceptual if self.perceptual_weight is None else self.perceptual_weight,
            adversarial if self.adversarial_weight is None else self.adversarial_weight,
            self.gp_weight,
            self.content_loss,
            self.drift,
            self.teacher_weight if self.teacher else 0.0,
        )

    def adversarial_scale(self, step: int) -> float:
        """0 during the warm-up, then a linear ramp to 1 over ``gan_ramp_steps``."""
        if step < self.warmup_steps:
            return 0.0
        if self.gan_ramp_steps <= 0:
            return 1.0
        return min(1.0, (step - self.warmup_steps + 1) / self.gan_ramp_steps)


LR_SCHEDULES = ("constant", "cosine")


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Learning rate at ``step``. Cosine decays to lr/100 by ``cfg.steps``: a small net trained at a
    fixed rate plateaus at the rate's noise floor, and decay is where most of the last dB comes from.
    A function of the step alone, so resuming reproduces it exactly."""
    if cfg.lr_schedule == "constant":
        return cfg.lr
    if cfg.lr_schedule == "cosine":
        t = min(step / max(cfg.steps, 1), 1.0)
        return cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))
    raise ValueError(f"unknown --lr-schedule {cfg.lr_schedule!r}; choose from {LR_SCHEDULES}")
