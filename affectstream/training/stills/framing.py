"""How a labelled still is shown to the face detector, and how it is read from disk.

Face data sets are distributed as tight crops (FER2013 and CK+ at 48x48, DiffusionFER
at 224x224); the Face Landmarker misses faces that fill the whole image. Each still
is padded by repeating its border and scaled up until its longer side reaches
``min_side``, then handed to the landmarker as a BGR frame, as a video frame would be.
A mirrored framing flips the still left-right first: a second, real view of the same
labelled face for training (expression, valence/arousal and AU occurrence do not
change in a mirror).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from affectstream.core.errors import UserInputError
from affectstream.core.images import exif_orientation, upright


@dataclass(frozen=True)
class Framing:
    """Border added on every side (a fraction of the longer side), the smallest longer side, and a left-right flip."""

    pad: float = 0.25
    min_side: int = 256
    mirror: bool = False

    def __post_init__(self) -> None:
        if not (0.0 <= self.pad <= 2.0) or not (16 <= self.min_side <= 4096):
            raise UserInputError(f"framing needs 0 <= pad <= 2 and 16 <= min_side <= 4096, got {self}")

    def frame(self, image: np.ndarray) -> np.ndarray:
        """The BGR uint8 frame the landmarker sees for one still (grey or BGR uint8)."""
        if self.mirror:
            image = cv2.flip(image, 1)
        pad = int(round(self.pad * max(image.shape[:2])))
        padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        longer = max(padded.shape[:2])
        if longer < self.min_side:
            scale = self.min_side / longer
            padded = cv2.resize(padded, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        return cv2.cvtColor(padded, cv2.COLOR_GRAY2BGR) if padded.ndim == 2 else padded

    def to_json(self) -> dict[str, float | bool]:
        # "mirror" only when set, so the cache keys of unmirrored stills stay what they were.
        return {"pad": float(self.pad), "min_side": int(self.min_side)} | ({"mirror": True} if self.mirror else {})


# 48x48 crops (FER2013, CK+ as distributed here): 8 px of border, then x4 to 256 px.
SMALL_CROP = Framing(pad=1 / 6, min_side=256)


def read_image(path: str | Path) -> np.ndarray:
    """A still as grey or BGR uint8, upright as a viewer shows it (its EXIF orientation applied); a file that
    cannot be decoded is a UserInputError naming it."""
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)  # imdecode, unlike imread, takes any path
    except OSError as exc:
        raise UserInputError(f"{path}: cannot read image ({exc.strerror or exc})") from None
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise UserInputError(f"{path}: not a readable image")
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(float(image.max()), 1.0))
    if image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    return upright(image, exif_orientation(data))
