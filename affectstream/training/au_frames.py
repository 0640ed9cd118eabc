"""The AU-labelled frames a linear AU readout is fitted and scored on, as a model reads them.

Every CK+ subject's stills are laid out as that subject's own pseudo-videos
(held expressions with cross-fades, as `import-stills` makes them) twice over:
a *scoring* layout (each still once, as a test split is laid out) and a
*training* layout (each still ``repeats`` times with fresh holds and noise, and
once more mirrored). One subject per video, so a fold's frames never follow
another fold's subject. In both, AU26 is unlabelled on the frames CK+ codes
AU27: FACS codes jaw drop and mouth stretch as alternatives, so a coder's 0 for
AU26 there says "coded as AU27", not "the jaw did not drop" (scored with CK+'s
0s, every model's AU26 F1 was near 0 and said nothing about jaw drops). The
model runs over each video carrying its state, and each labelled frame keeps
what a linear readout reads there (``readout_inputs``).

Frames that raters labelled Neutral (the expression-labelled sets' validation
split of an import) come with them: the neutral cap on the thresholds is
measured on them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from affectstream.core.errors import UserInputError
from affectstream.core.labels import au_any_labelled, expr_neutral

SCORING_SEED = 7
TRAINING_SEED = 11


@dataclass(frozen=True)
class AUFrames:
    """Rows of labelled frames: what the readout reads, their AU labels, their subject and still."""

    inputs: np.ndarray  # (N, D) float32: the shared encoder's output, then the normalised frame features
    labels: np.ndarray  # (N, 12) int8, -1 missing
    subjects: np.ndarray  # (N,) str
    stills: np.ndarray  # (N,) int: the still a frame shows (its index in the set)

    def take(self, rows: np.ndarray) -> "AUFrames":
        return AUFrames(self.inputs[rows], self.labels[rows], self.subjects[rows], self.stills[rows])

    def of_subjects(self, subjects: Sequence[str]) -> "AUFrames":
        return self.take(np.flatnonzero(np.isin(self.subjects, list(subjects))))


@dataclass(frozen=True)
class ReadoutData:
    """Everything a readout's cross-validation needs, read once."""

    scoring: AUFrames  # each still once
    training: AUFrames  # each still repeated, and mirrored
    neutral: dict[str, np.ndarray]  # per expression-labelled set: readout inputs of its Neutral validation frames
    still_subjects: np.ndarray  # (S,) each still's subject
    still_labels: np.ndarray  # (S, 12) per still (for stratified folds)
    frame_dim: int  # the trailing columns of ``inputs`` that are the frame's own features


@dataclass(frozen=True)
class FrameOptions:
    repeats: int = 2  # training layouts of each subject's stills (a mirrored one is added to each)
    step: int = 3  # every step-th labelled training frame (held frames of one still are near copies)
    neutral_step: int = 3
    workers: int = 2


def read_readout_data(loaded, shared: Path, cache: Path, imported: Path, options: FrameOptions = FrameOptions(),
                      log: Callable[[str], None] = print) -> ReadoutData:
    """CK+ (from ``shared``/ckplus-au, features from ``cache``) and the Neutral validation frames of the import
    ``imported``, read through the model ``loaded``."""
    from affectstream.core.faces.native_logs import quiet_native_logs
    from affectstream.training.stills.extract import extract_set_features
    from affectstream.training.stills.sets import read_ckplus_au

    folder = Path(shared) / "ckplus-au"
    if not (folder / "labels.csv").is_file():
        raise UserInputError(f"{folder}: CK+ action-unit labels not found (labels.csv)")
    names = loaded.meta.feature_names
    own = read_ckplus_au(folder, au27="au26-missing")
    log(f"CK+: {len(own)} stills of {len(np.unique(own.groups))} subjects; features through the live path")
    flipped = replace(own, framing=replace(own.framing, mirror=True))
    with quiet_native_logs(True):
        feats = extract_set_features(own, names, cache, options.workers, progress=False)
        mirrored = extract_set_features(flipped, names, cache, options.workers, progress=False)
    subjects = np.asarray(own.groups).astype(str)
    scoring, training = [], []
    for subject in np.unique(subjects):
        index = np.flatnonzero(subjects == subject)
        scoring.append(_subject_frames(loaded, subject, index, own.labels, feats, [SCORING_SEED], 1))
        seeds = [TRAINING_SEED + 100 * r for r in range(options.repeats)]
        training.append(_subject_frames(loaded, subject, index, own.labels, feats, seeds, options.step))
        training.append(_subject_frames(loaded, subject, index, own.labels, mirrored,
                                        [s + 1 for s in seeds], options.step))
    neutral = neutral_frames(loaded, imported, options.neutral_step, log)
    return ReadoutData(_joined(scoring), _joined(training), neutral, subjects, own.labels.au.astype(np.int8),
                       loaded.model.config.input_dim)


def _subject_frames(loaded, subject: str, index: np.ndarray, labels, feats, seeds: Sequence[int],
                    step: int) -> AUFrames:
    from affectstream.training.stills.sequences import SequenceOptions, build_pseudo_videos

    names = loaded.meta.feature_names
    parts = []
    for seed in seeds:
        videos = build_pseudo_videos(f"ckplus-{subject}", labels.take(index), feats.found[index],
                                     {n: feats.features[n][index] for n in names}, SequenceOptions(seed=seed))
        for video in videos:
            x = np.concatenate([video.features[n].features for n in names], axis=1)
            inputs = model_readout_inputs(loaded, x)
            keep = np.flatnonzero(au_any_labelled(video.labels.au))[::step]
            parts.append(AUFrames(inputs[keep], video.labels.au[keep].astype(np.int8),
                                  np.full(len(keep), subject), index[video.stills[keep]]))
    return _joined(parts)


def model_readout_inputs(loaded, features: np.ndarray) -> np.ndarray:
    """(N, readout_dim) what a linear AU readout reads over one video, segment by segment with carried state."""
    model, seq_len = loaded.model, loaded.meta.seq_len
    x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    state, parts = None, []
    for start in range(0, len(x), seq_len):
        inputs, state = model.readout_inputs(x[None, start:start + seq_len], state)
        if not loaded.meta.carry_state:
            state = None
        parts.append(inputs[0].numpy())
    return np.concatenate(parts) if parts else np.zeros((0, model.readout_dim), np.float32)


def neutral_frames(loaded, imported: Path, step: int, log: Callable[[str], None]) -> dict[str, np.ndarray]:
    """Per expression-labelled set of the import: readout inputs of its validation frames labelled Neutral."""
    from affectstream.core.features.store import FeatureStore
    from affectstream.training.fold_thresholds import neutral_validation_sequences
    from affectstream.training.stills import import_store, read_import_summary

    store = FeatureStore(import_store(imported, read_import_summary(imported)))
    found = {}
    for name, sequences in neutral_validation_sequences(imported, store, loaded.meta.feature_names).items():
        rows = [model_readout_inputs(loaded, s.features)[expr_neutral(s.expr)] for s in sequences]
        if rows:
            found[name] = np.concatenate(rows)[::step]
            log(f"{name}: {len(found[name])} Neutral validation frames for the neutral cap")
    if not found:
        raise UserInputError(f"{imported}: no validation frame labelled Neutral in an expression-labelled set")
    return found


def _joined(parts: Sequence[AUFrames]) -> AUFrames:
    return AUFrames(np.concatenate([p.inputs for p in parts]).astype(np.float32),
                    np.concatenate([p.labels for p in parts]), np.concatenate([p.subjects for p in parts]),
                    np.concatenate([p.stills for p in parts]))
