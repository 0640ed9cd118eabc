"""Predicting every listed frame of a video with one model or an ensemble, and scoring it.

Frames without features (no face found) take the prediction of the nearest frame
of the same video that has one, as an ABAW submission needs a row per frame; they
are counted. VA may be smoothed per video with the centred window chosen on
validation.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from affectstream.atomic import write_text_atomic
from affectstream.digest import file_sha256
from affectstream.temporal.checkpoint import LoadedModel, check_au_thresholds, check_input_dim, check_offline_window, load_checkpoint
from affectstream.errors import UserInputError
from affectstream.features.store import FeatureStore, VideoFeatures
from affectstream.labels import expr_neutral
from affectstream.temporal.inference import average_predictions, predict_sequence
from affectstream.temporal.predictions import Predictions
from affectstream.metrics import MTLMetrics, mtl_metrics, tune_au_thresholds_on_labels
from affectstream.post.smoothing import centered_moving_average
from affectstream.training.filter_selection import choose_window

ENSEMBLE_FORMAT = "affectstream-ensemble"


@dataclass
class VideoPrediction:
    video: str
    frames: np.ndarray  # (N,) the frames asked for
    preds: Predictions
    filled: np.ndarray  # (N,) bool: no features of its own, copied from the nearest frame


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
                        window: int = 1) -> tuple[Predictions, np.ndarray]:
    """The member's predictions for the wanted frames (a frame without a face takes the nearest one's), with
    valence/arousal smoothed over the whole video's sequence, so a frame's value never depends on which other
    frames were asked for."""
    check_input_dim(member.meta, feats.dim, where=f"checkpoint {member.path}")
    found = feats.frames[feats.face_found]
    if len(found) == 0:
        neutral = Predictions(
            np.zeros((len(want), 2), np.float32),
            np.tile(np.eye(8, dtype=np.float32)[0], (len(want), 1)),
            np.zeros((len(want), 12), np.float32),
        )
        return neutral, np.ones(len(want), dtype=bool)
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
    results = []
    for video, frames in items:
        frames = np.asarray(frames, dtype=np.int64)
        member_preds, filled = [], np.zeros(len(frames), dtype=bool)
        # Members of an ensemble usually share backbones: read each feature set once per video.
        features: dict[tuple[str, ...], VideoFeatures] = {}
        for member in ensemble.members:
            names = tuple(member.meta.feature_names)
            if names not in features:
                features[names] = store.read_concat(names, video)
            feats = features[names]
            preds, member_filled = _member_predictions(member, feats, frames,
                                                       ensemble.offline_window if smooth else 1)
            member_preds.append(preds)
            filled |= member_filled
        # Members on the same features: the mean of their smoothed values is the smoothed mean (linear).
        results.append(VideoPrediction(video, frames, average_predictions(member_preds), filled))
    return results


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
    return mtl_metrics(
        va,
        expr,
        au,
        np.concatenate([labels[p.video].va for p in predictions]),
        np.concatenate([labels[p.video].expr for p in predictions]),
        np.concatenate([labels[p.video].au for p in predictions]),
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

    au = np.concatenate([p.preds.au_probs for p in raw])
    au_true = np.concatenate([labels[p.video].au for p in raw])
    expr_true = np.concatenate([labels[p.video].expr for p in raw])
    thresholds = tune_au_thresholds_on_labels(au, au_true, expr_true, neutral_cap)
    window, _ = choose_window([p.preds.va for p in raw], [labels[p.video].va for p in raw])
    return Ensemble(ensemble.members, thresholds, window, ensemble.source)

