"""The ABAW submission layout `predict` writes, and the frame lists it reads.

The output has the header ``image,valence,arousal,expression,aus`` and per frame
``<video>/<frame>.jpg,V,A,EXPR,AU1,...,AU26`` with 12 AU columns of 0/1.
"""

from __future__ import annotations

import io
from collections import defaultdict
from pathlib import Path

import numpy as np

from affectstream.core.atomic import not_ours, require_writable_file, starts_with_line
from affectstream.core.errors import UserInputError
from affectstream.core.features.store import FeatureStore, FeatureStoreError
from affectstream.training.annotations import format_image_name, parse_image_name
from affectstream.training.evaluation import Ensemble, VideoPrediction

SUBMISSION_HEADER = "image,valence,arousal,expression,aus"


def read_frame_list(path: str | Path) -> dict[str, np.ndarray]:
    """video -> sorted frame numbers, from a file whose first column names images."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise UserInputError(f"{path}: cannot read the frame list ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise UserInputError(f"{path}: not a UTF-8 text file ({exc})") from None
    frames: dict[str, list[int]] = defaultdict(list)
    for number, line in enumerate(lines, start=1):
        field = line.split(",", 1)[0].strip()
        if not field or (number == 1 and field == "image"):
            continue
        parsed = parse_image_name(field)
        if parsed is None:
            raise UserInputError(f"{path}:{number}: {field!r} is not <video>/<frame>.jpg")
        frames[parsed[0]].append(parsed[1])
    if not frames:
        raise UserInputError(f"{path}: no frames listed")
    return {video: np.unique(np.asarray(f, dtype=np.int64)) for video, f in sorted(frames.items())}


def frames_in_store(ensemble: Ensemble, store: FeatureStore) -> dict[str, np.ndarray]:
    """Every frame the store holds of the first member's first backbone, per video."""
    backbone = ensemble.members[0].meta.feature_names[0]
    videos = store.videos(backbone)
    if not videos:
        raise UserInputError(f"no videos for backbone {backbone!r} in {store.root}")
    return {video: _stored_frames(store, backbone, video) for video in videos}


def _stored_frames(store: FeatureStore, backbone: str, video: str) -> np.ndarray:
    """The video's frames in the store; none where its file cannot be read (predicting it then says why)."""
    try:
        return store.read(backbone, video).frames
    except FeatureStoreError:
        return np.zeros(0, np.int64)


def check_own_output(path: str) -> None:
    """predict replaces a predictions file only (its header first): never a model, a resume point or notes."""
    target = require_writable_file(path)
    if target.exists() and not starts_with_line(target, SUBMISSION_HEADER):
        raise not_ours("--out", path, "a file that is no predictions file (its first line is not predict's header)",
                       "predict")


def format_submission(predictions: list[VideoPrediction], thresholds: np.ndarray) -> str:
    buffer = io.StringIO()
    buffer.write(SUBMISSION_HEADER + "\n")
    for p in predictions:
        expr = p.preds.expr_probs.argmax(axis=1)
        aus = (p.preds.au_probs >= thresholds).astype(int)
        for i, frame in enumerate(p.frames):
            va = p.preds.va[i]
            buffer.write(f"{format_image_name(p.video, frame)},{va[0]:.6f},{va[1]:.6f},{expr[i]},"
                         + ",".join(str(a) for a in aus[i]) + "\n")
    return buffer.getvalue()
