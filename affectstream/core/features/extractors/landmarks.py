"""``landmarks``: face-mesh geometry, normalised for position, scale and in-plane rotation.

Each landmark is mapped by the five-point similarity transform onto the
alignment template at unit size, so (x, y) are in crop units (about -0.5..0.5
around the crop centre) and z is scaled alike: what remains is the face's
shape, expression and out-of-plane pose.
"""

from __future__ import annotations

import numpy as np

from affectstream.core.faces.alignment import TEMPLATE_112, five_points, similarity_transform
from affectstream.core.faces.types import NUM_LANDMARKS
from affectstream.core.features.registry import ExtractorConfig, ExtractorError, FeatureExtractor, register_extractor

_UNIT_TEMPLATE = TEMPLATE_112 / 112.0
# Iris centres: the iris connection lists give only the rings around them.
_IRIS_CENTRES = (468, 473)


def contour_indices() -> tuple[int, ...]:
    """Mesh points on the face oval, eyes, brows, lips, nose and irises (162 of 478)."""
    from mediapipe.tasks.python.vision import FaceLandmarksConnections as C

    groups = (C.FACE_LANDMARKS_CONTOURS, C.FACE_LANDMARKS_LEFT_IRIS, C.FACE_LANDMARKS_RIGHT_IRIS,
              C.FACE_LANDMARKS_NOSE)
    points = {i for group in groups for c in group for i in (c.start, c.end)}
    return tuple(sorted(points | set(_IRIS_CENTRES)))


def point_indices(points: str) -> tuple[int, ...]:
    if points == "all":
        return tuple(range(NUM_LANDMARKS))
    if points == "contours":
        return contour_indices()
    raise ExtractorError(f"landmarks: points must be 'contours' or 'all', not {points!r}")


def normalised_landmarks(landmarks: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """(len(indices), 3) landmarks in unit-template coordinates, centred on the crop."""
    matrix = similarity_transform(five_points(landmarks), _UNIT_TEMPLATE)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    chosen = np.asarray(landmarks, dtype=np.float64)[indices]
    out = np.empty((len(indices), 3), dtype=np.float32)
    out[:, :2] = chosen[:, :2] @ matrix[:, :2].T + matrix[:, 2] - 0.5
    out[:, 2] = chosen[:, 2] * scale
    return out


@register_extractor
class LandmarkExtractor(FeatureExtractor):
    default_config = ExtractorConfig(
        name="landmarks",
        dim=3 * 162,
        input="face",
        licence="Apache-2.0 (MediaPipe Face Landmarker model)",
        description="x, y, z of face-mesh contour points after five-point similarity normalisation",
        params={"points": "contours"},
    )

    def __init__(self, points: str = "contours") -> None:
        self._indices = np.array(point_indices(points))
        base = self.default_config
        self.config = ExtractorConfig(
            name=base.name, dim=3 * len(self._indices), input=base.input, licence=base.licence,
            description=base.description, params={"points": points, "indices": self._indices.tolist()},
        )

    def extract(self, frame_bgr, face, aligned) -> np.ndarray:
        return normalised_landmarks(face.landmarks, self._indices).reshape(-1)
