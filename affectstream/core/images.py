"""Bring decoded images into the one layout the pipeline uses: 8-bit BGR, 3 channels, upright.

Phone photos are often stored sideways or upside down with an EXIF orientation tag that
every viewer applies; OpenCV's decoder, asked for the file's own channels and depth,
does not. ``exif_orientation`` reads the tag (with Pillow, from the file's header only)
and ``upright`` turns the pixels as a viewer would.
"""

from __future__ import annotations

import io
import os

import cv2
import numpy as np

# EXIF orientation (tag 0x0112): how a viewer turns the stored pixels (rows first, then columns) to show them
# upright, per orientation 1 to 8.
ORIENTATION_TAG = 0x0112
ORIENTATIONS = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirrored left-right
    3: lambda a: a[::-1, ::-1],  # turned 180 degrees
    4: lambda a: a[::-1],  # mirrored top-bottom
    5: lambda a: a.swapaxes(0, 1),  # mirrored across the main diagonal
    6: lambda a: a.swapaxes(0, 1)[:, ::-1],  # turned 90 degrees clockwise
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],  # mirrored across the other diagonal
    8: lambda a: a.swapaxes(0, 1)[::-1],  # turned 90 degrees counter-clockwise
}
# Where an orientation can be: a TIFF's own tags, or an EXIF block near the start of a JPEG (APP1, first after
# the start), PNG (eXIf, before the pixels; a colour profile of more than 16 KiB before it would hide it) or WebP
# (EXIF). A file with neither in its first 16 KiB (every frame of a folder, as a rule) is not parsed by Pillow.
_TIFF_STARTS = (b"II*\0", b"MM\0*")
_EXIF_MARKS = (b"Exif", b"eXIf", b"EXIF")
_HEAD = 1 << 14


def exif_orientation(image_file: str | os.PathLike | bytes | memoryview | np.ndarray) -> int:
    """The EXIF orientation of an image (a path, or the file's bytes), 1 (as stored) where it has none or it
    cannot be read."""
    from PIL import Image

    try:
        if isinstance(image_file, (str, os.PathLike)):
            with open(image_file, "rb") as handle:
                head, source = handle.read(_HEAD), image_file
        else:
            data = memoryview(image_file)
            head, source = bytes(data[:_HEAD]), data
        if head[:4] not in _TIFF_STARTS and not any(mark in head for mark in _EXIF_MARKS):
            return 1
        with Image.open(source if isinstance(source, (str, os.PathLike)) else io.BytesIO(source)) as image:
            value = image.getexif().get(ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001 - any file Pillow cannot parse simply has no orientation to apply
        return 1
    return value if isinstance(value, int) and value in ORIENTATIONS else 1


def upright(image: np.ndarray, orientation: int) -> np.ndarray:
    """The image as a viewer shows it, given its EXIF orientation."""
    return np.ascontiguousarray(ORIENTATIONS[orientation](image))


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
