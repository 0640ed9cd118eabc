"""Test media: the ../shared data folder (a skip naming what is missing) and small videos, frames and FER2013
subsets made from it. A plain module that tests import; the fixtures are in conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from affectstream.training.synthetic import SyntheticConfig

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def decode_frames(path) -> list:
    """Every frame of a video, decoded in order with OpenCV (the reference for seeking tests)."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    return frames


def long_face_video(path: Path, frames: int = 720) -> str:
    """The shared one-face clip looped to ``frames`` frames (24 s at 30 fps): a video a job can be stopped in."""
    import cv2

    clip = decode_frames(shared_file("videos", "single_face.mp4"))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (640, 360))
    for i in range(frames):
        writer.write(clip[i % len(clip)])
    writer.release()
    return str(path)


def face_clip(path: Path, frames: int) -> Path:
    """The first ``frames`` frames of the shared one-face video as a video of their own: a real face, little work."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (640, 360))
    for image in decode_frames(shared_file("videos", "single_face.mp4"))[:frames]:
        writer.write(image)
    writer.release()
    return path


def shared_file(*parts: str) -> Path:
    """A file under ../shared/data, or a skip naming what is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared real data is needed for this test")
    return path


def two_face_frames(folder: Path, frames: int = 3) -> Path:
    """A folder of whole frames numbered from 0, as AFEW-VA's: each is a frame of the shared AFEW-VA clip beside
    its mirror image (two faces, 1440x576). Read as aligned faces it is one "face" per frame; as whole frames, two."""
    import cv2
    import numpy as np

    folder.mkdir(parents=True)
    for n in range(frames):
        image = cv2.imread(str(shared_file("afew-va", "001", f"{n:05d}.png")))
        cv2.imwrite(str(folder / f"{n:05d}.png"), np.hstack([image, image[:, ::-1]]))
    return folder


def fer2013_subset(folder: Path, per_split: int = 24) -> Path:
    """The first ``per_split`` faces of each FER2013 split as a small fer2013.npz in ``folder``."""
    import numpy as np

    with np.load(shared_file("fer2013", "fer2013.npz")) as data:
        keep = np.concatenate([np.flatnonzero(data["usage"] == s)[:per_split]
                               for s in ("Training", "PublicTest", "PrivateTest")])
        path = folder / "fer_small.npz"
        np.savez(path, images=data["images"][keep], labels=data["labels"][keep], usage=data["usage"][keep],
                 classes=data["classes"])
    return path


# The tiny synthetic data set of the `tiny_data` fixture (conftest.py), for tests that write their own copy.
TINY = SyntheticConfig(train_videos=4, val_videos=2, min_frames=50, max_frames=90,
                       min_episode=20, max_episode=60, seed=3)
