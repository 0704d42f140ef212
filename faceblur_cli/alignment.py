"""Where a face is and how it maps onto the aligned crop: the 5-point template, the similarity
warp in, and the feathered paste-back of the network's correction out.

Kept apart from the detectors (:mod:`faceblur_cli.faces`) because it needs only OpenCV and NumPy:
the stages that paste back and encode (the Ray engine's finish workers, the video writer) start
without importing torch. Alignment is a similarity transform onto a template whose scale matches
the training faces, so the blur the model sees has the size it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Face crop side in pixels, and the 5-point template (left eye, right eye, nose,
#: mouth left, mouth right) inside it. Eye distance 48 px: between CelebA's
#: aligned faces (~39 px) and Helen's crops (~65 px), the scales of the training data.
FACE_SIZE = 256
FACE_TEMPLATE = np.array(
    [[104.0, 108.0], [152.0, 108.0], [128.0, 137.5], [109.0, 158.0], [147.0, 158.0]], dtype=np.float32
)


@dataclass
class Face:
    box: np.ndarray  # x1, y1, x2, y2 in image pixels
    score: float
    landmarks: np.ndarray  # 5 x 2


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
