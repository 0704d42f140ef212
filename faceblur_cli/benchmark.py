"""Evaluation protocols: N sharp faces x one kernel of every size, PSNR/SSIM per size.

Protocols (:data:`faceblur_cli.degradations.PROTOCOLS`): ``paper`` (the paper's
Table 1: trajectories of 13-27 px), ``mild`` (3-11 px: what a slightly shaken
phone or a moving face gives) and ``sharp`` (no blur: the output is scored
against the untouched input, so it measures the harm done to clean faces).
Test blur comes from :func:`faceblur_cli.blur.degrade` with kernels seeded by
``TEST_KERNEL_SEED + seed`` (never the training seed), so runs are comparable
across models and machines. Baselines: the blurry input, and Wiener and
Richardson-Lucy deconvolution **given the true kernel** (non-blind oracles,
scikit-image).
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .blur import degrade
from .degradations import IDENTITY
from .imageio import ImageError, list_images, read_rgb
from .kernels import PAPER_SIZES, motion_kernel
from .metrics import colour_shift, detail_ratio, gmsd, psnr, sharpness, ssim, vgg_distance

TEST_KERNEL_SEED = 20_200_000
BASELINES = ("blurry", "wiener", "rl")
BASELINE_NAMES = {"blurry": "blurry", "wiener": "wiener_oracle", "rl": "rl_oracle"}
DATASETS = ("celeba", "helen")


def data_root(explicit: str | Path | None = None) -> Path:
    """--data-root, else $FACEBLUR_DATA, else ~/.cache/faceblur/data."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("FACEBLUR_DATA", Path.home() / ".cache" / "faceblur" / "data"))


def resolve_dataset(dataset: str, root: str | Path | None = None) -> Path:
    """A dataset name (celeba / helen under the data root) or a folder of sharp faces."""
    if dataset in DATASETS:
        base = data_root(root)
        for cand in (base / dataset / "train", base / dataset):
            if cand.is_dir() and list_images(cand):
                return cand
        raise ImageError(
            f"dataset {dataset!r} not found under {base}: put its sharp face images in "
            f"{base / dataset} (or set --data-root / FACEBLUR_DATA)"
        )
    path = Path(dataset)
    if not path.is_dir():
        raise ImageError(f"{dataset}: not a folder and not one of {', '.join(DATASETS)}")
    return path


def pick_images(files: list[Path], n: int, seed: int) -> list[Path]:
    """Seeded choice of ``n`` files (all if fewer), returned in name order."""
    if len(files) <= n:
        return sorted(files)
    idx = np.random.default_rng(seed).choice(len(files), n, replace=False)
    return sorted(files[i] for i in idx)


REPORTED_FACES = 200  # `faceblur benchmark --num-images` default: the held-out faces every result is reported on


def _held_out(folder: str | Path) -> list[Path]:
    from .data import is_holdout  # here, not at the top: data imports torch, this module does not

    return [f for f in list_images(folder) if is_holdout(f)]


def reported_faces(folder: str | Path, n: int = REPORTED_FACES, seed: int = 0) -> list[Path]:
    """The faces `faceblur benchmark` reports on: a seeded choice from the folder's held-out split."""
    return pick_images(_held_out(folder), n, seed)


def validation_faces(folder: str | Path, reported: int = REPORTED_FACES) -> list[Path]:
    """The folder's held-out split minus the default reported faces: what releases and settings are
    chosen on (benchmarks/holdout_probe.py, wild_probe.py), so no choice is made on a reported face.
    Helen's hold-out (68 faces) is all reported: its validation set is empty."""
    hold = _held_out(folder)
    left_out = set(pick_images(hold, reported, 0))
    return [f for f in hold if f not in left_out]


def _deconvolve_padded(blurry: np.ndarray, kernel: np.ndarray, deconvolve: Callable) -> np.ndarray:
    """Per-channel ``deconvolve(channel, kernel)`` on a reflect-padded copy, cropped back; uint8 out.

    scikit-image's Wiener filter is circular and its Richardson-Lucy pads with
    zeros: without a margin both ring along the image border and the oracle looks
    worse than it is. A reflect margin of one kernel side moves that ringing
    outside the scored area.
    """
    p = kernel.shape[0]
    padded = np.pad(blurry.astype(np.float64) / 255.0, ((p, p), (p, p), (0, 0)), mode="reflect")
    out = np.stack([deconvolve(padded[..., c], kernel) for c in range(3)], -1)[p:-p, p:-p]
    return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)


def wiener_oracle(blurry: np.ndarray, kernel: np.ndarray, balance: float = 0.01) -> np.ndarray:
    from skimage.restoration import wiener

    return _deconvolve_padded(blurry, kernel, lambda ch, k: wiener(ch, k, balance))


def rl_oracle(blurry: np.ndarray, kernel: np.ndarray, iterations: int = 30) -> np.ndarray:
    from skimage.restoration import richardson_lucy

    return _deconvolve_padded(blurry, kernel, lambda ch, k: richardson_lucy(ch, k, num_iter=iterations))


@dataclass
class Case:
    name: str
    size: int
    sharp: np.ndarray
    blurry: np.ndarray
    kernel: np.ndarray


def make_cases(files: list[Path], sizes: tuple[int, ...], seed: int, noise: float = 0.0) -> list[Case]:
    """Each image blurred by one fresh kernel of every size (size 0: left sharp); deterministic in ``seed``."""
    cases = []
    for i, f in enumerate(files):
        sharp = read_rgb(f)
        for k in sizes:
            if k == 0:
                cases.append(Case(f.name, 0, sharp, sharp, IDENTITY))
                continue
            rng = np.random.default_rng([TEST_KERNEL_SEED + seed, i, k])
            kernel = motion_kernel(k, rng)
            cases.append(Case(f.name, k, sharp, degrade(sharp, kernel, rng, noise_sigma=noise), kernel))
    return cases


Method = Callable[[Case], np.ndarray]


@dataclass
class Report:
    dataset: str
    num_images: int
    sizes: list[int]
    seed: int
    methods: dict = field(default_factory=dict)  # the paper protocol (the schema's original block)
    protocols: dict = field(default_factory=dict)  # name -> {"sizes": [...], "methods": {...}}, paper included
    real: dict | None = None
    models: dict = field(default_factory=dict)  # name -> how it ran: sha256, flip_tta, shift_tta, shrink_sigma

    def to_json(self) -> dict:
        data = {
            "dataset": self.dataset,
            "num_images": self.num_images,
            "sizes": self.sizes,
            "seed": self.seed,
            "methods": self.methods,
            "protocols": self.protocols,
        }
        if self.real is not None:
            data["real"] = self.real
        if self.models:
            data["models"] = self.models
        return data


def evaluate(
    cases: list[Case],
    methods: dict[str, Method],
    progress: Callable[[], None] | None = None,
    keep: Callable[[str, Case, np.ndarray], None] | None = None,
    vgg: bool = False,
) -> dict:
    """Run every method on every case: per-size and overall mean PSNR/SSIM, overall detail ratio,
    GMSD, colour shift against the input (and VGG distance with ``vgg``: ~0.4 s per CPU image), ms per image."""
    per: dict = {m: {} for m in methods}
    extra: dict = {m: [] for m in methods}
    ms: dict = {m: [] for m in methods}
    for case in cases:
        for name, fn in methods.items():
            t0 = time.perf_counter()
            out = fn(case)
            ms[name].append((time.perf_counter() - t0) * 1000)
            per[name].setdefault(case.size, []).append((psnr(case.sharp, out), ssim(case.sharp, out)))
            row = {
                "detail": detail_ratio(case.sharp, out),  # 1.0 = as detailed as the truth
                "gmsd": gmsd(case.sharp, out),
                "colour_shift": colour_shift(case.blurry, out),  # levels, against the input
            }
            if vgg:
                row["vgg"] = vgg_distance(case.sharp, out)
            extra[name].append(row)
            if keep:
                keep(name, case, out)
        if progress:
            progress()
    result = {}
    for name in methods:
        sizes = {
            str(k): {"psnr": float(np.mean([p for p, _ in v])), "ssim": float(np.mean([s for _, s in v]))}
            for k, v in sorted(per[name].items())
        }
        allv = [x for v in per[name].values() for x in v]
        result[name] = {
            "psnr": float(np.mean([p for p, _ in allv])),
            "ssim": float(np.mean([s for _, s in allv])),
            **{k: float(np.mean([r[k] for r in extra[name]])) for k in extra[name][0]},
            "ms_per_image": float(np.mean(ms[name])),
            "per_size": sizes,
        }
    return result


def everyday_block(files: list[Path], engines: dict, baselines: list[str], seed: int, progress=None) -> dict:
    """The everyday protocol (:mod:`.evaluation`): blurry, the oracles given the true kernel, each engine."""
    from .evaluation import evaluate_everyday, everyday_cases

    methods: dict = {}
    if "blurry" in baselines:
        methods["blurry"] = lambda c: c.blurry
    if "wiener" in baselines:
        methods["wiener_oracle"] = lambda c: wiener_oracle(c.blurry, c.kernel)
    if "rl" in baselines:
        methods["rl_oracle"] = lambda c: rl_oracle(c.blurry, c.kernel)
    for name, eng in engines.items():
        methods[name] = (lambda e: lambda c: e.whole(c.blurry))(eng)
    return evaluate_everyday(everyday_cases(files, seed), methods, progress)


def wild_block(files: list[Path], engines: dict, seed: int, progress=None) -> dict:
    """The in-the-wild protocol (:mod:`.evaluation`): whole photos, detect + paste back, and ``--whole``."""
    from .evaluation import evaluate_wild, wild_cases, wild_methods

    return evaluate_wild(wild_cases(files, seed), wild_methods(engines), progress)


@dataclass(kw_only=True)
class RunOptions:
    """What a benchmark run measures (the CLI's options; keyword-only)."""

    protocols: list[str]
    paper_sizes: tuple[int, ...] = PAPER_SIZES
    seed: int = 0
    noise: float = 0.0
    baselines: list[str] = field(default_factory=lambda: ["blurry"])
    wild_images: int = 60
    vgg: bool = False
    real: Path | None = None


def _no_progress(label: str, total: int):
    import contextlib

    return contextlib.nullcontext(lambda: None)


def run(
    dataset: str,
    files: list[Path],
    engines: dict,
    opts: RunOptions,
    progress: Callable = _no_progress,
    on_protocol: Callable | None = None,
) -> tuple[Report, dict]:
    """Every protocol of ``opts`` for every engine (name -> Deblurrer) on ``files``: the Report (what
    results.json holds) and the example crops for examples.png. ``progress(label, total)`` is a context
    manager yielding a tick; ``on_protocol(name, n_images, sizes, results)`` is told each result."""
    from .degradations import PROTOCOLS

    ran = {
        n: dict(sha256=e.model_sha256, flip_tta=e.flip_tta, shift_tta=e.shift_tta, shrink_sigma=e.shrink_sigma)
        for n, e in engines.items()
    }
    report = Report(dataset, len(files), list(opts.paper_sizes), opts.seed, models=ran)
    examples: dict = {}
    for pname in opts.protocols:
        psizes = opts.paper_sizes if pname == "paper" else PROTOCOLS[pname]
        if pname in ("everyday", "wild"):
            picked = files if pname == "everyday" else files[: opts.wild_images]
            with progress(pname, len(picked) * (len(psizes) if pname == "everyday" else 3)) as tick:
                results = (
                    everyday_block(picked, engines, opts.baselines, opts.seed, tick)
                    if pname == "everyday"
                    else wild_block(picked, engines, opts.seed, tick)
                )
            n = len(picked)
        else:
            methods: dict[str, Callable] = {}
            if "blurry" in opts.baselines:
                methods["blurry"] = lambda c: c.blurry
            if pname != "sharp":  # the oracles undo a kernel; a sharp face has none
                if "wiener" in opts.baselines:
                    methods["wiener_oracle"] = lambda c: wiener_oracle(c.blurry, c.kernel)
                if "rl" in opts.baselines:
                    methods["rl_oracle"] = lambda c: rl_oracle(c.blurry, c.kernel)
            for name, eng in engines.items():
                methods[name] = lambda c, e=eng: e.whole(c.blurry)
            cases = make_cases(files, psizes, opts.seed, opts.noise)
            pick = {
                (files[min(i, len(files) - 1)].name, psizes[j]) for i, j in ((0, 0), (1, len(psizes) // 2), (2, -1))
            }

            def keep(name, case, img, pick=pick, pname=pname):
                if pname == "paper" and (case.name, case.size) in pick:
                    examples.setdefault((case.name, case.size), {"sharp": case.sharp})[name] = img

            with progress(pname, len(cases)) as tick:
                results = evaluate(cases, methods, tick, keep, vgg=opts.vgg)
            if pname == "paper":
                report.methods = results
            n = len(files)
        report.protocols[pname] = {"sizes": list(psizes), "methods": results}
        if on_protocol:
            on_protocol(pname, n, psizes, results)
    if opts.real is not None:
        modes: dict[str, dict[str, Callable]] = {
            "aligned": {n: (lambda x, e=e: e.whole(x)) for n, e in engines.items()},
            "faces": {n: (lambda x, e=e: e.restore(x, "faces", no_face="skip").image) for n, e in engines.items()},
        }
        report.real = evaluate_real(opts.real, modes)
    return report, examples


def validate_report(data: dict) -> None:
    """Raise ValueError if ``data`` does not follow the results.json schema (other tools rely on it)."""

    def need(obj, key, kind, where):
        if key not in obj or not isinstance(obj[key], kind) or isinstance(obj[key], bool):
            raise ValueError(f"results.json: {where}{key} must be {kind}")

    need(data, "dataset", str, "")
    need(data, "num_images", int, "")
    need(data, "seed", int, "")
    need(data, "sizes", list, "")
    need(data, "methods", dict, "")
    blocks = [("", data["methods"])]
    if "protocols" in data:
        need(data, "protocols", dict, "")
        for pname, block in data["protocols"].items():
            need(block, "sizes", list, f"protocols.{pname}.")
            need(block, "methods", dict, f"protocols.{pname}.")
            blocks.append((f"protocols.{pname}.", block["methods"]))
    for where, methods in blocks:
        _validate_methods(methods, where, need)


def _validate_methods(methods: dict, where: str, need) -> None:
    for name, m in methods.items():
        name = f"{where}{name}"
        for key in ("psnr", "ssim", "ms_per_image"):
            need(m, key, (int, float), f"methods.{name}.")
        need(m, "per_size", dict, f"methods.{name}.")
        for k, v in m["per_size"].items():
            if not k.isdigit():
                raise ValueError(f"results.json: per_size key {k!r} is not a kernel size")
            need(v, "psnr", (int, float), f"methods.{name}.per_size.{k}.")
            need(v, "ssim", (int, float), f"methods.{name}.per_size.{k}.")


def write_outputs(report: Report, out: Path, examples: dict) -> list[Path]:
    """results.json, results.csv (+ real.json), psnr_ssim_by_kernel.png and examples.png under ``out``;
    returns the files written (no figure when there is nothing to draw)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    blocks = report.protocols or {"paper": {"sizes": report.sizes, "methods": report.methods}}
    data = report.to_json()
    validate_report(data)
    (out / "results.json").write_text(json.dumps(data, indent=2))
    written = [out / "results.json"]
    if report.real is not None:  # also on its own, for tools that read only the real-blur numbers
        (out / "real.json").write_text(json.dumps(report.real, indent=2))
        written.append(out / "real.json")
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.writer(f)
        extra = ("detail", "gmsd", "colour_shift", "vgg")
        w.writerow(["protocol", "method", "kernel_size", "psnr", "ssim", "ms_per_image", *extra])
        blank = [""] * len(extra)
        for pname, block in blocks.items():
            for name, m in block["methods"].items():
                for group in ("per_size", "per_kind", "per_width"):  # kinds and widths as "kind:disk", "width:80"
                    for k, v in m.get(group, {}).items():
                        label = k if group == "per_size" else f"{group[4:]}:{k}"
                        w.writerow([pname, name, label, f"{v['psnr']:.4f}", f"{v['ssim']:.5f}", "", *blank])
                overall = [f"{m[k]:.4f}" if k in m else "" for k in extra]
                w.writerow(
                    [pname, name, "all", f"{m['psnr']:.4f}", f"{m['ssim']:.5f}", f"{m['ms_per_image']:.2f}", *overall]
                )
        real_modes = (report.real or {}).get("modes", {}) if (report.real or {}).get("paired") else {}
        for mode, block in real_modes.items():
            for name, m in block.items():
                w.writerow([f"real-{mode}", name, "all", f"{m['psnr']:.4f}", f"{m['ssim']:.5f}", "", *blank])
    written.append(out / "results.csv")
    # The paper protocol's curves, else the first other blur protocol's; a run of only the sharp
    # protocol has no per-size curve to draw (and writes no empty figure).
    pname = next((p for p, b in blocks.items() if p not in ("sharp", "wild") and b["methods"]), None)
    if pname is not None:
        curves = blocks[pname]["methods"]
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for name, m in curves.items():
            ks = [int(k) for k in m["per_size"]]
            axes[0].plot(ks, [v["psnr"] for v in m["per_size"].values()], marker="o", label=name)
            axes[1].plot(ks, [v["ssim"] for v in m["per_size"].values()], marker="o", label=name)
        for ax, label in zip(axes, ("PSNR (dB)", "SSIM")):
            ax.set_xlabel("kernel size")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        n = len(blocks[pname]["sizes"])
        fig.suptitle(f"{report.dataset}, {pname} protocol: {report.num_images} images x {n} kernel sizes")
        fig.tight_layout()
        fig.savefig(out / "psnr_ssim_by_kernel.png", dpi=110)
        plt.close(fig)
        written.append(out / "psnr_ssim_by_kernel.png")
    if _examples_grid(examples, list(report.methods), out / "examples.png"):
        written.append(out / "examples.png")
    return written


def _examples_grid(examples: dict, methods: list[str], path: Path) -> bool:
    """Rows = (image, size) examples; columns = sharp, then each method's output. False: nothing to draw."""
    from PIL import Image, ImageDraw

    rows = list(examples.items())
    if not rows:
        return False
    cols = ["sharp"] + methods
    h = max(v["sharp"].shape[0] for _, v in rows)
    w = max(v["sharp"].shape[1] for _, v in rows)
    sheet = Image.new("RGB", (w * len(cols), (h + 14) * len(rows) + 14), "white")
    draw = ImageDraw.Draw(sheet)
    for c, name in enumerate(cols):
        draw.text((c * w + 3, 1), name, fill="black")
    for r, ((img, size), v) in enumerate(rows):
        y = 14 + r * (h + 14)
        draw.text((3, y), f"{img} k={size}", fill="black")
        for c, name in enumerate(cols):
            if name in v:
                sheet.paste(Image.fromarray(v[name]), (c * w, y + 14))
    sheet.save(path)
    return True


def evaluate_real(folder: Path, modes: dict[str, dict[str, Callable[[np.ndarray], np.ndarray]]]) -> dict:
    """Real blur, per mode (e.g. ``aligned``: the network on the frame as is; ``faces``: detect and paste
    back): paired (blurry/ + sharp/) -> PSNR/SSIM; unpaired -> variance-of-Laplacian sharpness."""
    paired = (folder / "blurry").is_dir() and (folder / "sharp").is_dir()
    files = list_images(folder / "blurry") if paired else list_images(folder)
    blurry = [read_rgb(f) for f in files]  # decoded once, shared by every method
    sharp = [read_rgb(folder / "sharp" / f.relative_to(folder / "blurry")) for f in files] if paired else []
    res: dict = {"folder": str(folder), "paired": paired, "count": len(files), "modes": {}}
    for mode, model_fns in modes.items():
        block = res["modes"][mode] = {}
        for name, fn in {"blurry": lambda x: x, **model_fns}.items():
            outs = [fn(b) for b in blurry]
            if paired:
                block[name] = {
                    "psnr": float(np.mean([psnr(s, o) for s, o in zip(sharp, outs)])),
                    "ssim": float(np.mean([ssim(s, o) for s, o in zip(sharp, outs)])),
                }
            else:
                block[name] = {"sharpness_laplacian_var": float(np.mean([sharpness(o) for o in outs]))}
    return res
