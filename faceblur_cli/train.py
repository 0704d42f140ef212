"""GAN training of the generator (WGAN-GP, PatchGAN critic), resumable, single process or torchrun.

Layout of a run folder::

    runs/NAME/config.json     resolved TrainConfig + environment (train_config.py); resumes add config.resume-N.json
    runs/NAME/train.log       the console lines, plain text
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
import logging
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Sampler

from .data import (
    OnTheFlyBlur,
    PairFolder,
    gather_face_files,
    is_pair_folder,
    split_files,
)
from .degradations import Degrader
from .device import native_bf16, pick_device
from .ema import WeightEMA
from .evaluation import evaluate_protocols, format_val, validation_sets
from .losses import CONTENT_LOSSES, VGGPerceptual
from .models.critic import PatchCritic
from .models.generator import Generator, preset
from .objective import OBJECTIVES, Objective, gan_step
from .signals import StopRequest, ignore_stop_signals
from .train_config import LR_SCHEDULES, TrainConfig, config_from_file, learning_rate, provenance  # noqa: F401
from .weights import (
    RELEASE_FORMAT,
    atomic_torch_save,
    load_checkpoint,
    load_generator,
    release_of,
    released_weights,
    resolve,
    write_release,
)


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
        body: torch.nn.Module = generator.refine.body  # type: ignore[union-attr,assignment]
        for name, layer in body.named_children():
            if f"refine.body.{name}.weight" in missing:
                torch.nn.init.dirac_(layer.weight)  # type: ignore[arg-type]
                torch.nn.init.zeros_(layer.bias)  # type: ignore[arg-type]


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
        self._log: logging.Logger | None = None  # created on the first line (rank 0 only)
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        self.device = pick_device(cfg.device)
        self._owns_group = False  # a process group we created is destroyed at the end of run()
        if self.distributed:
            if not dist.is_initialized():
                dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
                self._owns_group = True
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
        self.val: dict[str, list] = {}
        if face_dirs:
            train_files, holdout = split_files(gather_face_files(face_dirs), cfg.holdout_fraction)
            self.degrader = Degrader(cfg.mix)
            self.dataset: OnTheFlyBlur | PairFolder = OnTheFlyBlur(train_files, self.degrader, cfg.crop, cfg.seed)
            self.n_train, self.n_holdout = len(train_files), len(holdout)
            if self.rank == 0 and cfg.val_images > 0:
                self.val = validation_sets(holdout, cfg.val_images)
        else:
            if len(pair_dirs) != 1:
                raise ValueError("give one synthesized pair folder (blurry/ + sharp/) or face folders")
            pairs = PairFolder(pair_dirs[0], cfg.crop, cfg.seed)
            self.dataset = pairs
            self.n_train, self.n_holdout = len(pairs.blurry), 0

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
        self.teacher = None  # distillation: its outputs are a second content target (objective.py)
        if cfg.teacher_weight and not cfg.teacher:
            raise ValueError("--teacher-weight needs --teacher (a registry name or release file)")
        if cfg.teacher and cfg.teacher_weight:
            self.teacher = load_generator(cfg.teacher).to(self.device).requires_grad_(False)
        self.step = 0
        saved = {}
        if resume and self.ckpt_path.exists():
            saved = self._load(self.ckpt_path)
        elif cfg.init_from:
            init_generator(self.generator, cfg.init_from)
        self.ema = WeightEMA(self.generator, cfg.ema) if cfg.ema else None
        if self.ema is not None and "generator_ema" in saved:  # else it starts from the weights resumed
            self.ema.load_state_dict(saved["generator_ema"])
        self.model: torch.nn.Module = self.generator
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
        """One progress line: to ``OUT/train.log`` (plain text, always) and to the console (rich)."""
        if self.rank != 0:
            return
        if self._log is None:
            self._log = logging.getLogger(f"faceblur.train.{id(self)}")
            self._log.setLevel(logging.INFO)
            self._log.propagate = False
            self.out.mkdir(parents=True, exist_ok=True)
            file = logging.FileHandler(self.out / "train.log", encoding="utf-8")
            file.setFormatter(_PlainFormatter("%(asctime)s %(message)s"))
            self._log.addHandler(file)
            if self.console is not None:
                from rich.logging import RichHandler

                self._log.addHandler(RichHandler(console=self.console, show_time=False, show_path=False, markup=True))
        self._log.info(msg)

    def _close_log(self) -> None:
        """Close the run's log handlers (the file stays complete; no handle leaks across runs in one process)."""
        for h in list(self._log.handlers if self._log else []):
            h.close()
            self._log.removeHandler(h)  # type: ignore[union-attr]
        self._log = None

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
        env.update(provenance(self.cfg.init_from))
        if self.teacher is not None:  # load_generator verified and recorded it
            env["teacher_sha256"] = self.teacher.sha256
        # A resume never overwrites what the run started with: each later start gets its own file.
        path, n = self.out / "config.json", 1
        while path.exists():
            path, n = self.out / f"config.resume-{n}.json", n + 1
        with open(path, "w") as f:
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
            worker_init_fn=ignore_stop_signals,
        )
        reduce = _allreduce_grads if self.distributed else None
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.amp)
        if cfg.amp and not native_bf16(self.device):
            self._print(
                "warning: --amp on a CPU without native bf16 (AVX512-BF16 or AMX): emulated bf16 "
                "ran ~12x slower per step than fp32 on an AVX2-only CPU; train with --no-amp"
            )
        stop = StopRequest() if self.rank == 0 else None
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
                        teacher=self.teacher,
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
                        write_release(
                            release_of(self.generator_state()), self.out / "snapshots" / f"step_{self.step:07d}.pth"
                        )
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
        self._close_log()
        if self._owns_group:
            # left to the interpreter's exit, gloo's threads can abort a rank ("terminate called
            # without an active exception") after a successful run
            dist.destroy_process_group()
            self._owns_group = False
        return {
            "step": self.step,
            "steps_run": self.step - start_step,
            "seconds": time.time() - t0,
            "interrupted": interrupted,
            "losses": logs,
            "val": last,
        }


class _PlainFormatter(logging.Formatter):
    """train.log is plain text: the console's rich markup ([bold]...[/]) is dropped."""

    def format(self, record: logging.LogRecord) -> str:
        from rich.text import Text

        record = logging.makeLogRecord(
            {**record.__dict__, "msg": Text.from_markup(record.getMessage()).plain, "args": ()}
        )
        return super().format(record)


def scales_line(logs: dict) -> str:
    """Each term's raw value and the norm of its gradient at the output image, for the console."""
    terms = [k for k in ("content", "teacher", "perceptual", "adversarial") if k in logs]
    return ", ".join(f"{k} {logs[k]:.4g} (|grad| {logs[f'gnorm_{k}']:.3g})" for k in terms)
