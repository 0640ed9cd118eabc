"""Per-face and per-frame results of face analysis."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from affectstream.core.errors import UserInputError

# The Face Landmarker's 52 blendshape categories, in its output order.
BLENDSHAPE_NAMES: tuple[str, ...] = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft",
    "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft",
    "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft",
    "jawOpen", "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft",
    "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
)
NUM_BLENDSHAPES = len(BLENDSHAPE_NAMES)
NUM_LANDMARKS = 478
# Faces per frame at most: while fewer are found, every frame is searched again for more, so each one
# allowed costs time on every frame of a video with fewer.
MAX_FACES = 10
# The face detector sees 128 px; a frame narrower or lower than this holds no face it can find, and the
# windows it is cut into for the search would be empty. Such a frame is a frame without a face.
MIN_FRAME_SIDE = 16


@dataclass(frozen=True)
class HeadPose:
    """Head rotation in degrees, from the facial transformation matrix.

    yaw < 0 when the nose points to the image's left, > 0 to its right; roll is
    the in-plane tilt; pitch is the rotation about the horizontal axis. All are
    near 0 for a frontal, upright face.
    """

    yaw: float
    pitch: float
    roll: float

    def as_array(self) -> np.ndarray:
        return np.array([self.yaw, self.pitch, self.roll], dtype=np.float32)


@dataclass(frozen=True)
class FaceResult:
    """One face in one frame. Coordinates are pixels of the analysed frame."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1: the extent of the landmarks
    landmarks: np.ndarray  # (478, 3) float32: x, y in pixels; z in the same scale as x (MediaPipe's relative depth)
    blendshapes: np.ndarray  # (52,) float32 in [0, 1], order BLENDSHAPE_NAMES
    head_pose: HeadPose
    transform: np.ndarray  # (4, 4) float32 facial transformation matrix
    # MediaPipe's Face Landmarker exposes no per-face score: every face it returns
    # has passed its detection and presence thresholds. This is a proxy: the
    # fraction of the 478 landmarks inside the frame (1.0 for a fully visible face).
    confidence: float
    track_id: int | None = None

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    def with_track(self, track_id: int) -> "FaceResult":
        return replace(self, track_id=track_id)


@dataclass(frozen=True)
class FrameFaces:
    """All faces found in one frame (possibly none)."""

    faces: tuple[FaceResult, ...]
    timestamp_ms: int
    image_size: tuple[int, int]  # width, height
    extras: dict = field(default_factory=dict, compare=False)

    def __len__(self) -> int:
        return len(self.faces)

    def largest(self) -> FaceResult | None:
        return max(self.faces, key=lambda f: f.area, default=None)


def too_small_for_faces(image: np.ndarray) -> bool:
    """Whether a frame is too small (on either side) to hold a face the detector can find."""
    return min(image.shape[:2]) < MIN_FRAME_SIDE


def check_max_faces(max_faces: int) -> int:
    if isinstance(max_faces, (bool, np.bool_)) or not isinstance(max_faces, (int, np.integer)):
        raise UserInputError(f"max_faces is a whole number from 1 to {MAX_FACES}, not {max_faces!r}")
    if not 1 <= max_faces <= MAX_FACES:
        raise UserInputError(f"max_faces must be from 1 to {MAX_FACES}, got {max_faces}")
    return max_faces
