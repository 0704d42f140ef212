"""Face detection (facexlib RetinaFace), alignment to the training scale, feathered paste-back.

We use facexlib's detector network but not its ``FaceRestoreHelper``: the
helper always builds (and downloads) a face-parsing model, and loads weights
without ``weights_only``. Alignment is a similarity transform (OpenCV) onto a
5-point template whose scale matches the training faces, so the blur the model
sees has the size it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

#: Face crop side in pixels, and the 5-point template (left eye, right eye, nose,
#: mouth left, mouth right) inside it. Eye distance 48 px: between CelebA's
#: aligned faces (~39 px) and Helen's crops (~65 px), the scales of the training data.
FACE_SIZE = 256
FACE_TEMPLATE = np.array(
    [[104.0, 108.0], [152.0, 108.0], [128.0, 137.5], [109.0, 158.0], [147.0, 158.0]], dtype=np.float32
)
#: Detection runs on a copy whose longer side is at most this (speed on big photos).
DETECT_MAX_SIDE = 1280


@dataclass
class Face:
    box: np.ndarray  # x1, y1, x2, y2 in image pixels
    score: float
    landmarks: np.ndarray  # 5 x 2


class FaceDetector:
    """RetinaFace MobileNet-0.25 from facexlib, weights verified and loaded with ``weights_only=True``."""

    def __init__(self, device: torch.device | str = "cpu", weights: str = "retinaface"):
        from .compat import ensure_torchvision
        from .weights import load_checkpoint, resolve

        ensure_torchvision()
        from facexlib.detection.retinaface import RetinaFace

        path, _ = resolve(weights)
        state = load_checkpoint(path)
        state = {k.removeprefix("module."): v for k, v in state.items()}
        self.device = torch.device(device)
        self.net = RetinaFace(network_name="mobile0.25", half=False, device=self.device)
        self.net.load_state_dict(state, strict=True)
        self.net.eval()

    @torch.no_grad()
    def detect(self, rgb: np.ndarray, threshold: float = 0.8) -> list[Face]:
        """Faces in an H x W x 3 uint8 RGB image, largest score first."""
        h, w = rgb.shape[:2]
        scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
        img = (
            rgb if scale == 1.0 else cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        )
        bgr = np.ascontiguousarray(img[:, :, ::-1]).astype(np.float32)
        dets = self.net.detect_faces(bgr, conf_threshold=threshold, nms_threshold=0.4, use_origin_size=True)
        faces = []
        for d in dets:
            faces.append(Face(box=d[:4] / scale, score=float(d[4]), landmarks=d[5:15].reshape(5, 2) / scale))
        return faces


def center_face(faces: list[Face], shape: tuple[int, ...]) -> list[Face]:
    """The one face whose box centre is nearest the image centre (``--only-center-face``)."""
    if not faces:
        return faces
    cy, cx = shape[0] / 2, shape[1] / 2
    return [min(faces, key=lambda f: ((f.box[0] + f.box[2]) / 2 - cx) ** 2 + ((f.box[1] + f.box[3]) / 2 - cy) ** 2)]


def alignment_matrix(landmarks: np.ndarray) -> np.ndarray:
    """2 x 3 similarity transform taking the 5 landmarks onto :data:`FACE_TEMPLATE`."""
    matrix, _ = cv2.estimateAffinePartial2D(landmarks.astype(np.float32), FACE_TEMPLATE, method=cv2.LMEDS)
    if matrix is None:  # degenerate landmarks: fall back to least squares on the eyes
        matrix = cv2.estimateAffinePartial2D(landmarks[:2].astype(np.float32), FACE_TEMPLATE[:2])[0]
    return matrix


def warp_face(rgb: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Cut the aligned FACE_SIZE x FACE_SIZE crop (reflected borders, so no black wedges)."""
    return cv2.warpAffine(
        rgb, matrix, (FACE_SIZE, FACE_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )


def feather_mask(size: int = FACE_SIZE, margin: int = 16) -> np.ndarray:
    """A square mask, 1 inside and smoothly falling to 0 over ``margin`` px at the crop's border."""
    ramp = np.clip(np.minimum(np.arange(size), np.arange(size)[::-1]) / margin, 0.0, 1.0).astype(np.float32)
    ramp = ramp * ramp * (3 - 2 * ramp)  # smoothstep: no visible edge in the gradient either
    return np.outer(ramp, ramp)


def paste_back(
    image: np.ndarray, restored: np.ndarray, matrix: np.ndarray, mask: np.ndarray | None = None
) -> np.ndarray:
    """Blend a restored aligned crop back into ``image`` through the inverse warp.

    Pixels where the warped mask is 0 are copied from the input bit for bit.
    """
    h, w = image.shape[:2]
    inverse = cv2.invertAffineTransform(matrix)
    mask = feather_mask(restored.shape[0]) if mask is None else mask
    back = cv2.warpAffine(restored, inverse, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    alpha = cv2.warpAffine(mask, inverse, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    out = image.copy()
    inside = alpha > 0
    a = alpha[inside][:, None]
    out[inside] = np.clip(np.rint(a * back[inside] + (1 - a) * image[inside]), 0, 255).astype(np.uint8)
    return out
