"""Networks: the two-stage generator and the PatchGAN critic."""

from .critic import PatchCritic
from .generator import PRESETS, Generator, GeneratorConfig, preset

__all__ = ["Generator", "GeneratorConfig", "PRESETS", "preset", "PatchCritic"]
