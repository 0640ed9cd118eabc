"""Test media: the ../shared data folder (a skip naming what is missing) and small videos, frames and FER2013
subsets made from it, and a results table with known segments. A plain module that tests import; the fixtures are in conftest.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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


RESULTS_FRAME_MS = 40  # 25 fps


def _results_face(number: int, expression: str, aus_on: set[str], valence: float):
    from affectstream.core.labels import ACTION_UNITS, EXPRESSIONS
    from affectstream.core.results.types import FaceAffect

    probs = np.full(len(EXPRESSIONS), 0.02, np.float32)
    probs[EXPRESSIONS.index(expression)] = 0.86
    on = np.array([au in aus_on for au in ACTION_UNITS])
    return FaceAffect(number, (number - 1) * RESULTS_FRAME_MS, 0, (10.0, 10.0, 60.0, 60.0), None, 0.9, valence, 0.2,
                      valence, 0.2, probs, expression, np.where(on, 0.8, 0.1).astype(np.float32), on, number)


def known_results_frames() -> list:
    """70 frames of one face at 25 fps with known segments: frames 1-20 Neutral, 21-22 Happiness (an 80 ms
    flicker), 23-40 Neutral, 41-45 no face, 46-70 Happiness with AU6 and AU12 on; valence 0.05 until frame 45,
    0.55 after."""
    from affectstream.core.results.types import FrameAffect, StageTimes

    frames = []
    for k in range(70):
        number = k + 1
        if 41 <= number <= 45:
            faces: tuple = ()
        elif number >= 46:
            faces = (_results_face(number, "Happiness", {"AU12", "AU6"}, 0.55),)
        else:
            faces = (_results_face(number, "Happiness" if number in (21, 22) else "Neutral", set(), 0.05),)
        frames.append(FrameAffect(number, k * RESULTS_FRAME_MS, "clip", "test-model", faces, StageTimes()))
    return frames
