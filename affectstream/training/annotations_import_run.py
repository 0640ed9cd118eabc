"""`import-annotations` as a library call: a video and its ELAN annotations (or a corrected results CSV) as
ABAW-format training data.

The video's frames are read as `annotate` reads them (so frame numbers and timestamps match the results CSV the
.eaf was exported from), the labels come from the .eaf (training.elan_import), and the features are extracted
through the live path into ``<out>/features`` (`extract`'s store), as `import-stills` does for stills. The label
file is written last, atomically: a failed extraction or a refused .eaf leaves no label file that counts as done.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectstream.core.default_model import DEFAULT_FEATURES
from affectstream.core.errors import UserInputError
from affectstream.training.stills import SPLIT_FILES


@dataclass(frozen=True)
class ImportAnnotationsOptions:
    video: str
    annotations: str  # an .eaf, or a (corrected) results CSV of the video
    out: str
    face: int = 0  # the face whose tiers are read ("... face0")
    split: str = "train"  # the annotation file written: train, val or test
    extractors: tuple[str, ...] = DEFAULT_FEATURES  # as import-stills: the default model's chain

    def __post_init__(self) -> None:
        if self.split not in SPLIT_FILES:
            raise UserInputError(f"split must be one of {', '.join(SPLIT_FILES)}, got {self.split!r}")
        if self.face < 0:
            raise UserInputError(f"face must be >= 0, got {self.face}")


@dataclass(frozen=True)
class ImportedAnnotations:
    labels_file: Path
    features: Path
    frames: int
    labelled: dict[str, int]  # frames with a label, per task


def video_frame_times(video: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every frame's number (1-based) and timestamp (ms), decoded as annotate decodes them."""
    from affectstream.core.sources.readers import VideoFileSource

    frames, times = [], []
    with VideoFileSource(video) as source:
        for frame in source:
            frames.append(frame.number)
            times.append(frame.timestamp_ms)
    if not frames:
        raise UserInputError(f"{video}: no frame could be decoded")
    return np.asarray(frames, np.int64), np.asarray(times, np.int64)


def import_annotations(options: ImportAnnotationsOptions) -> ImportedAnnotations:
    from affectstream.core.atomic import require_writable_file
    from affectstream.jobs.extract_run import ExtractRunOptions, extract
    from affectstream.training.annotations import is_video_name, write_annotations
    from affectstream.training.elan_import import labels_from_tiers, read_tiers

    video, eaf, out = Path(options.video), Path(options.annotations), Path(options.out)
    if not eaf.is_file():
        raise UserInputError(f"{eaf}: no such annotation file")
    if not is_video_name(video.stem):
        raise UserInputError(f"{video}: its name cannot be a video's name in an ABAW annotation file")
    labels_file = out / SPLIT_FILES[options.split]
    require_writable_file(labels_file)
    if eaf.suffix.lower() == ".csv":
        from affectstream.training.results_labels import labels_from_results

        frames, _ = video_frame_times(video)
        labels = labels_from_results(eaf, video.stem, frames, options.face)
    else:
        tiers = read_tiers(eaf, options.face)  # a refused document stops before the long work
        frames, times = video_frame_times(video)
        labels = labels_from_tiers(eaf, tiers, video.stem, frames, times)
    extracted = extract(ExtractRunOptions(inputs=(str(video),), store_root=out / "features",
                                                 extractors=tuple(options.extractors), progress=False))
    if extracted.failed:
        raise UserInputError(f"{video}: features could not be extracted ({'; '.join(extracted.problem_lines())})")
    write_annotations(labels_file, {video.stem: labels})
    counted = {"expression": int((labels.expr >= 0).sum()), "action units": int((labels.au >= 0).any(axis=1).sum()),
               "valence/arousal": int((labels.va[:, 0] != -5).sum())}
    return ImportedAnnotations(labels_file, out / "features", len(frames), counted)
