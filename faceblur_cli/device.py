"""``--device auto|cpu|cuda`` -> torch.device, with a clear message when CUDA is asked for but absent."""

from __future__ import annotations

import os

import torch


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(
            f"--device {name}: no CUDA device is available (torch {torch.__version__}); use --device cpu"
        )
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise ValueError(f"--device {name!r}: choose auto, cpu or cuda")
    return torch.device(name)


def free_cores() -> int:
    """Cores not busy right now (cores minus the 1-minute load average), at least 1.

    On a machine already running other jobs, torch's default of one thread per core
    oversubscribes it and every thread waits on the others (measured: 10x slower
    beside two busy processes on 2 cores); asking only for the idle cores avoids that.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:
        busy = 0.0
    return max(1, min(cores, int(cores - busy + 0.5)))


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads: ``threads`` if given, else :func:`free_cores`; returns the number."""
    n = threads if threads else free_cores()
    if n < 1:
        raise ValueError(f"--threads {threads}: must be >= 1")
    torch.set_num_threads(n)
    return n


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 autocast runs natively here: CUDA, or a CPU with AVX512-BF16 or AMX.

    Elsewhere oneDNN emulates bf16; on a 2-core AMD EPYC (AVX2 only) a lite training step under
    ``--amp`` took ~12x as long as in fp32 (0.04 vs 0.47 it/s).
    """
    if device.type != "cpu":
        return True
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
