"""Releasing a training run as a tagged model: one command writes the file, the registry entry with
its lineage, and the model card stub (``faceblur weights release RUN --tag lite@NAME``).

Why: a release used to take about eight hand edits (file, sha256, size, registry table, roles,
README, card, CHANGELOG); now the registry keeps every tag (``faceblur-lite@p60``) with where it came
from (parent tag, run folder, step, degradation mix, commit), the plain name (``faceblur-lite``) is
an alias of the tag that is current, and benchmark folders are named by tag, so nothing is renamed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..ensemble import check_shift
from .files import convert, export_generator, load_checkpoint, write_release
from .registry import WeightsError, load_registry, registry_file, sha256_of

TAG = re.compile(r"^(faceblur-)?([a-z0-9][a-z0-9-]*)@([a-z0-9][a-z0-9.-]*)$")


def parse_tag(tag: str) -> tuple[str, str]:
    """``lite@x`` or ``faceblur-lite@x`` -> (``faceblur-lite``, ``x``)."""
    m = TAG.match(tag)
    if not m:
        raise ValueError(f"--tag {tag!r}: expected MODEL@TAG, e.g. lite@everyday1 (lower case, digits, -, .)")
    return f"faceblur-{m.group(2)}", m.group(3)


def _toml_value(v) -> str:
    return json.dumps(v) if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)


def release_run(
    run: str | Path,
    tag: str,
    registry: str | Path | None = None,
    half: bool = True,
    make_current: bool = False,
    docs: str | Path | None = None,
    step: int | None = None,
    shrink_sigma: float = 0.0,
    flip_tta: bool = False,
    shift_tta: int = 0,
) -> dict:
    """Release ``run``'s checkpoint as ``MODEL@TAG``: the file (fp16 by default) beside the registry under
    ``assets/weights/``, a registry table with lineage, and ``docs/models/MODEL@TAG.md`` (a stub to fill
    with the held-out tables). ``make_current`` points the plain name at the new tag. ``step``: release
    the run's ``--snapshots`` file of that step (the one validation chose) instead of its last
    checkpoint. ``flip_tta``: its inference default is the mirrored-pass ensemble (Deblurrer._infer), for a
    model measured and shipped that way; ``shift_tta`` likewise adds the shifted pass (ensemble.py).
    Returns the entry."""
    run = Path(run)
    registry = Path(registry) if registry is not None else registry_file()
    model, short_tag = parse_tag(tag)
    name = f"{model}@{short_tag}"
    specs = load_registry(registry)
    if name in specs:
        raise WeightsError(f"{name}: already released (a tag is never reused; pick a new one)")
    ckpt = run / "checkpoint.pt" if step is None else run / "snapshots" / f"step_{step:07d}.pth"
    if not ckpt.is_file():
        raise WeightsError(f"{ckpt}: no training checkpoint to release")
    blob = load_checkpoint(ckpt)
    # a snapshot is a release file already: its step is in its metadata
    released_step = int(blob.get("step", 0) if step is None else (blob.get("meta") or {}).get("step", step))
    cfg = json.loads((run / "config.json").read_text()) if (run / "config.json").exists() else {}
    config, env = cfg.get("config", {}), cfg.get("environment", {})
    parent_sha = env.get("init_from_sha256")
    if not parent_sha and config.get("init_from") and Path(config["init_from"]).is_file():
        parent_sha = sha256_of(config["init_from"])  # a run logged before provenance was recorded
    parent = next((s.name for s in specs.values() if parent_sha and s.sha256 == parent_sha and "@" in s.name), "")
    filename = f"{name}.pth"
    out = registry.parent / "assets" / "weights" / filename
    out.parent.mkdir(parents=True, exist_ok=True)
    if step is None:
        digest = export_generator(ckpt, out, half=half)
    else:
        digest = write_release(convert(str(ckpt), half=half), out)
    mix = config.get("degradation", "") + (f" ({config['degradation_set']})" if config.get("degradation_set") else "")
    entry = {
        "kind": "generator",
        "preset": config.get("preset", ""),
        "description": f"{model} released from {run.name} at step {released_step}",
        "filename": filename,
        "bundled": f"assets/weights/{filename}",
        "sha256": digest,
        "size": out.stat().st_size,
        "license": "MIT (weights trained on research-only CelebA/Helen faces: research use)",
        "parent": parent,
        "run": str(run),
        "step": released_step,
        "mix": mix,
        "commit": env.get("commit") or "",
    }
    if shrink_sigma:  # the model's error floor (benchmarks/holdout_probe.py sharp_rms): shrinkage on
        entry["shrink_sigma"] = float(shrink_sigma)
    if flip_tta:
        entry["flip_tta"] = True
    if shift_tta:
        entry["shift_tta"] = check_shift(shift_tta)
    text = registry.read_text().rstrip() + "\n\n" + f'["{name}"]\n'
    text += "".join(f"{k} = {_toml_value(v)}\n" for k, v in entry.items())
    if make_current:
        text = _point_alias(text, model, name)
    registry.write_text(text)
    load_registry(registry)  # the file still parses, and the alias resolves
    if docs is not None:
        card = Path(docs) / "models" / f"{name}.md"
        card.parent.mkdir(parents=True, exist_ok=True)
        card.write_text(
            f"# {name}\n\nReleased from `{run}` at step {entry['step']} (sha256 `{digest[:16]}...`).\n\n"
            f"- parent: {parent or '(none registered)'}\n- degradation mix: {mix or '(unknown)'}\n"
            f"- commit: {entry['commit'] or '(unknown)'}\n- rerun: `faceblur train --config {run}/config.json`\n\n"
            f"Held-out results: `faceblur benchmark ... -m {name} -o docs/bench/{model.removeprefix('faceblur-')}"
            f"@{short_tag}-DATASET`, then `python scripts/gen_benchmark_docs.py`.\n"
        )
    return {"name": name, **entry}


def _point_alias(text: str, model: str, target: str) -> str:
    """Make ``[model]`` an alias of ``target`` (a new alias table if the model had none)."""
    head = re.compile(rf'^\[("?){re.escape(model)}\1\]\s*$', re.M)
    m = head.search(text)
    if m is None:
        return text + f'\n[{model}]\nalias = "{target}"\n'
    end = re.compile(r"^\[", re.M).search(text, m.end())
    body = text[m.end() : end.start() if end else len(text)]
    if not re.search(r"^alias\s*=", body, re.M):
        raise WeightsError(f"[{model}] is a full entry, not an alias: make it a tag first (see docs/development.md)")
    body = re.sub(r"^alias\s*=.*$", f'alias = "{target}"', body, count=1, flags=re.M)
    return text[: m.end()] + body + (text[end.start() :] if end else "")
