"""Finding a verified local file for a name: the cache, the package, or the Hugging Face Hub; and the
model card that goes to the Hub with a file."""

from __future__ import annotations

import os
from pathlib import Path

from .registry import WeightsError, WeightSpec, cache_dir, load_registry, sha256_of, verify


def resolve(name_or_path: str | Path, registry: dict[str, WeightSpec] | None = None) -> tuple[Path, WeightSpec | None]:
    """Find a verified local file for a registry name or a path (see module docstring for the order)."""
    registry = registry if registry is not None else load_registry()
    name = str(name_or_path)
    if name not in registry and f"faceblur-{name}" in registry and not Path(name).expanduser().is_file():
        name = f"faceblur-{name}"  # short names: --model base, --model lite
    if name not in registry:
        path = Path(name).expanduser()
        if path.is_file():
            return path, None
        models = [n.removeprefix("faceblur-") for n, sp in registry.items() if sp.kind == "generator"]
        raise WeightsError(
            f"{name}: neither a file nor a known model; choose auto, {', '.join(models)} "
            "(or their full names, `faceblur weights list`) or a .pth path"
        )
    spec = registry[name]
    cached = cache_dir() / spec.name / spec.filename
    if cached.is_file():
        return verify(cached, spec.sha256), spec
    if spec.bundled_path is not None and spec.bundled_path.is_file():
        return verify(spec.bundled_path, spec.sha256), spec
    return verify(hub_download(spec), spec.sha256), spec


def hub_download(spec: WeightSpec, local_files_only: bool | None = None) -> Path:
    """Fetch ``spec`` with ``hf_hub_download`` (HF cache, pinned revision); clear message when offline."""
    if not spec.repo_id:
        raise WeightsError(f"{spec.name}: not bundled and no Hub repo_id in weights.toml")
    if not spec.published:
        raise WeightsError(f"{spec.name}: not in this package and not yet published on the Hub ({spec.repo_id})")
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    if local_files_only is None:  # read at call time: huggingface_hub reads it only at import
        local_files_only = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    hub_cache = os.environ.get("HF_HUB_CACHE") or (
        str(Path(os.environ["HF_HOME"]) / "hub") if os.environ.get("HF_HOME") else None
    )
    try:
        return Path(
            hf_hub_download(
                spec.repo_id,
                spec.filename,
                revision=spec.revision or None,
                cache_dir=hub_cache,
                local_files_only=local_files_only,
            )
        )
    except LocalEntryNotFoundError:
        raise WeightsError(
            f"{spec.name}: not in the local Hugging Face cache and the Hub is unreachable or "
            f"HF_HUB_OFFLINE=1; run `faceblur weights download {spec.name}` on a connected machine "
            "(or copy its HF cache here)"
        ) from None
    except Exception as err:  # network/HTTP errors: one line, not a traceback
        raise WeightsError(f"{spec.name}: download from {spec.repo_id} failed: {type(err).__name__}: {err}") from None


def model_card(name: str, release: Path, results: dict | None, training: str = "") -> str:
    """README.md for the Hub repo: what the model is, how it was trained, its benchmark table."""
    lines = [
        f"# {name}",
        "",
        "Face motion-deblurring generator for [faceblur](https://pypi.org/project/faceblur/) "
        "(two-stage U-Net after Qi et al. 2020).",
        "",
        f"- file: `{release.name}` (sha256 `{sha256_of(release)}`)",
        "- load: `faceblur deblur photo.jpg -o out.png --model PATH` or `faceblur_cli.weights.load_generator(PATH)`",
    ]
    if training:
        lines += ["", "## Training", "", training]
    if results:
        sizes = [str(k) for k in results["sizes"]]
        lines += [
            "",
            f"## Benchmark ({results['dataset']}, {results['num_images']} images, PSNR dB / SSIM)",
            "",
            "| method | " + " | ".join(sizes) + " | overall |",
            "|---" * (len(sizes) + 2) + "|",
        ]
        for m, r in results["methods"].items():
            cells = [f"{r['per_size'][k]['psnr']:.2f} / {r['per_size'][k]['ssim']:.3f}" for k in sizes]
            lines.append(f"| {m} | " + " | ".join(cells) + f" | {r['psnr']:.2f} / {r['ssim']:.4f} |")
    return "\n".join(lines) + "\n"
