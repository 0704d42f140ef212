"""Inference API: ``Deblurrer(model="auto").deblur(image)``; the CLI is a thin layer over it.

The model is loaded once; ``deblur`` takes a PIL image or an H x W x 3 uint8
array and returns the same kind. Three modes:

* ``faces`` (default): detect faces, align each to the training scale, deblur
  the crops in batches, paste them back with a feathered mask. With no face
  found, ``no_face`` decides: ``whole`` (deblur the frame), ``skip`` (return the
  input unchanged) or ``error``.
* ``aligned``: the input already is a face crop; deblur it as is.
* ``whole``: deblur the entire frame, in overlapping tiles blended with a ramp,
  so memory stays bounded and there are no seams.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from PIL import Image

from .alignment import Face
from .device import configure_threads, pick_device
from .ensemble import check_shift, ensemble
from .faces import FaceFinder
from .pipeline import MODES, NO_FACE_POLICIES, align_faces, check_strength, finish, network, paste_faces, prepare
from .pipeline import DeblurResult as DeblurResult  # re-exported: what restore() returns
from .pipeline import NoFaceError as NoFaceError  # re-exported: the API raises it
from .pipeline import blend as blend  # re-exported
from .shrinkage import shrink as shrink_correction
from .weights import load_generator

#: Images smaller than this are mirror-padded to it before the network (its deepest level must
#: keep more than one pixel per side for InstanceNorm) and cropped back.
MIN_NET_SIDE = 64


class Backend(Protocol):
    """What the Deblurrer needs of an inference engine (torch, onnxruntime): NCHW float in [-1, 1] in,
    the same shape out; a name for summaries and a one-line note for the user (or "")."""

    name: str
    note: str

    def __call__(self, batch: np.ndarray) -> np.ndarray: ...


class TorchBackend:
    """Runs the generator with PyTorch on CPU or CUDA (fp16 with ``half`` on CUDA)."""

    name = "torch"
    note = ""

    def __init__(self, model: torch.nn.Module, device: torch.device, half: bool = False):
        if half and device.type != "cuda":
            raise ValueError("--half needs a CUDA device (fp16 convolutions are slow or missing on CPU)")
        self.device, self.half = device, half
        self.model = model.to(device).eval()
        if half:
            self.model.half()

    @torch.no_grad()
    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(batch).to(self.device)
        x = x.half() if self.half else x
        return self.model(x).float().cpu().numpy()


def int8_export(generator) -> Path:
    """The registry's verified int8 ONNX export made from exactly these weights (an entry of kind
    ``onnx-int8`` whose ``built_from`` is their sha256); a WeightsError if there is none."""
    from .weights import WeightsError, load_registry, resolve

    registry = load_registry()
    spec = next((s for s in registry.values() if s.kind == "onnx-int8" and s.built_from == generator.sha256), None)
    if spec is None:
        raise WeightsError(
            f"{generator.name}: no int8 export registered for these weights (use --backend torch or onnx)"
        )
    return resolve(spec.name, registry)[0]


def auto_backend(generator, device: torch.device) -> str:
    """``--backend auto``: on a CPU, the registered int8 export through onnxruntime when both exist
    (4x faster than torch at <= 0.05 dB, and it does not collapse when other programs hold the
    cores: docs/speed.md); everything else (CUDA, a file by path, no onnxruntime) runs torch."""
    import importlib.util

    from .weights import WeightsError

    if device.type != "cpu" or importlib.util.find_spec("onnxruntime") is None:
        return "torch"
    try:
        int8_export(generator)
    except WeightsError:
        return "torch"
    return "onnx-int8"


def _to_net(images: list[np.ndarray]) -> np.ndarray:
    return np.stack([im.astype(np.float32).transpose(2, 0, 1) / 127.5 - 1.0 for im in images])


def _from_net(batch: np.ndarray) -> list[np.ndarray]:
    return [np.clip(np.rint((b.transpose(1, 2, 0) + 1.0) * 127.5), 0, 255).astype(np.uint8) for b in batch]


class Deblurrer:
    """Load a model (and the face detector) once, then deblur many images."""

    def __init__(
        self,
        model: str = "auto",
        device: str = "auto",
        backend: str = "auto",
        half: bool = False,
        batch_size: int = 8,
        tile: int = 512,
        tile_overlap: int = 32,
        flip_tta: bool | None = None,
        shift_tta: int | None = None,
        shrink: bool | None = None,
        strength: float = 1.0,
        threads: int | None = None,
        min_face_scale: float = 1.0,
        verify_faces: bool = True,
    ):
        self.threads = configure_threads(threads)
        self.min_face_scale = float(min_face_scale)  # alignment.crop_geometry: 1 = never shrink a face; 0 = always 256
        self.device = pick_device(device)
        self.strength = check_strength(strength)
        generator = load_generator(model)
        # None: the model's registry default (faceblur-base is measured, and shipped, with it on)
        self.flip_tta = generator.flip_tta if flip_tta is None else bool(flip_tta)
        self.shift_tta = check_shift(generator.shift_tta if shift_tta is None else shift_tta)
        # None: on where the registry calibrated the model's error floor (shrinkage.py); 0 = off
        if shrink and not generator.shrink_sigma:
            raise ValueError(f"{generator.name} has no calibrated shrink_sigma in weights.toml: --shrink needs one")
        self.shrink_sigma = 0.0 if shrink is False else generator.shrink_sigma
        self.model_name, self.model_sha256 = generator.name, generator.sha256
        self.backend: Backend
        if backend == "auto":
            backend = auto_backend(generator, self.device)
        if backend == "torch":
            self.backend = TorchBackend(generator, self.device, half)
        elif backend == "onnx-int8":
            from .onnx_backend import OnnxBackend

            if self.device.type != "cpu":
                raise ValueError("--backend onnx-int8 is a CPU backend; use --device cpu")
            self.backend = OnnxBackend(int8_export(generator), "cpu", self.threads)
            self.backend.name = "onnx-int8"
        elif backend == "onnx":
            from .onnx_backend import OnnxBackend

            self.backend = OnnxBackend.for_model(
                generator, self.device, half, self.threads if self.device.type == "cpu" else None, device != "auto"
            )
        else:
            raise ValueError(f"unknown backend {backend!r} (auto, torch, onnx or onnx-int8)")
        self.batch_size, self.tile, self.overlap = batch_size, tile, tile_overlap
        self.finder = FaceFinder(self.device, verify_faces)
        #: What rebuilds an equal Deblurrer in another process (the Ray engine's workers).
        self.config = dict(
            model=model,
            device=device,
            backend=backend,
            half=half,
            batch_size=batch_size,
            tile=tile,
            tile_overlap=tile_overlap,
            flip_tta=self.flip_tta,
            shift_tta=self.shift_tta,
            shrink=shrink,
            strength=self.strength,
            min_face_scale=self.min_face_scale,
            verify_faces=verify_faces,
        )

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in ``rgb`` (:class:`~faceblur_cli.faces.FaceFinder`)."""
        return self.finder.detect(rgb)

    # -- public API --------------------------------------------------------------------------
    def deblur(
        self,
        image,
        mode: str = "faces",
        no_face: str = "whole",
        only_center_face: bool = False,
        strength: float | None = None,
    ):
        """Deblur a PIL image or uint8 array; returns the same kind (PIL keeps its mode and alpha).

        ``strength`` (0..1, default the Deblurrer's) blends input and result: 0 returns the input.
        """
        opts = (mode, no_face, only_center_face, strength)
        if isinstance(image, Image.Image):
            from .imageio import LoadedImage, to_pil

            alpha = np.asarray(image.getchannel("A")) if image.mode in ("RGBA", "LA") else None
            like = LoadedImage(np.asarray(image.convert("RGB")), alpha, image.mode in ("L", "LA"))
            out = self.restore(like.rgb, *opts).image
            return to_pil(out, like)
        arr = np.asarray(image)
        if arr.ndim == 2:
            return self.restore(np.repeat(arr[:, :, None], 3, 2), *opts).image[:, :, 0]
        if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.dtype != np.uint8:
            raise ValueError("expected an H x W, H x W x 3 or H x W x 4 uint8 array")
        rgb = arr[:, :, :3]
        out = self.restore(np.ascontiguousarray(rgb), *opts).image
        return np.concatenate([out, arr[:, :, 3:]], 2) if arr.shape[2] == 4 else out

    def restore(
        self,
        rgb: np.ndarray,
        mode: str = "faces",
        no_face: str = "whole",
        only_center_face: bool = False,
        strength: float | None = None,
    ) -> DeblurResult:
        """The full pipeline on an RGB uint8 array, with per-stage timings and ``strength`` applied."""
        s = self.strength if strength is None else check_strength(strength)
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose from {MODES}")
        if no_face not in NO_FACE_POLICIES:
            raise ValueError(f"unknown no-face policy {no_face!r}; choose from {NO_FACE_POLICIES}")
        prep = prepare(self.finder, rgb, mode, no_face, only_center_face, self.min_face_scale)
        ((base, restored),) = network(self, [prep])
        return finish(prep, base, restored, s)

    def restore_landmarks(
        self,
        images: list[np.ndarray],
        landmarks: list[list[np.ndarray]],
        strength: float = 1.0,
        min_face_scale: float | None = None,
    ) -> list[tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]]:
        """Deblur the faces at ``landmarks`` (5 x 2 each) in several images with one batched network
        pass: (image, aligned crops, restored crops) per image (video frames come through here).
        ``strength`` < 1 blends each restored crop with its input before pasting."""
        t: dict = defaultdict(float)
        scale = self.min_face_scale if min_face_scale is None else min_face_scale
        aligned = align_faces(images, landmarks, scale, t)
        flat = iter(self.run_network([c for _, crops in aligned for c in crops]))
        results = []
        for img, (geometry, crops) in zip(images, aligned):
            restored = [next(flat) for _ in crops]
            results.append((paste_faces(img, geometry, crops, restored, strength), crops, restored))
        return results

    # -- network ------------------------------------------------------------------------------
    def run_network(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Deblur uint8 crops, ``batch_size`` at a time (crops of one size batched together), in order."""
        out: list = [None] * len(images)
        by_shape: dict = defaultdict(list)
        for i, im in enumerate(images):
            by_shape[im.shape].append(i)
        for idx in by_shape.values():
            for j in range(0, len(idx), self.batch_size):
                part = idx[j : j + self.batch_size]
                for i, r in zip(part, _from_net(self._infer(_to_net([images[i] for i in part])))):
                    out[i] = r
        return out

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        """The backend over ``batch``, with the model's test-time ensemble (``flip_tta``: a mirrored
        pass, ``shift_tta``: a shifted one; ensemble.py), then the correction shrunk per image where
        the model has a ``shrink_sigma`` (shrinkage.py)."""
        out = ensemble(self.backend, batch, self.flip_tta, self.shift_tta)
        return shrink_correction(batch, out, self.shrink_sigma)

    def whole(self, rgb: np.ndarray, t: dict | None = None) -> np.ndarray:
        """Deblur a full frame; frames larger than ``tile`` go through overlapping tiles."""
        t0 = time.perf_counter()
        h, w = rgb.shape[:2]
        if min(h, w) < MIN_NET_SIDE:  # thumbnails: mirror-pad, deblur, crop back
            ph, pw = max(0, MIN_NET_SIDE - h), max(0, MIN_NET_SIDE - w)
            padded = np.pad(rgb, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)), mode="symmetric")
            out = self.whole(padded)[ph // 2 : ph // 2 + h, pw // 2 : pw // 2 + w]
        elif max(h, w) <= self.tile:
            out = self.run_network([rgb])[0]
        else:
            out = self._tiled(rgb)
        if t is not None:
            t["network"] += time.perf_counter() - t0
        return out

    def _tiled(self, rgb: np.ndarray) -> np.ndarray:
        """Overlapping tiles blended with ramps, one row of tiles at a time.

        The blend weight of a tile is ramp_y(y) * ramp_x(x) and the tiles form a grid,
        so the normaliser is separable too: each row of tiles is blended across x
        on its own, and only one tile-row-high float buffer is kept besides the
        uint8 output. Memory is O(tile x width), not O(height x width) floats.
        """
        h, w = rgb.shape[:2]
        size, ov = self.tile, self.overlap
        ys, xs = _tile_starts(h, size, size - 2 * ov), _tile_starts(w, size, size - 2 * ov)
        ramps_y = [_ramp(min(size, h - y), ov, y == 0, y + size >= h) for y in ys]
        ramps_x = [_ramp(min(size, w - x), ov, x == 0, x + size >= w) for x in xs]
        norm_y, norm_x = np.zeros(h), np.zeros(w)
        for y, r in zip(ys, ramps_y):
            norm_y[y : y + len(r)] += r
        for x, r in zip(xs, ramps_x):
            norm_x[x : x + len(r)] += r
        out = np.empty_like(rgb)
        acc, acc_y = np.zeros((0, w, 3), np.float32), 0

        def flush(upto: int) -> None:
            nonlocal acc, acc_y
            n = upto - acc_y
            rows = acc[:n] / norm_y[acc_y:upto, None, None].astype(np.float32)
            out[acc_y:upto] = np.clip(np.rint(rows), 0, 255).astype(np.uint8)
            acc, acc_y = acc[n:], upto

        for y, ry in zip(ys, ramps_y):
            if y > acc_y:
                flush(y)  # no later tile row reaches above y
            th = len(ry)
            if len(acc) < th:
                acc = np.concatenate([acc, np.zeros((th - len(acc), w, 3), np.float32)])
            band = np.zeros((th, w, 3), np.float32)
            results = self.run_network([rgb[y : y + th, x : x + size] for x in xs])
            for x, rx, res in zip(xs, ramps_x, results):
                band[:, x : x + len(rx)] += res * (rx / norm_x[x : x + len(rx)]).astype(np.float32)[None, :, None]
            acc[:th] += band * ry.astype(np.float32)[:, None, None]
        flush(h)
        return out


def _tile_starts(n: int, size: int, step: int) -> list[int]:
    """Tile offsets along one side: every ``step``, plus a last tile flush with the end."""
    if n <= size:
        return [0]
    starts = list(range(0, n - size + 1, step))
    return starts + ([n - size] if starts[-1] != n - size else [])


def _ramp(n: int, overlap: int, first: bool, last: bool) -> np.ndarray:
    """Blending weights along one tile side: ramps up/down over the overlap except at image borders."""
    r = np.ones(n)
    k = min(overlap, n // 2)
    if k > 0:
        edge = (np.arange(k) + 0.5) / k
        if not first:
            r[:k] = edge
        if not last:
            r[n - k :] = edge[::-1]
    return r
