"""A yardstick beside the models' AU scores in `bench labels`: a per-AU logistic regression on single frames.

It is fitted on the set's own train split (every ``step``-th labelled frame in
which a face was found), its thresholds are tuned on the val split as a trained
model's are (on a cross-validated import: on the folds' pooled out-of-fold
predictions, as `cv-thresholds` tunes a model's), and it is scored on the same
test frames as the models, filled the same way where no face was found (the
nearest frame with one). It sees one
frame's features and nothing else (no time, no other task), so a temporal
multi-task model on the same features should do at least as well. Its figure
also shows how hard a split is: a small test split of a few subjects can sit
well below a cross-validated figure for the same method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from affectstream.core.labels import ACTION_UNITS

DESCRIPTION = ("per-AU logistic regression on one frame's features (standardised, C = 0.1), fitted on the "
               "train split, thresholds tuned on the val split")


@dataclass(frozen=True)
class AUReference:
    au_f1: dict[str, float]
    au_f1_mean: float
    train_frames: int
    features: tuple[str, ...]
    description: str = DESCRIPTION

    def to_json(self) -> dict:
        return {"au_f1": self.au_f1, "au_f1_mean": self.au_f1_mean, "train_frames": self.train_frames,
                "features": list(self.features), "description": self.description}


def labelled_frames(store, backbones: Sequence[str], labels: Mapping, step: int = 1,
                    every_frame: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, AU labels, face seen) of the frames with at least one AU label, every ``step``-th.

    By default only frames in which a face was found (to fit on). With ``every_frame`` (to score on)
    every labelled frame, as the models are scored: a frame without a face takes the features of the
    video's nearest frame with one, and a video without any face has ``face seen`` False."""
    from affectstream.training.evaluation import nearest_rows

    features, targets, seen = [], [], []
    for video, lab in labels.items():
        feats = store.read_concat(backbones, video)
        found = np.flatnonzero(feats.face_found)
        with_face = set(feats.frames[found].tolist())
        keep = [k for k, f in enumerate(lab.frames) if (lab.au[k] >= 0).any() and (every_frame or int(f) in with_face)]
        keep = keep[::step]
        if not keep:
            continue
        if len(found):
            picked = found[nearest_rows(feats.frames[found], lab.frames[keep])]
            features.append(feats.features[picked])
        else:
            features.append(np.zeros((len(keep), feats.features.shape[1]), np.float32))
        targets.append(lab.au[keep])
        seen.append(np.full(len(keep), len(found) > 0))
    if not features:
        return (np.zeros((0, 0), np.float32), np.zeros((0, len(ACTION_UNITS)), np.int8), np.zeros(0, bool))
    return np.concatenate(features).astype(np.float32), np.concatenate(targets).astype(np.int8), np.concatenate(seen)


def fit_and_score(store, backbones: Sequence[str], train: Mapping, val: Mapping, test: Mapping,
                  step: int = 10) -> AUReference | None:
    """The reference's per-AU F1 on ``test``; None when a split has no AU-labelled frame with a face."""
    fitted = _fit(store, backbones, train, step)
    return None if fitted is None else _score([(fitted, val)], fitted, test, backbones, DESCRIPTION)


def fit_and_score_folds(store, backbones: Sequence[str], folds: Sequence[tuple[Mapping, Mapping]], train: Mapping,
                        test: Mapping, step: int = 10) -> AUReference | None:
    """As ``fit_and_score`` for a cross-validated set: per fold, fitted on its training part and run on its
    held-out part; the thresholds are tuned on all held-out parts pooled; then fitted on ``train`` (every
    fold's subjects) and scored on ``test``. None when some part has no AU-labelled frame with a face."""
    parts = [(_fit(store, backbones, fold_train, step), fold_val) for fold_train, fold_val in folds]
    final = _fit(store, backbones, train, step)
    if final is None or any(fitted is None for fitted, _ in parts):
        return None
    description = (f"per-AU logistic regression on one frame's features (standardised, C = 0.1), thresholds tuned "
                   f"on the out-of-fold predictions of {len(folds)} folds, then fitted on every fold's train stills")
    return _score(parts, final, test, backbones, description)


@dataclass(frozen=True)
class _Fitted:
    """The 12 regressions fitted on one split; ``predict`` gives (AU probabilities, AU labels) of a split's
    labelled frames, or None when it has none."""

    predict: Callable[[Mapping], tuple[np.ndarray, np.ndarray] | None]
    frames: int


def _fit(store, backbones: Sequence[str], train: Mapping, step: int) -> _Fitted | None:
    """Per AU, a logistic regression on ``train``'s labelled frames with a face; None when it has none."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x_train, y_train, _ = labelled_frames(store, backbones, train, step)
    if not len(x_train):
        return None
    scaler = StandardScaler().fit(x_train)
    x_train = scaler.transform(x_train)
    per_au: list[float | LogisticRegression] = []
    for j in range(len(ACTION_UNITS)):
        known = y_train[:, j] >= 0
        classes = np.unique(y_train[known, j])
        if len(classes) < 2:  # never (or always) on in training: a constant guess
            per_au.append(float(classes[0]) if len(classes) else 0.0)
        else:
            per_au.append(LogisticRegression(C=0.1, max_iter=2000).fit(x_train[known], y_train[known, j]))

    def predict(labels: Mapping) -> tuple[np.ndarray, np.ndarray] | None:
        x, y, seen = labelled_frames(store, backbones, labels, every_frame=True)
        if not len(x):
            return None
        x = scaler.transform(x)
        p = np.stack([np.full(len(x), m) if isinstance(m, float) else m.predict_proba(x)[:, 1] for m in per_au],
                     axis=1)
        p[~seen] = 0.0  # no face in the whole video: nothing is on
        return p, y

    return _Fitted(predict, int(len(x_train)))


def _score(tuning: Sequence[tuple[_Fitted, Mapping]], final: _Fitted, test: Mapping, backbones: Sequence[str],
           description: str) -> AUReference | None:
    """Thresholds tuned on each fitted model's predictions of its held-out split (pooled), then ``final``'s F1
    on ``test`` at them."""
    from affectstream.training.metrics import au_f1, tune_au_thresholds

    held_out = [fitted.predict(labels) for fitted, labels in tuning]
    scored = final.predict(test)
    if scored is None or any(h is None for h in held_out):
        return None
    thresholds = tune_au_thresholds(np.concatenate([p for p, _ in held_out]), np.concatenate([y for _, y in held_out]))
    f1 = au_f1((scored[0] >= thresholds).astype(np.float64), scored[1])
    return AUReference({au: float(v) for au, v in zip(ACTION_UNITS, f1)}, float(np.nanmean(f1)), final.frames,
                       tuple(backbones), description)
