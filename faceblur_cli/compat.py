"""Make ``import torchvision`` (and so facexlib) work on CPU-only torch.

The torchvision wheel on PyPI is built against CUDA torch; with the CPU torch
build its compiled ops do not load and the import dies with
"operator torchvision::nms does not exist". We only need ``nms`` (facexlib's
RetinaFace post-processing), so when the op is missing we register a
pure-torch implementation under the same name *before* torchvision imports.
When the real op exists this module does nothing.
"""

from __future__ import annotations

import torch

_LIB = None  # keeps the torch.library.Library alive for the process


def nms_reference(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression; same contract as ``torchvision.ops.nms`` (indices, by score)."""
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    x1, y1, x2, y2 = boxes.unbind(1)
    areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    order = scores.argsort(descending=True)
    keep = []
    while order.numel() > 0:
        i = order[0]
        keep.append(i)
        if order.numel() == 1:
            break
        rest = order[1:]
        w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
        h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter).clamp(min=1e-12)
        order = rest[iou <= iou_threshold]
    return torch.stack(keep).to(torch.long)


def _qnms_unsupported(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    raise NotImplementedError("quantized nms is not available with the CPU fallback")


def _has_nms() -> bool:
    try:
        return torch._C._dispatch_has_kernel_for_dispatch_key(
            "torchvision::nms", "CPU"
        ) or torch._C._dispatch_has_kernel_for_dispatch_key("torchvision::nms", "CompositeExplicitAutograd")
    except RuntimeError:  # "operator ... does not exist"
        return False


def ensure_torchvision() -> None:
    """Register a fallback ``torchvision::nms`` if needed, then import torchvision."""
    global _LIB
    import sys

    if "torchvision" not in sys.modules and not _has_nms():
        # Loading torchvision's own C++ ops may still work (a matching CPU wheel):
        # only fill the gap when the operator is really absent after trying.
        try:
            import torchvision  # noqa: F401

            return
        except RuntimeError as err:
            if "torchvision::nms" not in str(err):
                raise
            for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
                del sys.modules[name]
        if not _has_nms():
            _LIB = torch.library.Library("torchvision", "DEF")
            _LIB.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
            _LIB.impl("nms", nms_reference, "CompositeExplicitAutograd")
            # torchvision registers a fake kernel for the quantized variant too, so the
            # name must exist; quantized NMS itself is not needed by faceblur.
            _LIB.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
            _LIB.impl("qnms", _qnms_unsupported, "CompositeExplicitAutograd")
    import torchvision  # noqa: F401

    if _LIB is not None:
        # torchvision.ops.nms checks that torchvision's *own* C++ library loaded before
        # calling the op; in the boxes module only (the one op we provide) let it through.
        import torchvision.ops.boxes as boxes

        boxes._assert_has_ops = lambda: None
