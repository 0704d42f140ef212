"""ONNX export and onnxruntime inference: the optional fast path.

``export_onnx`` writes a graph with dynamic batch, height and width (the
generator pads to its multiple internally, so any size works) and checks it
with ``onnx.checker``. ``OnnxBackend.for_model`` caches the export beside the
torch weights, keyed by their sha256, so ``--backend onnx`` exports once.
onnxruntime uses the CUDA execution provider when present, else the CPU one
with one thread per physical core.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch

from . import atomic
from .extras import install_hint
from .weights import cache_dir, sha256_of

INSTALL_HINT = f"the ONNX backend needs onnxruntime: {install_hint('onnx')}"


def _require(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise RuntimeError(f"{INSTALL_HINT} (missing module {module!r})") from None


def export_onnx(
    model: torch.nn.Module, out: str | Path, opset: int = 18, fp16: bool = False, sample_size: int = 61
) -> Path:
    """Export ``model`` (NCHW float in [-1, 1]) to ``out`` with dynamic N, H, W; verified by onnx.checker."""
    onnx = _require("onnx")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = model.float().eval().cpu()
    # Odd sample sides (not multiples of the network's stride): the tracer must keep the padding path.
    dummy = torch.zeros(2, 3, sample_size, sample_size + 14)
    fd, tmp = atomic.make_temp(out)
    os.close(fd)
    try:
        _export_quietly(model, dummy, tmp, opset)
        graph = onnx.load(str(tmp))
        if fp16:
            from onnxruntime.transformers.float16 import convert_float_to_float16

            graph = convert_float_to_float16(graph, keep_io_types=True)
        onnx.checker.check_model(graph)
        onnx.save(graph, str(tmp))
        atomic.claim(tmp, out, overwrite=True)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _export_quietly(model: torch.nn.Module, dummy: torch.Tensor, tmp: Path, opset: int) -> None:
    """torch.onnx.export without its progress lines and FutureWarnings (faceblur prints one line itself)."""
    import contextlib
    import io
    import logging
    import warnings

    # Dim.DYNAMIC lets the exporter derive the constraints itself (named Dims trip over the
    # pad-to-multiple arithmetic).
    dims = {0: torch.export.Dim.DYNAMIC, 2: torch.export.Dim.DYNAMIC, 3: torch.export.Dim.DYNAMIC}
    sink = io.StringIO()
    level = logging.getLogger("torch.onnx").level
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    try:
        with (
            torch.no_grad(),
            warnings.catch_warnings(),
            contextlib.redirect_stdout(sink),
            contextlib.redirect_stderr(sink),
        ):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (dummy,),
                str(tmp),
                input_names=["blurry"],
                output_names=["sharp"],
                opset_version=opset,
                dynamo=True,
                dynamic_shapes={"x": dims},
                external_data=False,
                verbose=False,
            )
    finally:
        logging.getLogger("torch.onnx").setLevel(level)


def physical_cores() -> int:
    """Physical cores (hyper-threads share a core's FMA units, so more threads rarely help)."""
    try:
        with open("/proc/cpuinfo") as f:
            pairs = {
                (blk.get("physical id"), blk.get("core id"))
                for blk in (
                    {k.strip(): v.strip() for k, v in (ln.split(":", 1) for ln in chunk.splitlines() if ":" in ln)}
                    for chunk in f.read().split("\n\n")
                )
                if "core id" in blk
            }
        if pairs:
            return len(pairs)
    except OSError:
        pass
    return os.cpu_count() or 1


class OnnxBackend:
    """onnxruntime session over a faceblur ONNX graph; same call contract as the torch backend."""

    name = "onnx"

    def __init__(
        self, path: str | Path, device: torch.device | str = "cpu", threads: int | None = None, explicit: bool = False
    ):
        ort = _require("onnxruntime")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or physical_cores()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        available = ort.get_available_providers()
        providers = ["CPUExecutionProvider"]
        self.note = ""
        if torch.device(device).type == "cuda":
            if "CUDAExecutionProvider" in available:
                providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
            elif explicit:  # --device cuda asked for it by name: say so, do not guess
                raise RuntimeError(f"onnxruntime has no CUDAExecutionProvider here: {install_hint('onnx-gpu')}")
            else:  # --device auto found CUDA, but this onnxruntime is the CPU build: run on the CPU
                self.note = "onnxruntime has no CUDA provider here (CPU build): running ONNX on the CPU"
        self.session = ort.InferenceSession(str(path), opts, providers=providers)
        self.providers = self.session.get_providers()
        self.input = self.session.get_inputs()[0].name

    @classmethod
    def for_model(
        cls,
        model: torch.nn.Module,
        device: torch.device | str = "cpu",
        half: bool = False,
        threads: int | None = None,
        explicit: bool = False,
    ) -> OnnxBackend:
        """Export (once, cached by the weights' sha256) and open a session."""
        key = getattr(model, "sha256", None) or "unversioned"
        path = cache_dir() / "onnx" / f"{key[:16]}{'-fp16' if half else ''}.onnx"
        stamp = path.with_name(path.name + ".sha256")
        if path.exists() and stamp.exists() and stamp.read_text().strip() == sha256_of(path):
            return cls(path, device, threads, explicit)  # the export this process family wrote
        if path.exists():
            print(f"faceblur: the cached ONNX export {path} is damaged or unverified; rebuilding it", file=sys.stderr)
        else:
            print(
                f"faceblur: exporting {getattr(model, 'name', 'the model')} to ONNX once, cached at {path}",
                file=sys.stderr,
            )
        export_onnx(model, path, fp16=half)
        atomic.write_bytes((sha256_of(path) + "\n").encode(), stamp, overwrite=True)
        return cls(path, device, threads, explicit)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: np.ascontiguousarray(batch, dtype=np.float32)})[0]
