"""GAN training of the generator (WGAN-GP, PatchGAN critic), resumable, single process or torchrun.

Layout of a run folder::

    runs/NAME/config.json     resolved TrainConfig + environment
    runs/NAME/checkpoint.pt   latest state (atomic write): nets, optimisers, step, RNG
    runs/NAME/train.csv       losses every ``log_every`` steps
    runs/NAME/val.csv         held-out PSNR/SSIM (model and blurry input) every ``val_every`` steps

Exact resume: every training sample is a pure function of (seed, sample index)
(see :mod:`faceblur_cli.data`), and the checkpoint carries torch's RNG state
(used only for the gradient-penalty interpolation), so a resumed run computes
the same batches and the same updates as an uninterrupted one.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Sampler

from .blur import degrade
from .data import (
    OnTheFlyBlur,
    PairFolder,
    gather_face_files,
    is_pair_folder,
    split_files,
    to_tensor,
    to_uint8,
)
from .degradations import EVERYDAY_KINDS, MILD_BANK_SEED_OFFSET, PROTOCOLS, Degrader, everyday_degrade, get_mix
from .device import pick_device
from .ema import WeightEMA
from .imageio import read_rgb
from .kernels import PAPER_SIZES, KernelBank
from .losses import CONTENT_LOSSES, LossWeights, VGGPerceptual
from .metrics import detail_ratio, psnr, ssim
from .models.critic import PatchCritic
from .objective import DEFAULT_WEIGHTS, OBJECTIVES, Objective, gan_step
from .models.generator import Generator, preset
from .weights import (
    RELEASE_FORMAT,
    atomic_torch_save,
    load_checkpoint,
    release_of,
    released_weights,
    resolve,
    write_release,
)

#: Seeds kept apart from training so validation/benchmark blur never equals a training sample.
VAL_KERNEL_SEED = 1_000_003


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


class StepBatches(Sampler):
    """Yields, for each step from ``start``, the sample indices this rank trains on."""

    def __init__(self, start: int, steps: int, batch: int, rank: int = 0, world: int = 1):
        self.start, self.steps, self.batch, self.rank, self.world = start, steps, batch, rank, world

    def __iter__(self):
        for step in range(self.start, self.steps):
            base = (step * self.world + self.rank) * self.batch
            yield list(range(base, base + self.batch))

    def __len__(self) -> int:
        return max(0, self.steps - self.start)


def validation_set(
    files: list[Path], count: int, seed: int = VAL_KERNEL_SEED
) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Fixed (sharp, blurry, kernel size) triples from held-out files, cycling over the paper's sizes."""
    return _protocol_set(files, count, PAPER_SIZES, seed)


def _protocol_set(files: list[Path], count: int, sizes: tuple[int, ...], seed: int) -> list:
    rng = np.random.default_rng(seed)
    sizes = tuple(k for k in sizes if k > 0)
    bank = KernelBank.generate(len(sizes) * 4, sizes, seed) if sizes else None
    picked = sorted(files)[:: max(1, len(files) // max(count, 1))][:count]
    out = []
    for i, f in enumerate(picked):
        sharp = read_rgb(f)
        if bank is None:  # the sharp protocol: the face itself
            out.append((sharp, sharp, 0))
            continue
        size = sizes[i % len(sizes)]
        kernel = bank.kernels[int(rng.choice(bank.indices_of_size(size)))]
        out.append((sharp, degrade(sharp, kernel), size))
    return out


def validation_sets(files: list[Path], count: int, seed: int = VAL_KERNEL_SEED) -> dict[str, list]:
    """Held-out sets per protocol: ``paper`` (13-27 px, ``count`` faces), ``mild`` (5-11 px) and
    ``sharp`` (no blur; half as many each), so a run shows at once whether it harms clean faces."""
    half = max(1, count // 2)
    return {
        "paper": validation_set(files, count, seed),
        "mild": _protocol_set(files, half, (5, 7, 9, 11), seed + MILD_BANK_SEED_OFFSET),
        "sharp": _protocol_set(files[1:], half, (0,), seed),
        "everyday": everyday_set(files[2:], half, seed),
    }


def everyday_set(files: list[Path], count: int, seed: int) -> list:
    """Held-out faces blurred as phones blur them (:func:`degradations.everyday_degrade`), cycling over
    kinds and sizes; (sharp, blurry, size) as the other validation sets."""
    sizes = PROTOCOLS["everyday"]
    picked = sorted(files)[:: max(1, len(files) // max(count, 1))][:count]
    out = []
    for i, f in enumerate(picked):
        sharp = read_rgb(f)
        kind, size = EVERYDAY_KINDS[i % len(EVERYDAY_KINDS)], sizes[(i // len(EVERYDAY_KINDS)) % len(sizes)]
        blurry, _ = everyday_degrade(sharp, kind, size, np.random.default_rng([seed, i, size]))
        out.append((sharp, blurry, size))
    return out


def init_generator(generator: torch.nn.Module, path: str | Path) -> None:
    """Load generator weights from a training checkpoint or a release file, to fine-tune or grow it.

    Every weight in the file must fit the model; the model may have more, but only in the
    refiner, and growing starts from exactly the old model's output: a new refiner's last conv
    is zero-initialised, and refiner layers added to a trained one (``refine_depth``) start as
    identity convs (they follow a ReLU, so their input is non-negative and passes unchanged).
    """
    blob = load_checkpoint(path)
    state = released_weights(blob) if isinstance(blob, dict) and "generator" in blob else None
    if state is None and isinstance(blob, dict) and blob.get("format") == RELEASE_FORMAT:
        state = blob["state_dict"]
    if state is None:
        raise ValueError(f"{path}: neither a training checkpoint nor a faceblur release file")
    try:
        missing, unexpected = generator.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    except RuntimeError as e:  # shape mismatch: a different width / preset
        raise ValueError(f"{path}: weights do not fit this generator ({str(e).splitlines()[-1].strip()})") from None
    extra = [k for k in missing if not k.startswith("refine.")]
    if unexpected or extra:
        raise ValueError(
            f"{path}: weights do not fit this generator (missing {extra[:3]}, unexpected {unexpected[:3]})"
        )
    if any(k.startswith("refine.") for k in state):  # a trained refiner made deeper
        for name, layer in generator.refine.body.named_children():
            if f"refine.body.{name}.weight" in missing:
                torch.nn.init.dirac_(layer.weight)
                torch.nn.init.zeros_(layer.bias)


@torch.no_grad()
def evaluate(generator: torch.nn.Module, val: list, device: torch.device) -> dict:
    """Mean PSNR/SSIM (and detail ratio) of the model and of the blurry input over a validation set."""
    was_training = generator.training
    generator.eval()
    m_p, m_s, m_d, b_p, b_s = [], [], [], [], []
    for sharp, blurry, _ in val:
        out = to_uint8(generator(to_tensor(blurry)[None].to(device))[0])
        m_p.append(psnr(sharp, out))
        m_s.append(ssim(sharp, out))
        m_d.append(detail_ratio(sharp, out))
        b_p.append(psnr(sharp, blurry))
        b_s.append(ssim(sharp, blurry))
    generator.train(was_training)
    return {
        "psnr": float(np.mean(m_p)),
        "ssim": float(np.mean(m_s)),
        "detail": float(np.mean(m_d)),
        "blurry_psnr": float(np.mean(b_p)),
        "blurry_ssim": float(np.mean(b_s)),
    }


def evaluate_protocols(generator: torch.nn.Module, sets: dict[str, list], device: torch.device) -> dict:
    """:func:`evaluate` per protocol, flattened: the paper set keeps the old column names (psnr, ...),
    the others are prefixed (mild_psnr, sharp_psnr, ...)."""
    row: dict = {}
    for name, val in sets.items():
        if not val:
            continue
        res = evaluate(generator, val, device)
        if name == "sharp":  # the input is the truth: only the model's PSNR/SSIM mean anything
            res = {"psnr": min(res["psnr"], 100.0), "ssim": res["ssim"]}
        row.update({(k if name == "paper" else f"{name}_{k}"): v for k, v in res.items()})
    return row


def _allreduce_grads(module: torch.nn.Module) -> None:
    """Average gradients across ranks by hand: DDP does not support the GP's double backward."""
    world = dist.get_world_size()
    for p in module.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= world


class Trainer:
    """Builds data, nets and optimisers from a :class:`TrainConfig`; :meth:`run` trains to ``steps``."""

    def __init__(self, cfg: TrainConfig, resume: bool = False, console=None):
        self.cfg, self.console = cfg, console
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        self.device = pick_device(cfg.device)
        if self.distributed:
            if not dist.is_initialized():
                dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
            self.rank, self.world = dist.get_rank(), dist.get_world_size()
            if self.device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        else:
            self.rank, self.world = 0, 1
        self.out = Path(cfg.out)
        self.ckpt_path = self.out / "checkpoint.pt"
        torch.manual_seed(cfg.seed)

        # Data: face folders (blur on the fly) or synthesized pair folders.
        pair_dirs = [d for d in cfg.data if is_pair_folder(d)]
        face_dirs = [d for d in cfg.data if not is_pair_folder(d)]
        self.val = []
        if face_dirs:
            train_files, holdout = split_files(gather_face_files(face_dirs), cfg.holdout_fraction)
            self.degrader = Degrader(cfg.mix)
            self.dataset = OnTheFlyBlur(train_files, self.degrader, cfg.crop, cfg.seed)
            self.n_train, self.n_holdout = len(train_files), len(holdout)
            if self.rank == 0 and cfg.val_images > 0:
                self.val = validation_sets(holdout, cfg.val_images)
        else:
            if len(pair_dirs) != 1:
                raise ValueError("give one synthesized pair folder (blurry/ + sharp/) or face folders")
            self.dataset = PairFolder(pair_dirs[0], cfg.crop, cfg.seed)
            self.n_train, self.n_holdout = len(self.dataset.blurry), 0

        learning_rate(cfg, 0)  # an unknown schedule fails here, not after the data workers start
        if cfg.objective not in OBJECTIVES:
            raise ValueError(f"unknown --objective {cfg.objective!r}; choose from {OBJECTIVES}")
        if cfg.content_loss not in CONTENT_LOSSES:
            raise ValueError(f"unknown --content-loss {cfg.content_loss!r}; choose from {CONTENT_LOSSES}")
        self.generator = Generator(preset(cfg.preset, **cfg.generator_overrides)).to(self.device)
        self.critic = PatchCritic(cfg.critic_width).to(self.device)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), cfg.lr, betas=cfg.betas)
        self.opt_d = torch.optim.Adam(self.critic.parameters(), cfg.critic_lr or cfg.lr, betas=cfg.betas)
        self.objective = Objective(cfg.loss_weights, cfg.objective)
        self.perceptual = None
        if cfg.loss_weights.perceptual:
            vgg_path, _ = resolve(cfg.vgg_weights)
            self.perceptual = VGGPerceptual(vgg_path, cfg.vgg_layer).to(self.device)
        self.step = 0
        saved = {}
        if resume and self.ckpt_path.exists():
            saved = self._load(self.ckpt_path)
        elif cfg.init_from:
            init_generator(self.generator, cfg.init_from)
        self.ema = WeightEMA(self.generator, cfg.ema) if cfg.ema else None
        if self.ema is not None and "generator_ema" in saved:  # else it starts from the weights resumed
            self.ema.load_state_dict(saved["generator_ema"])
        self.model = self.generator
        if self.distributed:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.generator, device_ids=ids)

    # -- checkpoints -------------------------------------------------------------------------
    def generator_state(self) -> dict:
        """What a release needs (:func:`weights.release_of`): step, generator weights (and their
        average with ``--ema``, which is what gets released), config, preset."""
        s = {
            "step": self.step,
            "generator": self.generator.state_dict(),
            "generator_config": self.generator.config.to_dict(),
            "preset": self.cfg.preset,
        }
        if self.ema is not None:
            s["generator_ema"] = self.ema.state_dict()
        return s

    @property
    def release_model(self) -> torch.nn.Module:
        """The weights a release of this run holds: the average with ``--ema``, else the raw ones."""
        return self.generator if self.ema is None else self.ema.model

    def state(self) -> dict:
        s = {
            **self.generator_state(),
            "critic": self.critic.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "objective": self.objective.state_dict(),
            "torch_rng": torch.get_rng_state(),
        }
        if torch.cuda.is_available():
            s["cuda_rng"] = torch.cuda.get_rng_state_all()
        return s

    def save(self) -> None:
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            atomic_torch_save(self.state(), self.ckpt_path)

    def _load(self, path: Path) -> dict:
        s = load_checkpoint(path)
        self.generator.load_state_dict(s["generator"])
        self.critic.load_state_dict(s["critic"])
        self.opt_g.load_state_dict(s["opt_g"])
        self.opt_d.load_state_dict(s["opt_d"])
        self.step = int(s["step"])
        self.objective.load_state_dict(s.get("objective", {}))
        # The run's --lr / --lr-schedule win over the saved rate, so a resumed run can change them.
        self._set_lr()
        torch.set_rng_state(s["torch_rng"])
        if "cuda_rng" in s and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(s["cuda_rng"])
        return s

    def _set_lr(self) -> float:
        """Put both optimisers at the schedule's rate for the current step (the critic's scaled by
        critic_lr / lr)."""
        lr = learning_rate(self.cfg, self.step)
        critic = lr if self.cfg.critic_lr is None else lr * self.cfg.critic_lr / self.cfg.lr
        for opt, rate in ((self.opt_g, lr), (self.opt_d, critic)):
            for group in opt.param_groups:
                group["lr"] = rate
        return lr

    # -- logging -----------------------------------------------------------------------------
    def _print(self, msg: str) -> None:
        if self.rank == 0 and self.console is not None:
            self.console.print(msg)

    def _append_csv(self, name: str, row: dict) -> None:
        if self.rank != 0:
            return
        path = self.out / name
        if path.exists():
            with open(path, newline="") as f:
                header = next(csv.reader(f), [])
            if set(row) - set(header):  # a resumed run logs a new column: rewrite with the union
                with open(path, newline="") as f:
                    old = list(csv.DictReader(f))
                header += [k for k in row if k not in header]
                with open(path, "w", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=header, restval="")
                    w.writeheader()
                    w.writerows(old)
        else:
            header = list(row)
            with open(path, "w", newline="") as f:
                csv.DictWriter(f, fieldnames=header).writeheader()
        with open(path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=header, restval="").writerow(row)

    def _write_config(self) -> None:
        if self.rank != 0:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        env = {
            "torch": torch.__version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "device": str(self.device),
            "world_size": self.world,
            "threads": torch.get_num_threads(),
            "train_images": self.n_train,
            "holdout_images": self.n_holdout,
        }
        with open(self.out / "config.json", "w") as f:
            json.dump({"config": asdict(self.cfg), "environment": env}, f, indent=2)

    # -- the loop ----------------------------------------------------------------------------
    def run(self) -> dict:
        """Train until ``cfg.steps``; Ctrl-C / SIGTERM save a checkpoint and return early."""
        cfg = self.cfg
        self._write_config()
        loader = DataLoader(
            self.dataset,
            batch_sampler=StepBatches(self.step, cfg.steps, cfg.batch, self.rank, self.world),
            num_workers=cfg.workers,
            persistent_workers=False,
            prefetch_factor=4 if cfg.workers else None,
            # Own generator: creating the iterator must not draw from the global RNG
            # (that would shift the gradient-penalty draws after a resume).
            generator=torch.Generator().manual_seed(cfg.seed),
            worker_init_fn=_ignore_stop_signals,
        )
        reduce = _allreduce_grads if self.distributed else None
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.amp)
        stop = _StopRequest() if self.rank == 0 else None
        t0, t_log, logs, interrupted = time.time(), time.time(), {}, False
        start_step = self.step
        last = {}
        try:
            for blurry, sharp in loader:
                blurry, sharp = blurry.to(self.device, non_blocking=True), sharp.to(self.device, non_blocking=True)
                lr = self._set_lr()
                with autocast:
                    logs = gan_step(
                        self.model,
                        self.critic,
                        self.opt_g,
                        self.opt_d,
                        blurry,
                        sharp,
                        self.objective,
                        self.perceptual,
                        train_critic=self.objective.weights.adversarial > 0,
                        adversarial_scale=cfg.adversarial_scale(self.step),
                        reduce_critic_grads=reduce,
                    )
                if self.ema is not None:
                    self.ema.update(self.generator)
                self.step += 1
                if self.step == start_step + 1:
                    self._print("term scales at the first step: " + scales_line(logs))
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    rate = cfg.log_every / max(time.time() - t_log, 1e-9)
                    t_log = time.time()
                    self._append_csv(
                        "train.csv", {"step": self.step, "time_s": round(time.time() - t0, 1), "lr": lr, **logs}
                    )
                    self._print(
                        f"step {self.step:>7}/{cfg.steps}  {rate:5.2f} it/s  "
                        + "  ".join(f"{k} {v:.4g}" for k, v in logs.items())
                    )
                if self.step % cfg.ckpt_every == 0:
                    self.save()
                out_of_time = cfg.max_minutes is not None and time.time() - t0 > 60 * cfg.max_minutes
                if self.val and (self.step % cfg.val_every == 0 or self.step == cfg.steps or out_of_time):
                    last = evaluate_protocols(self.release_model, self.val, self.device)
                    self._append_csv("val.csv", {"step": self.step, **last})
                    self._print(f"[bold]val[/] step {self.step}: {format_val(last)}")
                    if cfg.snapshots and self.rank == 0:
                        write_release(release_of(self.generator_state()), self.out / "snapshots" / f"step_{self.step:07d}.pth")
                if stop is not None and stop.requested:
                    raise KeyboardInterrupt
                if out_of_time:
                    self._print(f"time limit ({cfg.max_minutes} min) reached at step {self.step}")
                    break
        except KeyboardInterrupt:
            interrupted = True
            self._print(f"interrupted at step {self.step}: saving checkpoint")
        finally:
            if stop is not None:
                stop.restore()
        self.save()
        return {
            "step": self.step,
            "steps_run": self.step - start_step,
            "seconds": time.time() - t0,
            "interrupted": interrupted,
            "losses": logs,
            "val": last,
        }


def scales_line(logs: dict) -> str:
    """Each term's raw value and the norm of its gradient at the output image, for the console."""
    terms = [k for k in ("content", "perceptual", "adversarial") if k in logs]
    return ", ".join(f"{k} {logs[k]:.4g} (|grad| {logs[f'gnorm_{k}']:.3g})" for k in terms)


def format_val(v: dict) -> str:
    """One console line for a validation row: gains per protocol and the sharp-face PSNR."""
    parts = [f"paper {v['psnr']:.2f} dB / {v['ssim']:.4f} (gain {v['psnr'] - v['blurry_psnr']:+.2f})"]
    if "detail" in v:
        parts.append(f"detail {v['detail']:.2f}")
    if "mild_psnr" in v:
        parts.append(f"mild gain {v['mild_psnr'] - v['mild_blurry_psnr']:+.2f}")
    if "everyday_psnr" in v:
        parts.append(f"everyday gain {v['everyday_psnr'] - v['everyday_blurry_psnr']:+.2f}")
    if "sharp_psnr" in v:
        parts.append(f"sharp {v['sharp_psnr']:.2f} dB")
    return "  ".join(parts)


class _StopRequest:
    """Ctrl-C / SIGTERM ask the loop to stop at the next step boundary; a second one stops at once.

    Raising straight from the handler could land while the main process is
    receiving a batch's shared-memory handle from a data worker and leave the
    worker printing a broken-handshake traceback; a flag checked between steps
    never interrupts that exchange.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = False
        self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def restore(self) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)


def _ignore_stop_signals(worker_id: int) -> None:
    """Data workers leave Ctrl-C / SIGTERM to the main process.

    Otherwise ``pkill -f "faceblur train"`` or a terminal Ctrl-C can kill a worker
    first, and the main process dies on "worker killed" before it saves.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
