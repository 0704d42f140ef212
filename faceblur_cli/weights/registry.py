"""The registry: ``weights.toml`` names -> specs, sha256 checks and the local cache (the bottom layer:
no torch loading, no network)."""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import torch

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # faceblur_cli/: weights.toml, assets/


REGISTRY_FILE = PACKAGE_DIR / "weights.toml"


class WeightsError(Exception):
    """Weights that cannot be found, verified or loaded; the message is one line for the user."""


@dataclass(frozen=True)
class WeightSpec:
    """One ``weights.toml`` entry."""

    name: str
    kind: str = "generator"
    description: str = ""
    filename: str = ""
    sha256: str = ""
    size: int = 0
    license: str = ""
    source: str = ""
    preset: str = ""
    repo_id: str = ""
    revision: str = ""
    bundled: str = ""
    default: bool = False  # the CPU default (and the default everywhere without a gpu_default)
    gpu_default: bool = False  # what --model auto picks when CUDA is present
    flip_tta: bool = False  # inference default: average with a mirrored pass (ensemble.py)
    shift_tta: int = 0  # ... and with a pass shifted by this many pixels (0 = none; ensemble.py)
    shrink_sigma: float = 0.0  # the model's error floor in 8-bit levels; > 0: shrink by default (shrinkage.py)
    training: str = ""
    metrics: dict = field(default_factory=dict)
    built_from: str = ""  # exports (kind onnx-int8): sha256 of the generator release they were made from
    alias: str = ""  # a plain name (faceblur-lite) names a tagged release (faceblur-lite@p60): its roles, their file
    parent: str = ""  # lineage of a tagged release: the tag it was fine-tuned from,
    run: str = ""  # ... its training run folder,
    step: int = 0  # ... the step released,
    mix: str = ""  # ... the degradation mix,
    commit: str = ""  # ... and the code's commit
    root: str = ""  # set by load_registry: the registry's folder (bundled paths are relative to it)

    @property
    def bundled_path(self) -> Path | None:
        return Path(self.root or PACKAGE_DIR) / self.bundled if self.bundled else None

    @property
    def published(self) -> bool:
        """On the Hub at a pinned revision (an empty or all-zero revision means not yet)."""
        return bool(self.repo_id) and bool(self.revision.strip("0"))

    @property
    def source_text(self) -> str:
        if self.published:
            return f"hf:{self.repo_id}@{self.revision[:8]}"
        if self.repo_id:
            return f"in the package; not yet published on the Hub (planned: {self.repo_id})"
        return self.source or "in the package"


def registry_file() -> Path:
    """The registry in use: ``$FACEBLUR_REGISTRY`` (a private or test registry), else the package's."""
    return Path(os.environ.get("FACEBLUR_REGISTRY") or REGISTRY_FILE)


def load_registry(path: str | Path | None = None) -> dict[str, WeightSpec]:
    """Parse ``weights.toml`` into specs; unknown keys are an error (typos must not pass silently).

    A table with ``alias = "NAME@TAG"`` is that tagged release under a plain name (its file, metrics
    and settings), keeping only its own roles (``default``, ``gpu_default``)."""
    path = Path(path) if path is not None else registry_file()
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    known = {f.name for f in fields(WeightSpec)} - {"root", "name"}
    specs = {}
    for name, table in raw.items():
        unknown = set(table) - known
        if unknown:
            raise WeightsError(f"{path}: [{name}] has unknown keys {sorted(unknown)}")
        specs[name] = WeightSpec(name=name, root=str(path.parent), **table)
    for name, spec in list(specs.items()):
        if spec.alias:
            target = specs.get(spec.alias)
            if target is None or target.alias:
                raise WeightsError(f"{path}: [{name}] is an alias of {spec.alias!r}, which is not a tagged release")
            specs[name] = replace(
                target, name=name, alias=target.name, default=spec.default, gpu_default=spec.gpu_default
            )
    return specs


def default_model_name(registry: dict[str, WeightSpec] | None = None) -> str:
    registry = registry or load_registry()
    for spec in registry.values():
        if spec.default:
            return spec.name
    raise WeightsError("weights.toml marks no model as default")


def auto_model_name(registry: dict[str, WeightSpec] | None = None, cuda: bool | None = None) -> str:
    """``--model auto``: the registry's ``gpu_default`` model when CUDA is present and that model is
    available locally (bundled or cached), else the CPU default."""
    registry = registry or load_registry()
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if cuda:
        for spec in registry.values():
            if spec.gpu_default and (
                (spec.bundled_path and spec.bundled_path.exists()) or (cache_dir() / spec.name / spec.filename).exists()
            ):
                return spec.name
    return default_model_name(registry)


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(path: str | Path, expected: str) -> Path:
    """Return ``path`` if its sha256 is ``expected``; otherwise refuse (the file is left untouched)."""
    path = Path(path)
    actual = sha256_of(path)
    if expected and actual != expected:
        raise WeightsError(
            f"{path}: sha256 {actual[:12]}... does not match the registry's {expected[:12]}...; "
            "refusing to load (file is corrupt, truncated or not the expected release)"
        )
    return path


def cache_dir() -> Path:
    return Path(os.environ.get("FACEBLUR_CACHE", Path.home() / ".cache" / "faceblur"))
