"""Five-point face alignment: a similarity transform onto a standard template.

As in the paper (and the ABAW cropped-aligned images), faces are aligned by eye
centres, nose tip and mouth corners. The 112x112 template is the one used by
ArcFace-style recognition models; other sizes scale it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from affectstream.core.faces.types import FaceResult

# Eye centres, nose tip, mouth corners at 112x112; "left" means the image's left.
TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],  # eye on the image's left (the subject's right eye)
        [73.5318, 51.4728],  # eye on the image's right
        [56.0252, 71.7366],  # nose tip
        [41.5493, 92.3655],  # mouth corner on the image's left
        [70.7299, 92.2041],  # mouth corner on the image's right
    ],
    dtype=np.float64,
)

# MediaPipe face mesh indices: eye corners (averaged into eye centres: stabler
# than the iris, which moves with gaze), nose tip and mouth corners.
_EYE_LEFT_IN_IMAGE = (33, 133)
_EYE_RIGHT_IN_IMAGE = (362, 263)
_NOSE_TIP = 1
_MOUTH_LEFT_IN_IMAGE = 61
_MOUTH_RIGHT_IN_IMAGE = 291


MIN_CROP_SIZE = 16
# The largest aligned crop side taken: the shipped extractors see 48 and 112 px and image backbones seldom
# more than 448, while a crop is warped and kept per frame: a mistyped size would exhaust memory mid-batch.
MAX_CROP_SIZE = 512


def template(size: int) -> np.ndarray:
    """The five template points for a size x size crop."""
    if size < MIN_CROP_SIZE:
        raise ValueError(f"aligned crop size must be at least {MIN_CROP_SIZE}, not {size}")
    return TEMPLATE_112 * (size / 112.0)


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """(5, 2) eye centres, nose tip and mouth corners from the 478 mesh landmarks."""
    marks = np.asarray(landmarks, dtype=np.float64)[:, :2]
    return np.stack(
        [
            marks[list(_EYE_LEFT_IN_IMAGE)].mean(axis=0),
            marks[list(_EYE_RIGHT_IN_IMAGE)].mean(axis=0),
            marks[_NOSE_TIP],
            marks[_MOUTH_LEFT_IN_IMAGE],
            marks[_MOUTH_RIGHT_IN_IMAGE],
        ]
    )


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2x3 least-squares similarity (rotation, uniform scale, shift) taking source to target.

    Umeyama's closed form; reflections are excluded so a face is never mirrored.
    """
    src, dst = np.asarray(source, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"need matching (N>=2, 2) point sets, got {src.shape} and {dst.shape}")
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_var = (src_c**2).sum() / len(src)
    if src_var < 1e-12:
        raise ValueError("source points coincide")
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1.0
    rotation = u @ np.diag(d) @ vt
    scale = (s * d).sum() / src_var
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def apply_transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    return points[:, :2] @ matrix[:, :2].T + matrix[:, 2]


@dataclass(frozen=True)
class AlignedFace:
    """A face warped onto the template: BGR (size, size, 3) or grey (size, size)."""

    image: np.ndarray
    matrix: np.ndarray  # (2, 3): frame pixels -> crop pixels
    size: int
    grey: bool
    points: np.ndarray  # (5, 2) the face's five points in crop pixels

    def as_grey(self) -> np.ndarray:
        return self.image if self.grey else cv2.cvtColor(self.image, cv2.COLOR_BGR2GRAY)

    def as_bgr(self) -> np.ndarray:
        return cv2.cvtColor(self.image, cv2.COLOR_GRAY2BGR) if self.grey else self.image


def align_points(frame_bgr: np.ndarray, points: np.ndarray, size: int = 112, grey: bool = False) -> AlignedFace:
    """Warp the frame so that the five points land on the template at ``size``."""
    matrix = similarity_transform(points, template(size))
    crop = cv2.warpAffine(frame_bgr, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    if grey and crop.ndim == 3:
        # Converting the small crop is cheaper than converting the whole frame.
        crop = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    return AlignedFace(crop, matrix, size, grey, apply_transform(matrix, points))


def align_face(frame_bgr: np.ndarray, face: FaceResult, size: int = 112, grey: bool = False) -> AlignedFace:
    """Align one analysed face (its five points come from the 478 landmarks)."""
    return align_points(frame_bgr, five_points(face.landmarks), size, grey)


def whole_image_as_aligned(image_bgr: np.ndarray, size: int, grey: bool = False) -> AlignedFace:
    """An image that is already a cropped, aligned face (s-Aff-Wild2), resized to ``size``."""
    height, width = image_bgr.shape[:2]
    matrix = np.array([[size / width, 0.0, 0.0], [0.0, size / height, 0.0]])
    crop = image_bgr
    if (width, height) != (size, size):
        crop = cv2.resize(image_bgr, (size, size), interpolation=cv2.INTER_AREA)
    if grey and crop.ndim == 3:
        crop = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    return AlignedFace(crop, matrix, size, grey, template(size))


class AlignedCrops:
    """The aligned crops of one face in one frame, made on first request per (size, grey).

    Several extractors may want the same crop; each is warped once. For a source
    of already aligned faces (s-Aff-Wild2) the whole image is the crop.
    """

    def __init__(self, frame_bgr: np.ndarray, face: FaceResult | None, prealigned: bool = False) -> None:
        if face is None and not prealigned:
            raise ValueError("need a face to align, or an already aligned image")
        self.frame_bgr, self.face, self.prealigned = frame_bgr, face, prealigned
        self._cache: dict[tuple[int, bool], AlignedFace] = {}

    def get(self, size: int, grey: bool = False) -> AlignedFace:
        key = (int(size), bool(grey))
        if key not in self._cache:
            if self.prealigned:
                self._cache[key] = whole_image_as_aligned(self.frame_bgr, *key)
            else:
                self._cache[key] = align_face(self.frame_bgr, self.face, *key)
        return self._cache[key]
