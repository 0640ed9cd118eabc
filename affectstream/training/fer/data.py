"""FER2013 from its .npz (the project keeps it in ../shared/data/fer2013/), held in memory as uint8 tensors."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from affectstream.core.errors import UserInputError
from affectstream.core.features.expression_cnn import FER_CLASSES

SPLITS = ("Training", "PublicTest", "PrivateTest")


class FerDataError(UserInputError):
    """The FER2013 file is missing or not in the expected layout."""


@dataclass(frozen=True)
class FerSplit:
    name: str
    images: torch.Tensor  # (N, 48, 48) uint8
    labels: torch.Tensor  # (N,) int64, FER2013 order

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, indices: np.ndarray) -> "FerSplit":
        idx = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        return FerSplit(self.name, self.images[idx], self.labels[idx])


def load_fer2013(path: str | Path) -> dict[str, FerSplit]:
    """The three official splits; raises FerDataError with the expected location when absent."""
    path = Path(path)
    if not path.is_file():
        raise FerDataError(f"FER2013 not found at {path} (expected ../shared/data/fer2013/fer2013.npz; see ../shared/README.md)")
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):  # a plain .npy array, not an archive of named arrays
            raise FerDataError(f"{path}: one array, not an .npz archive of images, labels, usage and classes")
        with data:
            missing = {"images", "labels", "usage", "classes"} - set(data.files)
            if missing:
                raise FerDataError(f"{path}: missing arrays {sorted(missing)}")
            images, labels, usage = data["images"], data["labels"], data["usage"]
            classes = tuple(str(c) for c in data["classes"])
    except FerDataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # not an .npz, cut short, or pickled objects
        raise FerDataError(f"{path}: not a readable FER2013 .npz ({exc})") from None
    if classes != FER_CLASSES:
        raise FerDataError(f"{path}: classes {classes} differ from the FER2013 order {FER_CLASSES}")
    if images.ndim != 3 or images.shape[1:] != (48, 48) or images.dtype != np.uint8:
        raise FerDataError(f"{path}: images must be (N, 48, 48) uint8, not {images.shape} {images.dtype}")
    if labels.shape != (len(images),) or usage.shape != (len(images),):
        raise FerDataError(f"{path}: {len(images)} images but labels {labels.shape} and usage {usage.shape}; "
                           "each needs one entry per image")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min(initial=0) < 0 \
            or labels.max(initial=0) >= len(FER_CLASSES):
        bad = next((int(i) for i, v in enumerate(labels) if not 0 <= v < len(FER_CLASSES)), None)
        raise FerDataError(f"{path}: labels must be whole numbers 0-{len(FER_CLASSES) - 1} (FER2013's classes)"
                           + (f"; image {bad} has {labels[bad]}" if bad is not None else f", not {labels.dtype}"))
    unknown = sorted(set(np.unique(usage).tolist()) - set(SPLITS), key=str)
    if unknown:  # each split below takes its exact name: another spelling's images would vanish unsaid
        count = int(np.sum(~np.isin(usage, SPLITS)))
        raise FerDataError(f"{path}: usage {', '.join(repr(str(u)) for u in unknown)} ({count} images) is not one "
                           f"of {', '.join(SPLITS)}")
    splits = {}
    for name in SPLITS:
        mask = usage == name
        if not mask.any():
            raise FerDataError(f"{path}: no images in split {name!r}")
        splits[name] = FerSplit(
            name,
            torch.from_numpy(np.ascontiguousarray(images[mask])),
            torch.from_numpy(labels[mask].astype(np.int64)),
        )
    return splits


def fixed_sample(split: FerSplit, n: int, seed: int = 0) -> FerSplit:
    """A reproducible random subset (the tests' and the run-time path's sample)."""
    if n >= len(split):
        return split
    idx = np.sort(np.random.default_rng(seed).choice(len(split), size=n, replace=False))
    return split.subset(idx)
