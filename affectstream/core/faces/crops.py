"""Saving aligned crops, and a contact sheet (grid) of them to look at."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from affectstream.core.atomic import atomic_write


def encode_jpeg(image: np.ndarray, quality: int = 95) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return data.tobytes()


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_write(path) as handle:
        handle.write(data)


def crop_grid(images: Sequence[np.ndarray], columns: int = 8, size: int = 112,
              labels: Sequence[str] = ()) -> np.ndarray:
    """Tile crops (grey or BGR) into one BGR image, each resized to size x size."""
    if not images:
        raise ValueError("no crops to put in a grid")
    rows = -(-len(images) // columns)
    sheet = np.full((rows * size, columns * size, 3), 255, dtype=np.uint8)
    for k, image in enumerate(images):
        tile = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image
        tile = cv2.resize(tile, (size, size), interpolation=cv2.INTER_AREA)
        if k < len(labels):
            cv2.putText(tile, labels[k], (2, size - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.3, (0, 255, 255), 1, cv2.LINE_AA)
        r, c = divmod(k, columns)
        sheet[r * size:(r + 1) * size, c * size:(c + 1) * size] = tile
    return sheet


def grid_from_folder(crops_root: Path, per_video: int = 8, columns: int = 8) -> np.ndarray:
    """A grid of ``per_video`` evenly spaced crops from each ``<root>/<video>/`` folder."""
    images, labels = [], []
    for folder in sorted(p for p in Path(crops_root).iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.jpg"))
        if not files:
            continue
        picks = np.unique(np.linspace(0, len(files) - 1, min(per_video, len(files))).round().astype(int))
        for i in picks:
            images.append(cv2.imread(str(files[i]), cv2.IMREAD_UNCHANGED))
            labels.append(f"{folder.name[:12]}/{files[i].stem}")
    return crop_grid(images, columns=columns, labels=labels)


# The text a crop grid carries in its PNG header: what lets a later run replace its own grid and nothing else.
GRID_MARK = ("Software", "affectstream extract crop grid")
# A hidden file in each video's crop folder that extract made: only such a folder's images are its to replace.
CROPS_MARKER = ".affectstream-crops"


def write_crop_grid(path: Path, image: np.ndarray) -> None:
    """A crop grid (BGR) as a PNG that says it is one (``is_crop_grid``), written atomically."""
    import io

    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text(*GRID_MARK)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image[:, :, ::-1])).save(buffer, "PNG", pnginfo=info)
    write_bytes_atomic(Path(path), buffer.getvalue())


def is_crop_grid(path: Path) -> bool:
    """Whether a file is a crop grid an extract run wrote."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return getattr(image, "text", {}).get(GRID_MARK[0]) == GRID_MARK[1]
    except Exception:  # noqa: BLE001 - a file Pillow cannot read is no grid of ours
        return False


def foreign_crop_files(folder: Path) -> list[Path]:
    """Files in a video's crop folder that extract did not make (the folder has no marker of a crop folder)."""
    if not folder.is_dir() or (folder / CROPS_MARKER).is_file():
        return []
    return sorted(p for p in folder.iterdir())


def mark_crop_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CROPS_MARKER).touch()
