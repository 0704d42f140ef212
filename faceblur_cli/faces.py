"""Face detection (RetinaFace), alignment to the training scale, feathered paste-back.

The detector is RetinaFace MobileNet-0.25 with facexlib's weights, defined in
:mod:`faceblur_cli.models.retinaface` (facexlib's module pulls in torchvision;
its ``FaceRestoreHelper`` also always downloads a face-parsing model). Alignment is a
similarity transform (OpenCV) onto a 5-point template whose scale matches the training
faces, so the blur the model sees has the size it was trained on.
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
    """RetinaFace MobileNet-0.25 (facexlib's weights), verified and loaded with ``weights_only=True``."""

    def __init__(self, device: torch.device | str = "cpu", weights: str = "retinaface"):
        from .models.retinaface import RetinaFaceMobile, fuse_batchnorm
        from .weights import WeightsError, load_checkpoint, resolve

        path, _ = resolve(weights)
        state = {k.removeprefix("module."): v for k, v in load_checkpoint(path).items()}
        self.device = torch.device(device)
        self.net = RetinaFaceMobile()
        try:
            self.net.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise WeightsError(f"{path}: not RetinaFace MobileNet-0.25 weights ({str(err).splitlines()[0]})") from None
        # channels-last: oneDNN's depthwise/pointwise convolutions run ~10 % faster on a CPU in NHWC
        fuse_batchnorm(self.net.eval()).to(self.device)
        self.net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stub lacks it

    @torch.no_grad()
    def detect(self, rgb: np.ndarray, threshold: float = 0.8, nms_iou: float = 0.4) -> list[Face]:
        """Faces in an H x W x 3 uint8 RGB image, largest score first."""
        from .compat import nms_reference
        from .models.retinaface import MEAN_BGR, decode, priors

        h, w = rgb.shape[:2]
        scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
        img = (
            rgb if scale == 1.0 else cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        )
        bgr = img[:, :, ::-1].astype(np.float32) - np.asarray(MEAN_BGR, np.float32)
        x = torch.from_numpy(np.ascontiguousarray(bgr)).permute(2, 0, 1)[None].to(self.device)  # NHWC, no copy
        threads = torch.get_num_threads()
        if self.device.type == "cpu":
            # One thread: oneDNN's 1x1 convolutions sum in a thread-count-dependent order, and the
            # landmarks' last bits (then the aligned crops) would depend on the machine's free
            # cores; so every engine, worker and machine finds the same faces (~20 ms a photo).
            torch.set_num_threads(1)
        try:
            boxes, scores, landmarks = (t[0].float().cpu() for t in self.net(x))
        finally:
            torch.set_num_threads(threads)
        corners, points = decode(boxes, landmarks, priors(*img.shape[:2]))
        keep = scores > threshold
        corners, points, scores = corners[keep], points[keep], scores[keep]
        keep = nms_reference(corners, scores, nms_iou)
        size = torch.tensor([img.shape[1], img.shape[0]], dtype=torch.float32)
        return [
            Face(
                box=(corners[i].reshape(2, 2) * size).reshape(4).numpy() / scale,
                score=float(scores[i]),
                landmarks=(points[i] * size).numpy() / scale,
            )
            for i in keep.tolist()
        ]


class FaceVerifier:
    """A second opinion on RetinaFace's detections: YuNet (OpenCV Zoo), run on each detection's
    neighbourhood only (a few ms a face).

    Why: RetinaFace scores a cat's face up to 0.94, within reach of real blurred faces (0.93 on
    the real video frames), so no score threshold separates them; YuNet scores the same cat at
    most 0.49 (0.37 on its crop) and 440 held-out real faces, blurred or not, at 0.6 or more. A detection is kept
    when YuNet finds a face over it scoring at least ``min_score``, or RetinaFace itself is
    ``sure`` (so a face YuNet cannot see, e.g. a tiny one, is not lost on a confident detection).
    """

    def __init__(self, min_score: float = 0.5, sure: float = 0.995, weights: str = "yunet"):
        from .weights import resolve

        path, _ = resolve(weights)
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # no graph-engine chatter
        self.net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), 0.3, 0.3, 50)
        self.min_score, self.sure = min_score, sure

    def score(self, rgb: np.ndarray, face: Face) -> float:
        """YuNet's best score for a face overlapping ``face`` (0 if none), on a crop around its box."""
        x1, y1, x2, y2 = face.box
        w, h = x2 - x1, y2 - y1
        cx0, cy0 = int(max(0, x1 - 0.6 * w)), int(max(0, y1 - 0.6 * h))
        cx1, cy1 = int(min(rgb.shape[1], x2 + 0.6 * w)), int(min(rgb.shape[0], y2 + 0.6 * h))
        crop = rgb[cy0:cy1, cx0:cx1]
        if crop.size == 0:
            return 0.0
        scale = min(1.0, 320 / max(crop.shape[:2]))
        if scale < 1:
            crop = cv2.resize(
                crop,
                (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                interpolation=cv2.INTER_AREA,
            )
        self.net.setInputSize((crop.shape[1], crop.shape[0]))
        _, found = self.net.detect(np.ascontiguousarray(crop[:, :, ::-1]))
        if found is None:
            return 0.0
        box = np.array([x1 - cx0, y1 - cy0, x2 - cx0, y2 - cy0]) * scale
        best = 0.0
        for f in found:
            other = np.array([f[0], f[1], f[0] + f[2], f[1] + f[3]])
            if _box_iou(box, other) >= 0.3:
                best = max(best, float(f[-1]))
        return best

    def keep(self, rgb: np.ndarray, faces: list[Face]) -> list[Face]:
        return [f for f in faces if f.score >= self.sure or self.score(rgb, f) >= self.min_score]


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


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


#: Largest crop side a big face is cut at (its network time grows with the square).
MAX_CROP_SIDE = 768


def crop_geometry(landmarks: np.ndarray, min_scale: float = 0.0) -> tuple[np.ndarray, int]:
    """(matrix, crop side) for one face.

    A face larger than the template is normally shrunk into the 256 x 256 crop, and the network's
    correction can then only carry the lower half of the photo's frequencies. With ``min_scale``
    > 0 the face is never shrunk by more than that: the crop grows instead (a multiple of 32, at
    most :data:`MAX_CROP_SIDE`), with the template scaled alike, so a large face keeps its detail.
    """
    matrix = alignment_matrix(landmarks)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if not min_scale or scale >= min_scale:
        return matrix, FACE_SIZE
    side = min(MAX_CROP_SIDE, int(np.ceil(FACE_SIZE * min_scale / scale / 32)) * 32)
    return matrix * (side / FACE_SIZE), side


def warp_face(rgb: np.ndarray, matrix: np.ndarray, side: int = FACE_SIZE) -> np.ndarray:
    """Cut the aligned ``side`` x ``side`` crop (reflected borders, so no black wedges)."""
    return cv2.warpAffine(rgb, matrix, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def feather_mask(size: int = FACE_SIZE, margin: int = 16) -> np.ndarray:
    """A square mask, 1 inside and smoothly falling to 0 over ``margin`` px at the crop's border."""
    ramp = np.clip(np.minimum(np.arange(size), np.arange(size)[::-1]) / margin, 0.0, 1.0).astype(np.float32)
    ramp = ramp * ramp * (3 - 2 * ramp)  # smoothstep: no visible edge in the gradient either
    return np.outer(ramp, ramp)


def paste_back(
    image: np.ndarray,
    restored: np.ndarray,
    matrix: np.ndarray,
    mask: np.ndarray | None = None,
    crop: np.ndarray | None = None,
    inplace: bool = False,
    original: np.ndarray | None = None,
) -> np.ndarray:
    """Blend a restored aligned crop back into ``image`` through the inverse warp.

    With ``crop`` (the aligned input the network saw) only the network's **correction**
    ``restored - crop`` is warped back and added to the original pixels. Pasting the
    restored crop itself would also paste the round trip's resampling loss: a face
    larger than the template is downsampled into the crop and upsampled back (on the
    real video frames that alone costs 0.5 dB); the correction carries only what the
    network changed. Pixels where the warped mask is 0 are copied from the input bit for bit.

    Only the face's bounding box in ``image`` is warped and blended (memory and time scale with
    the face, not the photo); ``inplace`` writes into ``image`` instead of a copy.
    ``original`` (with ``crop``): the correction is added to these pixels and blended over ``image``
    by the mask, for an ``image`` that was already processed otherwise (``--whole``: the tiled frame).
    """
    h, w = image.shape[:2]
    out = image if inplace else image.copy()
    inverse = cv2.invertAffineTransform(matrix)
    mask = feather_mask(restored.shape[0], max(1, 16 * restored.shape[0] // FACE_SIZE)) if mask is None else mask
    side = restored.shape[0]
    corners = np.array([[0, 0, 1], [side, 0, 1], [0, side, 1], [side, side, 1]], np.float64) @ inverse.T
    x0, y0 = (max(0, int(np.floor(v)) - 2) for v in corners.min(0))
    x1, y1 = min(w, int(np.ceil(corners[:, 0].max())) + 2), min(h, int(np.ceil(corners[:, 1].max())) + 2)
    if x1 <= x0 or y1 <= y0:
        return out
    roi = inverse.copy()
    roi[:, 2] -= (x0, y0)  # the same warp, written into the box's own coordinates
    size = (x1 - x0, y1 - y0)
    src = restored if crop is None else restored.astype(np.float32) - crop.astype(np.float32)
    back = cv2.warpAffine(src, roi, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    alpha = cv2.warpAffine(mask, roi, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    region = out[y0:y1, x0:x1]
    inside = alpha > 0
    a = alpha[inside][:, None]
    if crop is None:
        mixed = a * back[inside] + (1 - a) * region[inside]
    elif original is not None:
        base = original[y0:y1, x0:x1][inside].astype(np.float32)
        mixed = a * (base + back[inside]) + (1 - a) * region[inside]
    else:
        mixed = region[inside] + a * back[inside]
    region[inside] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    return out
