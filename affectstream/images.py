"""Bring decoded images into the one layout the pipeline uses: 8-bit BGR, 3 channels."""

from __future__ import annotations

import cv2
import numpy as np


def to_bgr(image: np.ndarray) -> np.ndarray:
    """8-bit BGR (H, W, 3) from grey, BGR, BGRA or 16-bit images.

    An alpha channel is composited over white, so transparent areas do not turn
    into black shapes that the face detector may misread.
    """
    image = np.asarray(image)
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ValueError(f"unsupported image dtype {image.dtype} (expected uint8 or uint16)")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"unsupported image shape {image.shape}")
    if image.shape[2] == 4:
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        colour = image[:, :, :3].astype(np.float32)
        return np.ascontiguousarray(colour * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    return np.ascontiguousarray(image)
