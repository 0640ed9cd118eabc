"""Synthetic ABAW-format data with planted temporal structure.

Each video is a sequence of expression *episodes* (90-400 frames). Only the first
few frames of an episode carry a strong cue of its class; afterwards the features
hold weak, noisy evidence. Action units follow the expression (a fixed class ->
AU pattern) plus slow on/off events, and valence/arousal are smooth processes
pulled towards the class's circumplex position, both seen through heavy noise.

So a model that remembers (the cue) and integrates over time (the noise) beats a
frame-wise one, and because episodes run over segment boundaries, a recurrent
encoder only gets the cue of an episode that began in an earlier segment if it
carries its hidden state across segments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from affectstream.core.errors import UserInputError
from affectstream.core.features.store import FeatureSpec, FeatureStore, VideoFeatures
from affectstream.core.labels import AU_MISSING, EXPR_MISSING, NUM_AUS, NUM_EXPRESSIONS, VA_MISSING
from affectstream.training.annotations import VideoLabels, write_annotations

# Circumplex positions (valence, arousal) the latent VA is pulled towards, in ABAW order.
CLASS_VA = np.array(
    [
        [0.0, 0.0],  # Neutral
        [-0.6, 0.7],  # Anger
        [-0.7, 0.3],  # Disgust
        [-0.6, 0.6],  # Fear
        [0.8, 0.4],  # Happiness
        [-0.7, -0.4],  # Sadness
        [0.3, 0.8],  # Surprise
        [0.1, -0.3],  # Other
    ],
    dtype=np.float32,
)

TRAIN_FILE = "training_set_annotations.txt"
VAL_FILE = "validation_set_annotations.txt"
BACKBONES = ("synth-a", "synth-b")


@dataclass(frozen=True)
class SyntheticConfig:
    train_videos: int = 24
    val_videos: int = 8
    min_frames: int = 500
    max_frames: int = 1200
    min_episode: int = 90
    max_episode: int = 400
    cue_frames: int = 4
    weak_evidence: float = 0.25  # per-frame class evidence, in noise standard deviations
    au_evidence: float = 0.45
    va_noise: float = 0.9
    missing_task_prob: float = 0.15  # a whole task unlabelled in a video
    missing_frame_prob: float = 0.03
    no_face_prob: float = 0.02
    seed: int = 0

    def __post_init__(self) -> None:
        if self.train_videos < 1 or self.val_videos < 1:
            raise UserInputError(f"a synthetic set needs at least one training and one validation video, got "
                                 f"{self.train_videos} and {self.val_videos}")
        if not 1 <= self.min_frames <= self.max_frames:
            raise UserInputError(f"frames per video: need 1 <= min ({self.min_frames}) <= max ({self.max_frames})")


@dataclass
class SyntheticVideo:
    labels: VideoLabels
    features: dict[str, VideoFeatures] = field(default_factory=dict)


def _au_patterns(rng: np.random.Generator) -> np.ndarray:
    """A fixed class -> AU pattern (8 x 12, about three AUs per class); Neutral has none."""
    patterns = (rng.random((NUM_EXPRESSIONS, NUM_AUS)) < 0.25).astype(np.int8)
    patterns[0] = 0
    return patterns


def _episodes(n: int, cfg: SyntheticConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame class and a mask of the cue frames at each episode start."""
    classes = np.empty(n, dtype=np.int64)
    cue = np.zeros(n, dtype=bool)
    start, previous = 0, -1
    while start < n:
        length = int(rng.integers(cfg.min_episode, cfg.max_episode + 1))
        label = int(rng.integers(NUM_EXPRESSIONS))
        while label == previous:
            label = int(rng.integers(NUM_EXPRESSIONS))
        classes[start : start + length] = label
        cue[start : start + cfg.cue_frames] = True
        start, previous = start + length, label
    return classes, cue


def _ou(n: int, phi: float, rng: np.random.Generator) -> np.ndarray:
    """A unit-variance AR(1) process: slow, smooth drift."""
    out = np.empty(n, dtype=np.float64)
    out[0] = rng.normal()
    scale = np.sqrt(1 - phi * phi)
    for t in range(1, n):
        out[t] = phi * out[t - 1] + scale * rng.normal()
    return out


def _markov_events(n: int, rng: np.random.Generator, on_rate: float = 0.004, off_rate: float = 0.03) -> np.ndarray:
    state, out = 0, np.empty(n, dtype=np.int8)
    draws = rng.random(n)
    for t in range(n):
        state = (1 if draws[t] < on_rate else 0) if state == 0 else (0 if draws[t] < off_rate else 1)
        out[t] = state
    return out


def make_video(name: str, cfg: SyntheticConfig, patterns: np.ndarray, rng: np.random.Generator) -> SyntheticVideo:
    n = int(rng.integers(cfg.min_frames, cfg.max_frames + 1))
    classes, cue = _episodes(n, cfg, rng)
    onehot = np.eye(NUM_EXPRESSIONS, dtype=np.float32)[classes]

    # Labels.
    au = patterns[classes].copy()
    for k in range(NUM_AUS):
        au[:, k] |= _markov_events(n, rng)
    drift = np.stack([_ou(n, 0.995, rng), _ou(n, 0.995, rng)], axis=1)
    target = CLASS_VA[classes]
    # Pull smoothly towards the class position (an exponential approach), plus drift.
    pulled = np.empty_like(target)
    pulled[0] = target[0]
    for t in range(1, n):
        pulled[t] = pulled[t - 1] + 0.03 * (target[t] - pulled[t - 1])
    va = np.clip(0.75 * pulled + 0.25 * drift, -1.0, 1.0).astype(np.float32)

    # Features: cue block, weak class evidence, VA evidence, AU evidence, distractors.
    cue_block = rng.normal(0, 0.3, (n, NUM_EXPRESSIONS)) + 3.0 * onehot * cue[:, None]
    weak_block = rng.normal(0, 1.0, (n, NUM_EXPRESSIONS)) + cfg.weak_evidence * onehot
    va_block = np.repeat(va, 2, axis=1) + rng.normal(0, cfg.va_noise, (n, 4))
    au_block = cfg.au_evidence * (2.0 * au - 1.0) + rng.normal(0, 1.0, (n, NUM_AUS))
    noise_block = rng.normal(0, 1.0, (n, 8))
    part_a = np.concatenate([cue_block, weak_block, va_block], axis=1)
    # Backbone b lives on another scale, so feature normalisation matters.
    part_b = 5.0 * np.concatenate([au_block, noise_block], axis=1) + 3.0

    face = rng.random(n) >= cfg.no_face_prob
    frames = np.arange(1, n + 1, dtype=np.int64)
    features = {}
    for backbone, part in zip(BACKBONES, (part_a, part_b)):
        data = np.where(face[:, None], part, 0.0).astype(np.float32)
        features[backbone] = VideoFeatures(frames, data, face)

    # Missing labels: whole tasks per video, and scattered frames.
    va_l, expr_l, au_l = va.copy(), classes.copy(), au.astype(np.int8)
    if rng.random() < cfg.missing_task_prob:
        va_l[:] = VA_MISSING
    if rng.random() < cfg.missing_task_prob:
        expr_l[:] = EXPR_MISSING
    if rng.random() < cfg.missing_task_prob:
        au_l[:] = AU_MISSING
    va_l[rng.random(n) < cfg.missing_frame_prob] = VA_MISSING
    expr_l[rng.random(n) < cfg.missing_frame_prob] = EXPR_MISSING
    au_l[rng.random(n) < cfg.missing_frame_prob] = AU_MISSING
    labels = VideoLabels(video=name, frames=frames, va=va_l, expr=expr_l, au=au_l)
    return SyntheticVideo(labels, features)


@dataclass(frozen=True)
class SyntheticDataset:
    root: Path

    @property
    def train_annotations(self) -> Path:
        return self.root / "annotations" / TRAIN_FILE

    @property
    def val_annotations(self) -> Path:
        return self.root / "annotations" / VAL_FILE

    @property
    def features(self) -> Path:
        return self.root / "features"

    backbones: tuple[str, ...] = BACKBONES


def write_synthetic(root: str | Path, cfg: SyntheticConfig = SyntheticConfig()) -> SyntheticDataset:
    """Write train/validation annotation files and a two-backbone feature store under ``root``.

    The earlier set's annotation files go first and this set's are written last: a run stopped part-way
    leaves features without annotation files, never one set's labels beside another's features."""
    dataset = SyntheticDataset(Path(root))
    for path in (dataset.train_annotations, dataset.val_annotations):
        path.unlink(missing_ok=True)
    rng = np.random.default_rng(cfg.seed)
    patterns = _au_patterns(np.random.default_rng(1234))  # the same planted rule for every seed
    store = FeatureStore(dataset.features)
    for backbone, dim in zip(BACKBONES, (3 * NUM_EXPRESSIONS - 4, NUM_AUS + 8)):
        store.write_spec(FeatureSpec(backbone, dim, {"synthetic": True, "seed": cfg.seed}))
        for earlier in store.backbone_dir(backbone).glob("*.npz"):  # an earlier set's videos
            earlier.unlink()
    splits = ((dataset.train_annotations, "train", cfg.train_videos), (dataset.val_annotations, "val", cfg.val_videos))
    labels: dict[Path, dict[str, VideoLabels]] = {}
    for path, prefix, count in splits:
        labels[path] = {}
        for i in range(count):
            video = make_video(f"{prefix}-{i:03d}", cfg, patterns, rng)
            labels[path][video.labels.video] = video.labels
            for backbone, feats in video.features.items():
                store.write(backbone, video.labels.video, feats)
    for path, videos in labels.items():
        write_annotations(path, videos)
    return dataset
