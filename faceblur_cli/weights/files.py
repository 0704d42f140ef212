"""Release files: loading one safely (``weights_only=True``, checked against its config before
anything is allocated), writing one from a training state, and deriving one (fp16, blends, Hub uploads)."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import torch

from .hub import model_card, resolve
from .registry import WeightsError, auto_model_name, default_model_name, load_registry, sha256_of

RELEASE_FORMAT = "faceblur-generator-v1"


def load_checkpoint(path: str | Path) -> dict:
    """``torch.load`` with ``weights_only=True``: a pickle that tries to run code is refused."""
    import pickle
    import zipfile

    path = Path(path)
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            legacy_pickle = f.read(2)[:1] == b"\x80"  # torch's pre-1.6 format is a bare pickle
        if not legacy_pickle:
            raise WeightsError(f"{path}: not a PyTorch weights file (expected a file written by torch.save)")
    try:
        with warnings.catch_warnings():  # torch's legacy-format warnings name site-packages paths
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        blocked = re.search(r"GLOBAL ([\w.]+)", str(err)) or re.search(r"Unsupported operand (\d+)", str(err))
        what = (
            f"it would import {blocked.group(1)}"
            if blocked and not blocked.group(1).isdigit()
            else (
                f"it uses pickle opcode {blocked.group(1)}" if blocked else "it holds more than tensors and plain data"
            )
        )
        raise WeightsError(f"{path}: refused: {what} (a weights file may hold only tensors and plain data)") from None
    except Exception as err:
        first = str(err).splitlines()[0] if str(err) else ""
        raise WeightsError(f"{path}: cannot be loaded safely ({type(err).__name__}: {first[:160]})") from None


def load_generator(name_or_path: str | Path = "default"):
    """A ready-to-run :class:`Generator` (eval mode, CPU) from a name or a release file."""
    from ..models.generator import Generator, GeneratorConfig

    registry = load_registry()
    if str(name_or_path) == "auto":
        name_or_path = auto_model_name(registry)
    elif str(name_or_path) == "default":
        name_or_path = default_model_name(registry)
    path, spec = resolve(name_or_path, registry)
    blob = load_checkpoint(path)
    if not isinstance(blob, dict) or blob.get("format") != RELEASE_FORMAT:
        raise WeightsError(
            f"{path}: not a faceblur generator release (expected format {RELEASE_FORMAT!r}); "
            "export a training checkpoint with `faceblur train --export`"
        )
    if spec is not None and spec.preset and blob.get("preset") and blob["preset"] != spec.preset:
        raise WeightsError(
            f"{path}: a {blob['preset']!r} release, but weights.toml registers {spec.name} as preset {spec.preset!r}"
        )
    config, state = blob.get("config"), blob.get("state_dict")
    if not isinstance(config, dict) or not isinstance(state, dict):
        missing = [k for k, v in (("config", config), ("state_dict", state)) if not isinstance(v, dict)]
        raise WeightsError(
            f"{path}: malformed release file (no {' / '.join(missing)}); re-export it with `faceblur train --export`"
        )
    try:
        cfg = GeneratorConfig.from_dict(config)  # bounds checked: no huge network from a tiny file
        _check_state_fits(cfg, state)  # keys and shapes checked on the meta device: nothing allocated
        model = Generator(cfg)
        model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except Exception as err:  # unknown config keys, wrong shapes, non-tensor entries
        last = (str(err).strip().splitlines() or [""])[-1].strip()[:200]
        raise WeightsError(f"{path}: weights do not fit their embedded config ({type(err).__name__}: {last})") from None
    model.eval()
    vars(model).update(  # plain attributes beside the module's parameters: what it is and how it runs
        name=spec.name if spec else Path(path).stem,
        sha256=sha256_of(path),
        preset=blob.get("preset", ""),
        meta=dict(blob.get("meta") or {}),
        flip_tta=bool(spec and spec.flip_tta),  # a release file by path runs single-pass
        shift_tta=int(spec.shift_tta) if spec else 0,
        shrink_sigma=float(spec.shrink_sigma) if spec else 0.0,  # ... and unshrunk
    )
    return model


def _check_state_fits(cfg, state: dict) -> None:
    """Compare ``state``'s keys and shapes with the network ``cfg`` describes, built on the ``meta``
    device (no memory), before the real network is allocated."""
    from ..models.generator import Generator

    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in Generator(cfg).state_dict().items()}
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"non-tensor entries {sorted(bad)[:3]}")
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(f"state_dict does not match: missing {missing[:3]}, unexpected {unexpected[:3]}")
    wrong = [k for k in expected if tuple(state[k].shape) != expected[k]]
    if wrong:
        k = wrong[0]
        raise ValueError(f"state_dict shapes differ: {k} is {tuple(state[k].shape)}, expected {expected[k]}")


def atomic_torch_save(obj, path: Path) -> None:
    """``torch.save`` to a temp name + rename: an interrupted save never leaves a broken file."""
    tmp = path.with_name(path.name + ".part")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def released_weights(state: dict) -> dict:
    """The generator weights a training state releases: the ``--ema`` average when the run kept one."""
    return state.get("generator_ema", state["generator"])


def release_of(state: dict, half: bool = False, meta: dict | None = None) -> dict:
    """The release blob of a training state (generator weights, their ``--ema`` average when the
    run kept one, + embedded config + preset), fp16 with ``half`` (the loader upcasts to fp32). No
    optimiser or critic: a release is for inference."""
    if not isinstance(state, dict) or "generator" not in state or "generator_config" not in state:
        raise WeightsError("not a faceblur training checkpoint")
    weights = {
        k: (v.half() if half and v.is_floating_point() else v.float() if v.is_floating_point() else v)
        for k, v in released_weights(state).items()
    }
    return {
        "format": RELEASE_FORMAT,
        "preset": state.get("preset", ""),
        "config": state["generator_config"],
        "state_dict": weights,
        "meta": {"step": int(state["step"]), **(meta or {})},
    }


def write_release(blob: dict, out: str | Path) -> str:
    """Save a release blob atomically with its ``out.sha256`` beside it; return the sha256."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_torch_save(blob, out)
    digest = sha256_of(out)
    out.with_name(out.name + ".sha256").write_text(f"{digest}  {out.name}\n")
    return digest


def export_generator(checkpoint: str | Path, out: str | Path, half: bool = False, meta: dict | None = None) -> str:
    """Write the release file of a training checkpoint and ``out.sha256``; return the sha256."""
    try:
        blob = release_of(load_checkpoint(checkpoint), half, meta)
    except WeightsError as e:
        raise WeightsError(f"{checkpoint}: {e}") from None
    return write_release(blob, out)


def interpolate(a: str | Path, b: str | Path, alpha: float, half: bool = False) -> dict:
    """Release blob of the weight-space blend ``(1 - alpha) * a + alpha * b`` of two generators of one
    architecture (ESRGAN's network interpolation, Wang et al. 2018): between a fidelity model and its
    GAN fine-tune, ``alpha`` trades PSNR for detail smoothly, without retraining."""
    if not 0.0 <= alpha <= 1.0:
        raise WeightsError(f"alpha must be in [0, 1], got {alpha}")
    ga, gb = load_generator(a), load_generator(b)
    if ga.config != gb.config:
        raise WeightsError(f"{a} and {b} are different architectures: only one generator's fine-tunes blend")
    sa, sb = ga.state_dict(), gb.state_dict()
    blend = {k: (1 - alpha) * sa[k] + alpha * v if v.is_floating_point() else v for k, v in sb.items()}
    source = {"a": f"{ga.name} {ga.sha256}", "b": f"{gb.name} {gb.sha256}", "alpha": alpha}
    return release_of(_state_of(gb, blend, step=0), half, meta={"interpolated": source})


def convert(name_or_path: str | Path, half: bool = False) -> dict:
    """Release blob of one generator re-stored as fp16 (``half``) or fp32, its provenance kept: how a
    fp32 snapshot (``train --snapshots``) becomes a compact bundled release."""
    g = load_generator(name_or_path)
    meta = {k: v for k, v in g.meta.items() if k != "step"}
    meta["converted_from"] = f"{g.name} {g.sha256}"
    return release_of(_state_of(g, g.state_dict(), step=int(g.meta.get("step", 0))), half, meta=meta)


def _state_of(g, weights: dict, step: int) -> dict:
    """The training-state shape :func:`release_of` takes, for a loaded generator's (new) weights."""
    return {"generator": weights, "generator_config": g.config.to_dict(), "preset": g.preset, "step": step}


def push(run_dir: str | Path, repo_id: str, api=None, token: str | None = None, private: bool = False) -> dict:
    """Export ``run_dir/checkpoint.pt`` and upload it with a model card to the Hub (maintainers only).

    ``api`` is a ``huggingface_hub.HfApi`` (injectable for tests). Returns the repo id, commit and sha256
    to paste into ``weights.toml``.
    """
    import json
    import tempfile

    run_dir = Path(run_dir)
    ckpt = run_dir / "checkpoint.pt"
    if not ckpt.exists():
        raise WeightsError(f"{run_dir}: no checkpoint.pt to publish")
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    results = None
    for cand in (run_dir / "benchmark" / "results.json", run_dir / "results.json"):
        if cand.exists():
            results = json.loads(cand.read_text())
            break
    training = ""
    if (run_dir / "config.json").exists():
        training = "```json\n" + (run_dir / "config.json").read_text() + "\n```"
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        name = repo_id.split("/")[-1]
        release = staging / f"{name}.pth"
        digest = export_generator(ckpt, release)
        (staging / "README.md").write_text(model_card(name, release, results, training))
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        info = api.upload_folder(
            folder_path=str(staging), repo_id=repo_id, repo_type="model", commit_message=f"faceblur: publish {name}"
        )
    commit = getattr(info, "oid", None) or getattr(info, "commit_url", "")
    return {"repo_id": repo_id, "filename": release.name, "sha256": digest, "revision": commit}
