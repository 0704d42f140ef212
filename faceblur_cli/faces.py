"""Face detection: RetinaFace, and a second detector that rejects implausible detections.

The detector is RetinaFace MobileNet-0.25 with facexlib's weights, defined in
:mod:`faceblur_cli.models.retinaface` (facexlib's module pulls in torchvision;
its ``FaceRestoreHelper`` also always downloads a face-parsing model). Alignment and
paste-back live in :mod:`faceblur_cli.alignment`.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from .alignment import Face

#: Detection runs on a copy whose longer side is at most this (speed on big photos).
DETECT_MAX_SIDE = 1280


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


MIN_DETECT_SIDE = 32  # no face fits in a thumbnail smaller than the detector's smallest anchor


class FaceFinder:
    """RetinaFace, then implausible detections (a cat's face) rejected by a second detector
    (:class:`FaceVerifier`); both loaded on first use (aligned mode never pays)."""

    def __init__(self, device: torch.device | str = "cpu", verify: bool = True):
        self.device, self.verify = torch.device(device), verify
        self._detector: FaceDetector | None = None
        self._verifier: FaceVerifier | None = None

    @property
    def detector(self) -> FaceDetector:
        if self._detector is None:
            self._detector = FaceDetector(self.device)
        return self._detector

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in ``rgb``; none in a thumbnail too small to hold one."""
        if min(rgb.shape[:2]) < MIN_DETECT_SIDE:
            return []
        faces = self.detector.detect(rgb)
        if faces and self.verify:
            if self._verifier is None:
                self._verifier = FaceVerifier()
            faces = self._verifier.keep(rgb, faces)
        return faces
