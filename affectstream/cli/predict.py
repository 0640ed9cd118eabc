"""`affectstream predict`: predictions in the ABAW submission layout.

The output has the header ``image,valence,arousal,expression,aus`` and per frame
``<video>/<frame>.jpg,V,A,EXPR,AU1,...,AU26`` with 12 AU columns of 0/1.

A file already at --out is replaced only when it is a predictions file (that header first). A video whose features
cannot be read is left out, said in one line, and the others are written; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from affectstream.core.atomic import (check_inputs_kept, not_ours, require_writable_file, starts_with_line, write_text_atomic,
                                 written_file)
from affectstream.core.errors import UserInputError
from affectstream.core.features.store import FeatureStore, FeatureStoreError
from affectstream.training.annotations import format_image_name, parse_image_name
from affectstream.cli._models import add_model_arguments, model_inputs, models_from_args
from affectstream.training.evaluation import (Ensemble, VideoPrediction, coverage_report, failure_report,
                                              predict_videos)
from affectstream.cli._types import output_text

SUBMISSION_HEADER = "image,valence,arousal,expression,aus"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--features", required=True, help="feature store folder")
    parser.add_argument("--frames", help="the frames to predict: an ABAW annotation or frame-list file "
                                         "(first column <video>/<frame>.jpg). Default: every frame in the store")
    parser.add_argument("--out", type=output_text, required=True, help="submission file to write")
    parser.add_argument("--no-smooth", action="store_true", help="leave valence/arousal unsmoothed")
    parser.add_argument("--no-progress", action="store_true")


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


def run(args: argparse.Namespace) -> int:
    require_writable_file(args.out)
    ensemble = models_from_args(args)
    # After loading: an ensemble file's members are known only then; before any prediction is written.
    check_inputs_kept(model_inputs(args, ensemble) | {"--features": args.features, "--frames": args.frames},
                      [written_file("--out", args.out)])
    check_own_output(args.out)
    store = FeatureStore(Path(args.features))
    wanted = read_frame_list(args.frames) if args.frames else frames_in_store(ensemble, store)
    predictions = predict_videos(ensemble, store, wanted, smooth=not args.no_smooth, progress=not args.no_progress)
    failures = failure_report(predictions)
    for line in failures:
        print(line, file=sys.stderr)
    if failures and not any(p.frames.size for p in predictions):
        raise UserInputError(f"--features {args.features}: no frame could be predicted (see above); nothing written")
    write_text_atomic(args.out, format_submission(predictions, ensemble.au_thresholds))
    frames = sum(len(p.frames) for p in predictions)
    print(f"model: {ensemble.name}")
    for line in coverage_report(predictions):
        print(line)
    print(f"wrote {frames} frames of {sum(len(p.frames) > 0 for p in predictions)} videos to {args.out}"
          + ("; the frames without a prediction are not in it" if any(len(p.unpredicted) for p in predictions)
             else ""))
    return 1 if failures else 0
