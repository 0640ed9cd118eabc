"""Predicting every listed frame of a video with one model or an ensemble, and scoring it.

Frames without a face of their own take the prediction of the nearest frame of the
same video that has one, as an ABAW submission needs a row per frame; they are
counted. Frames listed that are not frames of their video (past its end, frame 0 of
a video file, which counts from 1) are predicted the same way and listed apart, so
that a caller can say so. A video where no face was found anywhere has no
prediction to copy: its frames are not predicted (nor scored) and are listed. A video
whose feature file is missing or damaged is left out the same way, with the reason
(``failed``): one bad file never stops the others. VA may be smoothed per video with
the centred window chosen on validation.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from affectstream.core.atomic import write_text_atomic
from affectstream.core.digest import file_sha256
from affectstream.core.temporal.checkpoint import LoadedModel, check_au_thresholds, check_input_dim, check_offline_window, load_checkpoint
from affectstream.core.errors import UserInputError
from affectstream.core.features.store import FeatureStore, FeatureStoreError, VideoFeatures
from affectstream.core.labels import expr_neutral
from affectstream.training.annotations import VideoLabels
from affectstream.core.temporal.inference import average_predictions, predict_sequence
from affectstream.core.temporal.predictions import Predictions
from affectstream.training.metrics import MTLMetrics, mtl_metrics, tune_au_thresholds_on_labels
from affectstream.core.post.smoothing import centered_moving_average
from affectstream.training.filter_choice import choose_window

ENSEMBLE_FORMAT = "affectstream-ensemble"


@dataclass
class VideoPrediction:
    video: str
    frames: np.ndarray  # (N,) the frames predicted: all those asked for, unless the video has no face at all
    preds: Predictions
    filled: np.ndarray  # (N,) bool: no face of its own, the nearest face frame's prediction copied
    outside: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # asked for, not frames of the video
    unpredicted: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # asked for, no face in the video
    failed: str = ""  # why the video could not be read at all (its feature file missing or damaged); "" if it was


def frames_outside_video(kind: str, have: np.ndarray, want: np.ndarray) -> np.ndarray:
    """The wanted frames that are not frames of a video whose feature store rows are ``have``, read from a
    source of ``kind``. A video file or an image has a row for every frame it has, face or not; a folder of
    whole frames may skip numbers (an unreadable frame skipped), so only frames before its first or after its
    last count; a folder of aligned faces holds only frames with a face, so nothing it lacks is outside it (nor
    is anything in a store that did not record the kind)."""
    if kind in ("video", "image"):
        return want[~np.isin(want, have)]
    if kind == "frames" and len(have):
        return want[(want < have[0]) | (want > have[-1])]
    return want[:0]


def label_rows(labels: VideoLabels, frames: np.ndarray) -> VideoLabels:
    """The labels of the given frames (all of them labelled) of one video."""
    rows = np.searchsorted(labels.frames, frames)
    return VideoLabels(labels.video, labels.frames[rows], labels.va[rows], labels.expr[rows], labels.au[rows])


@dataclass
class Ensemble:
    """One or more models whose outputs are averaged; thresholds and window apply to the mean."""

    members: list[LoadedModel]
    au_thresholds: np.ndarray
    offline_window: int
    source: str = ""

    @property
    def name(self) -> str:
        if len(self.members) == 1:
            return self.members[0].meta.name
        return f"ensemble of {len(self.members)} ({', '.join(m.meta.name for m in self.members)})"


def single(loaded: LoadedModel) -> Ensemble:
    return Ensemble([loaded], loaded.meta.au_thresholds, loaded.meta.post.offline_window, str(loaded.path))


def load_models(paths: Sequence[str | Path]) -> Ensemble:
    """One checkpoint as itself, several as an ensemble (mean thresholds and window until re-tuned)."""
    if not paths:
        raise UserInputError("name at least one checkpoint")
    members = [load_checkpoint(p) for p in paths]
    if len(members) == 1:
        return single(members[0])
    thresholds = np.mean([m.meta.au_thresholds for m in members], axis=0)
    window = int(np.median([m.meta.post.offline_window for m in members])) | 1
    return Ensemble(members, thresholds, window, ",".join(str(p) for p in paths))


def _member_entry(member: Path, folder: Path) -> str:
    """A member's path relative to the ensemble's folder, so that the two can move together."""
    member, folder = Path(member).resolve(), folder.resolve()
    try:
        return Path(os.path.relpath(member, folder)).as_posix()
    except ValueError:  # another drive on Windows: no relative path exists
        return str(member)


def save_ensemble(path: str | Path, ensemble: Ensemble, provenance: dict[str, Any]) -> Path:
    path = Path(path)
    data = {
        "format": ENSEMBLE_FORMAT,
        "members": [_member_entry(m.path, path.parent) for m in ensemble.members],
        # Which weights the thresholds and window were tuned for: a member retrained in place is refused.
        "member_sha256": [file_sha256(m.path) for m in ensemble.members],
        "au_thresholds": [float(t) for t in ensemble.au_thresholds],
        "offline_window": int(ensemble.offline_window),
        "provenance": provenance,
    }
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")
    return path


def _ensemble_members(data: dict[str, Any], path: Path) -> list[Path]:
    """Member checkpoint paths: relative ones from the ensemble's folder, absolute ones (older files) as they are."""
    members = data.get("members")
    if not isinstance(members, list) or not members or not all(isinstance(m, str) and m for m in members):
        raise UserInputError(f"{path}: 'members' must be a non-empty list of checkpoint paths, got {members!r}")
    paths = [path.parent / m for m in members]  # an absolute m replaces the folder
    for entry, member in zip(members, paths):
        if not member.is_file():
            raise UserInputError(f"{path}: member checkpoint {entry!r} not found (looked for {member})")
    return paths


def load_ensemble(path: str | Path) -> Ensemble:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserInputError(f"{path}: cannot read ensemble file ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != ENSEMBLE_FORMAT:
        raise UserInputError(f"{path}: not an AffectStream ensemble file")
    # Everything is checked before the first (possibly large) member is loaded.
    member_paths = _ensemble_members(data, path)
    check_au_thresholds(data.get("au_thresholds"), f"{path}: 'au_thresholds'")
    check_offline_window(data.get("offline_window"), f"{path}: 'offline_window'")
    recorded = data.get("member_sha256")  # files written before it was recorded vouch for any weights
    if recorded is not None:
        if not isinstance(recorded, list) or len(recorded) != len(member_paths):
            raise UserInputError(f"{path}: 'member_sha256' must list one digest per member")
        for member, digest in zip(member_paths, recorded):
            if file_sha256(member) != digest:
                raise UserInputError(f"{path}: member {member} has changed since the ensemble was tuned for it "
                                     "(retrained or replaced); tune it again with evaluate --retune --save-ensemble")
    members = [load_checkpoint(m) for m in member_paths]
    return Ensemble(members, np.asarray(data["au_thresholds"], np.float32), data["offline_window"], str(path))


def nearest_rows(have: np.ndarray, want: np.ndarray) -> np.ndarray:
    """For each wanted frame, the index in sorted ``have`` of the nearest frame (ties go earlier)."""
    right = np.clip(np.searchsorted(have, want), 0, len(have) - 1)
    left = np.clip(right - 1, 0, len(have) - 1)
    return np.where(np.abs(have[left] - want) <= np.abs(have[right] - want), left, right)


def _member_predictions(member: LoadedModel, feats: VideoFeatures, want: np.ndarray,
                        window: int = 1) -> tuple[Predictions, np.ndarray] | None:
    """The member's predictions for the wanted frames (a frame without a face takes the nearest one's), with
    valence/arousal smoothed over the whole video's sequence, so a frame's value never depends on which other
    frames were asked for; None when the video has no face at all (there is nothing to predict from)."""
    check_input_dim(member.meta, feats.dim, where=f"checkpoint {member.path}")
    found = feats.frames[feats.face_found]
    if len(found) == 0:
        return None
    preds = predict_sequence(
        member.model, feats.features[feats.face_found], member.meta.seq_len, member.meta.carry_state
    )
    if window > 1:
        preds = Predictions(centered_moving_average(preds.va, window), preds.expr_probs, preds.au_probs)
    rows = nearest_rows(found, want)
    return preds.take(rows), found[rows] != want


def predict_videos(
    ensemble: Ensemble,
    store: FeatureStore,
    wanted: dict[str, np.ndarray],
    smooth: bool = True,
    progress: bool = False,
) -> list[VideoPrediction]:
    """Predictions for the wanted frames of each video (video -> sorted frame numbers); with ``smooth``,
    each member's valence/arousal is its centred moving average (the ensemble's window) over the video's frames
    with a face, wanted or not, and the members' are then averaged."""
    items = list(wanted.items())
    if progress:
        from tqdm import tqdm

        items = tqdm(items, desc="predicting", unit="video", dynamic_ncols=True)
    feature_sets = list(dict.fromkeys(tuple(m.meta.feature_names) for m in ensemble.members))
    for names in feature_sets:  # a backbone the store lacks fails every video: said once, before any
        store.specs(names)
    results = []
    for video, frames in items:
        frames = np.asarray(frames, dtype=np.int64)
        member_preds, filled = [], np.zeros(len(frames), dtype=bool)
        # Members of an ensemble usually share backbones: read each feature set once per video.
        try:
            features = {names: store.read_concat(names, video) for names in feature_sets}
        except FeatureStoreError as exc:  # this video's file only: the others go on
            results.append(VideoPrediction(video, frames[:0], _no_predictions(), filled[:0], frames[:0], frames,
                                           failed=" ".join(str(exc).split())))
            continue
        for member in ensemble.members:
            names = tuple(member.meta.feature_names)
            feats = features[names]
            made = _member_predictions(member, feats, frames, ensemble.offline_window if smooth else 1)
            if made is None:
                break
            member_preds.append(made[0])
            filled |= made[1]
        if len(member_preds) < len(ensemble.members):  # a member found no face in the whole video
            results.append(VideoPrediction(video, frames[:0], _no_predictions(), filled[:0], frames[:0], frames))
            continue
        first = tuple(ensemble.members[0].meta.feature_names)  # the kind and the rows of one feature set
        outside = frames_outside_video(store.source_kind(first[0], video), features[first].frames, frames)
        # Members on the same features: the mean of their smoothed values is the smoothed mean (linear).
        results.append(VideoPrediction(video, frames, average_predictions(member_preds), filled, outside))
    return results


def _no_predictions() -> Predictions:
    return Predictions(np.zeros((0, 2), np.float32), np.zeros((0, 8), np.float32), np.zeros((0, 12), np.float32))


def frame_ranges(frames: np.ndarray, shown: int = 6) -> str:
    """Frame numbers as runs, "00000, 00073-00080", the first few of them."""
    frames = np.unique(np.asarray(frames, dtype=np.int64))
    if not len(frames):
        return ""
    breaks = np.flatnonzero(np.diff(frames) != 1)
    starts, ends = np.r_[frames[0], frames[breaks + 1]], np.r_[frames[breaks], frames[-1]]
    runs = [f"{a:05d}" if a == b else f"{a:05d}-{b:05d}" for a, b in zip(starts, ends)]
    return ", ".join(runs[:shown]) + (f" and {len(runs) - shown} more runs" if len(runs) > shown else "")


def coverage_report(predictions: Sequence[VideoPrediction], what: str = "") -> list[str]:
    """What was predicted of the frames asked for, in lines for a person: how many had a face of their own,
    which took the nearest face frame's prediction, which were no frames of their video, which could not be
    predicted at all. ``what`` qualifies the frames ("labelled ")."""
    asked = sum(len(p.frames) + len(p.unpredicted) for p in predictions)
    predicted = sum(len(p.frames) for p in predictions)
    filled = sum(int(p.filled.sum()) for p in predictions)
    lines = [f"{len(predictions)} videos, {asked} {what}frames: {predicted - filled} with a face of their own, "
             f"{filled} without one (the nearest face frame's prediction used)"]
    faceless = [p for p in predictions if len(p.unpredicted) and not p.failed]
    if faceless:
        count = sum(len(p.unpredicted) for p in faceless)
        lines.append(f"warning: {count} {what}frames of {len(faceless)} videos have no prediction, since "
                     "no face was found anywhere in their video (not predicted, not scored): "
                     + _first_few([f"{p.video} ({len(p.unpredicted)} frames)" for p in faceless], ", "))
    outside = [p for p in predictions if len(p.outside)]
    if outside:
        count = sum(len(p.outside) for p in outside)
        lines.append(f"warning: {count} {what}frames are not frames of their video (before its first or after its "
                     "last frame; a video file counts from 1), given the nearest face frame's prediction: "
                     + _first_few([f"{p.video} {frame_ranges(p.outside)}" for p in outside], "; "))
    return lines


def _first_few(items: Sequence[str], separator: str, shown: int = 6) -> str:
    return separator.join(items[:shown]) + (f"{separator}and {len(items) - shown} more videos"
                                            if len(items) > shown else "")


def failure_report(predictions: Sequence[VideoPrediction]) -> list[str]:
    """One line per video left out because its features could not be read: which video, and why."""
    return [f"error: video {p.video} left out" + (f" ({len(p.unpredicted)} frames not predicted)" if len(p.unpredicted)
                                                  else "") + f": {p.failed}"
            for p in predictions if p.failed]


@dataclass
class EvaluationResult:
    metrics: MTLMetrics
    frames: int
    filled_frames: int
    au_thresholds: np.ndarray
    offline_window: int
    retuned: bool
    extra: dict[str, Any] = field(default_factory=dict)


def evaluate_predictions(
    predictions: Sequence[VideoPrediction],
    labels: dict,
    thresholds: np.ndarray,
) -> MTLMetrics:
    va = np.concatenate([p.preds.va for p in predictions])
    expr = np.concatenate([p.preds.expr_probs for p in predictions])
    au = np.concatenate([p.preds.au_probs for p in predictions])
    truth = [label_rows(labels[p.video], p.frames) for p in predictions]  # the frames predicted only
    return mtl_metrics(
        va,
        expr,
        au,
        np.concatenate([t.va for t in truth]),
        np.concatenate([t.expr for t in truth]),
        np.concatenate([t.au for t in truth]),
        thresholds,
    )


def require_neutral_frames(expr_labels: Iterable[np.ndarray], source: str | Path) -> None:
    """Refuse a neutral cap, naming ``source``, when none of these expression label arrays has a Neutral frame."""
    if not any(expr_neutral(expr).any() for expr in expr_labels):
        raise UserInputError(f"{source}: no frame labelled Neutral, so the AU thresholds cannot be "
                             "capped on faces at rest (leave out --au-neutral-cap)")


def retune(ensemble: Ensemble, raw: Sequence[VideoPrediction], labels: dict,
           neutral_cap: float | None = None) -> Ensemble:
    """Thresholds and smoothing window re-chosen on these (validation) labels.

    ``neutral_cap``: as `train --au-neutral-cap`, each AU may be on in at most this share of the frames
    labelled Neutral (the caller checks that there are some: require_neutral_frames).
    """

    raw = [p for p in raw if len(p.frames)]  # a video without a face has nothing to tune on
    truth = [label_rows(labels[p.video], p.frames) for p in raw]  # the frames predicted only
    au = np.concatenate([p.preds.au_probs for p in raw])
    au_true = np.concatenate([t.au for t in truth])
    expr_true = np.concatenate([t.expr for t in truth])
    thresholds = tune_au_thresholds_on_labels(au, au_true, expr_true, neutral_cap)
    window, _ = choose_window([p.preds.va for p in raw], [t.va for t in truth])
    return Ensemble(ensemble.members, thresholds, window, ensemble.source)

