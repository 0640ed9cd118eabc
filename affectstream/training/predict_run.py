"""`predict` as a library call: predictions in the ABAW submission layout (see training.submission).

A file already at ``out`` is replaced only when it is a predictions file (its header first). A video whose
features cannot be read is left out, said in one line, and the others are written (``Predicted.failures``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from affectstream.core.atomic import check_inputs_kept, require_writable_file, write_text_atomic, written_file
from affectstream.core.errors import UserInputError
from affectstream.core.features.store import FeatureStore
from affectstream.training.evaluation import coverage_report, failure_report, predict_videos
from affectstream.training.model_choice import ModelChoice, load_choice, model_inputs
from affectstream.training.submission import check_own_output, format_submission, frames_in_store, read_frame_list


@dataclass(frozen=True)
class PredictOptions:
    model: ModelChoice
    features: str  # feature store folder
    out: str  # submission file to write
    frames: str | None = None  # ABAW annotation or frame-list file; None: every frame in the store
    smooth: bool = True  # valence/arousal smoothed with the model's centred window
    progress: bool = True


@dataclass(frozen=True)
class Predicted:
    out: Path
    frames: int  # rows written
    videos: int  # videos with at least one row
    failures: tuple[str, ...] = ()  # one line per video left out (its features unreadable)


def predict(options: PredictOptions) -> Predicted:
    """Write the submission file; print the model, the coverage and what was written."""
    require_writable_file(options.out)
    ensemble = load_choice(options.model)
    # After loading: an ensemble file's members are known only then; before any prediction is written.
    check_inputs_kept(model_inputs(options.model, ensemble) | {"--features": options.features,
                                                               "--frames": options.frames},
                      [written_file("--out", options.out)])
    check_own_output(options.out)
    store = FeatureStore(Path(options.features))
    wanted = read_frame_list(options.frames) if options.frames else frames_in_store(ensemble, store)
    predictions = predict_videos(ensemble, store, wanted, smooth=options.smooth, progress=options.progress)
    failures = failure_report(predictions)
    for line in failures:
        print(line, file=sys.stderr)
    if failures and not any(p.frames.size for p in predictions):
        raise UserInputError(f"--features {options.features}: no frame could be predicted (see above); "
                             "nothing written")
    write_text_atomic(options.out, format_submission(predictions, ensemble.au_thresholds))
    frames = sum(len(p.frames) for p in predictions)
    videos = sum(len(p.frames) > 0 for p in predictions)
    print(f"model: {ensemble.name}")
    for line in coverage_report(predictions):
        print(line)
    print(f"wrote {frames} frames of {videos} videos to {options.out}"
          + ("; the frames without a prediction are not in it" if any(len(p.unpredicted) for p in predictions)
             else ""))
    return Predicted(Path(options.out), frames, videos, tuple(failures))
