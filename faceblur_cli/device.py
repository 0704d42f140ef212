"""``--device auto|cpu|cuda`` -> torch.device, with a clear message when CUDA is asked for but absent."""

from __future__ import annotations

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
