"""Videos of several faces at once, built from a one-face video, for timing groups.

Each face is the source video in its own cell of a grid (1x1, 2x1, 2x2, 3x2, ...)
on a 1280x720 canvas, starting at a different moment and mirrored in every
other cell, so the faces move and change expression independently. The clip is
played forwards then backwards (it never jumps) for as long as asked.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from affectstream.core.sources.readers import SourceError, VideoFileSource

CANVAS = (1280, 720)
FRAME_OFFSET = 17  # frames between the moments two neighbouring cells show


def grid_for(faces: int) -> tuple[int, int]:
    """(columns, rows) of the smallest grid with room for ``faces``, wider than tall."""
    columns = math.ceil(math.sqrt(faces))
    rows = math.ceil(faces / columns)
    return columns, rows


def cell_boxes(faces: int, canvas: tuple[int, int] = CANVAS) -> list[tuple[int, int, int, int]]:
    """(x0, y0, width, height) of each face's cell, row by row."""
    columns, rows = grid_for(faces)
    width, height = canvas[0] // columns, canvas[1] // rows
    return [((k % columns) * width, (k // columns) * height, width, height) for k in range(faces)]


def _fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    scale = min(width / image.shape[1], height / image.shape[0])
    return cv2.resize(image, (max(int(image.shape[1] * scale), 1), max(int(image.shape[0] * scale), 1)),
                      interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def back_and_forth(frames: list[np.ndarray], index: int) -> np.ndarray:
    """Frame ``index`` of the clip played forwards then backwards, over and over (it never jumps)."""
    period = max(2 * len(frames) - 2, 1)
    p = index % period
    return frames[p if p < len(frames) else period - p]


def compose(frames: list[np.ndarray], faces: int, index: int, canvas: tuple[int, int] = CANVAS) -> np.ndarray:
    """Frame ``index`` of the group video."""
    out = np.zeros((canvas[1], canvas[0], 3), np.uint8)
    for k, (x0, y0, width, height) in enumerate(cell_boxes(faces, canvas)):
        image = back_and_forth(frames, index + k * FRAME_OFFSET)
        if k % 2:
            image = image[:, ::-1]
        image = _fit(image, width, height)
        top, left = y0 + (height - image.shape[0]) // 2, x0 + (width - image.shape[1]) // 2
        out[top:top + image.shape[0], left:left + image.shape[1]] = image
    return out


def read_clip(source: Path) -> tuple[float, list[np.ndarray]]:
    """A short video's frame rate and every frame (BGR)."""
    with VideoFileSource(source) as video:
        fps, frames = video.fps, [frame.image for frame in video]
    if not frames:
        raise SourceError(f"{source}: no frames")
    return fps, frames


def write_video(out: Path, fps: float, size: tuple[int, int], frames: Iterable[np.ndarray]) -> Path:
    """An mp4v video of ``frames``, in place only once whole."""
    out.parent.mkdir(parents=True, exist_ok=True)
    # OpenCV picks the container by the name's suffix: the partial file keeps it, and is renamed when whole.
    partial = out.with_name(f".{out.stem}.partial{out.suffix}")
    writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    try:
        if not writer.isOpened():
            raise SourceError(f"cannot write {partial} (no mp4v encoder?)")
        for frame in frames:
            writer.write(frame)
        writer.release()
        os.replace(partial, out)
    finally:
        writer.release()
        partial.unlink(missing_ok=True)
    return out


def build_group_video(source: Path, faces: int, out: Path, seconds: float = 10.0) -> Path:
    """Write (once; reused while it exists) a group video of ``faces`` copies of ``source``."""
    if out.is_file():
        return out
    fps, frames = read_clip(source)
    return write_video(out, fps, CANVAS, (compose(frames, faces, i) for i in range(int(round(seconds * fps)))))
