"""Labelled sequences: ABAW annotations joined with per-frame features, cut into segments.

A video's annotated frames that also have features (a face was found) form one
sequence; labelled frames without features are dropped and counted. Sequences are
cut into consecutive, non-overlapping segments of ``seq_len`` frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from affectstream.core.features.store import FeatureSpec, FeatureStore
from affectstream.core.labels import NUM_AUS
from affectstream.training.annotations import VideoLabels, read_annotations


@dataclass
class VideoSequence:
    """One video's labelled frames that have features, in frame order."""

    video: str
    frames: np.ndarray  # (N,) int64
    features: np.ndarray  # (N, D) float32, raw (the model normalises)
    va: np.ndarray  # (N, 2) float32, -5 missing
    expr: np.ndarray  # (N,) int64, -1 missing
    au: np.ndarray  # (N, 12) float32, -1 missing

    def __len__(self) -> int:
        return len(self.frames)


@dataclass
class JoinReport:
    """What joining labels with features kept and dropped."""

    videos: int = 0
    labelled_frames: int = 0
    frames_with_features: int = 0
    frames_without_features: int = 0
    videos_without_features: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "videos": self.videos,
            "labelled_frames": self.labelled_frames,
            "frames_with_features": self.frames_with_features,
            "frames_without_features": self.frames_without_features,
            "videos_without_features": list(self.videos_without_features),
        }

    def summary(self) -> str:
        text = (
            f"{self.videos} videos, {self.labelled_frames} labelled frames, "
            f"{self.frames_without_features} without features (no face) dropped"
        )
        if self.videos_without_features:
            text += f"; {len(self.videos_without_features)} videos had no usable frame"
        return text


def join_video(labels: VideoLabels, store: FeatureStore, backbones: Sequence[str]) -> VideoSequence:
    """Keep the labelled frames of one video whose features exist and show a face."""
    feats = store.read_concat(backbones, labels.video)
    usable_frames = feats.frames[feats.face_found]
    keep = np.isin(labels.frames, usable_frames)
    frames = labels.frames[keep]
    rows = np.searchsorted(feats.frames, frames)
    return VideoSequence(
        video=labels.video,
        frames=frames,
        features=feats.features[rows],
        va=np.asarray(labels.va, dtype=np.float32)[keep],
        expr=np.asarray(labels.expr, dtype=np.int64)[keep],
        au=np.asarray(labels.au, dtype=np.float32)[keep],
    )


def load_split(
    annotations: str | Path, store: FeatureStore, backbones: Sequence[str]
) -> tuple[list[VideoSequence], JoinReport]:
    """Read an annotation file and join every video with its features."""
    store.specs(backbones)  # a clear error early if a backbone is unknown
    report = JoinReport()
    sequences = []
    for labels in read_annotations(annotations).values():
        seq = join_video(labels, store, backbones)
        report.videos += 1
        report.labelled_frames += len(labels.frames)
        report.frames_with_features += len(seq)
        report.frames_without_features += len(labels.frames) - len(seq)
        if len(seq) == 0:
            report.videos_without_features.append(labels.video)
            continue
        sequences.append(seq)
    return sequences, report


def feature_statistics(sequences: Sequence[VideoSequence]) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and standard deviation over every frame (float64 sums)."""
    if not sequences:
        raise ValueError("no frames to compute feature statistics from")
    dim = sequences[0].features.shape[1]
    total = np.zeros(dim)
    total_sq = np.zeros(dim)
    count = 0
    for seq in sequences:
        x = seq.features.astype(np.float64)
        total += x.sum(axis=0)
        total_sq += (x * x).sum(axis=0)
        count += len(x)
    mean = total / count
    var = np.maximum(total_sq / count - mean * mean, 0.0)
    return mean.astype(np.float32), np.sqrt(var).astype(np.float32)


# ---------------------------------------------------------------------------
# Segments and batches
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """Frames [start, stop) of sequence ``seq_index``; ``first`` marks a video's first segment."""

    seq_index: int
    start: int
    stop: int

    @property
    def first(self) -> bool:
        return self.start == 0

    def __len__(self) -> int:
        return self.stop - self.start


def video_segments(seq_index: int, length: int, seq_len: int) -> list[Segment]:
    """Consecutive, non-overlapping segments covering a sequence of ``length`` frames."""
    if seq_len < 1:
        raise ValueError("segment length must be at least 1")
    return [Segment(seq_index, s, min(s + seq_len, length)) for s in range(0, length, seq_len)]


@dataclass
class Batch:
    """A (B, T) batch of segments; padded positions carry the missing-label codes."""

    features: np.ndarray  # (B, T, D)
    va: np.ndarray  # (B, T, 2)
    expr: np.ndarray  # (B, T)
    au: np.ndarray  # (B, T, 12)
    mask: np.ndarray  # (B, T) bool, True = real frame
    reset: np.ndarray  # (B,) bool: the lane starts a new video (zero its carried state)


def collate(sequences: Sequence[VideoSequence], segments: Sequence[Segment | None], seq_len: int) -> Batch:
    """Stack segments into a padded batch; a ``None`` lane is all padding."""
    dim = sequences[0].features.shape[1]
    size = len(segments)
    longest = max((len(s) for s in segments if s is not None), default=1)
    length = min(seq_len, longest)
    features = np.zeros((size, length, dim), dtype=np.float32)
    va = np.full((size, length, 2), -5.0, dtype=np.float32)
    expr = np.full((size, length), -1, dtype=np.int64)
    au = np.full((size, length, NUM_AUS), -1.0, dtype=np.float32)
    mask = np.zeros((size, length), dtype=bool)
    reset = np.ones(size, dtype=bool)
    for lane, seg in enumerate(segments):
        if seg is None:
            continue
        seq, n, sl = sequences[seg.seq_index], len(seg), slice(seg.start, seg.stop)
        features[lane, :n] = seq.features[sl]
        va[lane, :n] = seq.va[sl]
        expr[lane, :n] = seq.expr[sl]
        au[lane, :n] = seq.au[sl]
        mask[lane, :n] = True
        reset[lane] = seg.first
    return Batch(features, va, expr, au, mask, reset)


def lane_schedule(
    lengths: Sequence[int], seq_len: int, batch_size: int, rng: np.random.Generator
) -> list[list[Segment | None]]:
    """Steps of ``batch_size`` lanes, each lane walking whole videos segment by segment.

    Videos are shuffled, then each goes to the lane with the fewest frames so far,
    so lanes end at about the same step. A lane's segments are in video order, so
    a recurrent encoder can carry its hidden state from one segment to the next.
    """
    lanes: list[list[Segment]] = [[] for _ in range(batch_size)]
    load = np.zeros(batch_size, dtype=np.int64)
    for seq_index in rng.permutation(len(lengths)):
        lane = int(np.argmin(load))
        lanes[lane].extend(video_segments(int(seq_index), int(lengths[seq_index]), seq_len))
        # Count whole segments: a short last segment still costs a step.
        load[lane] += -(-int(lengths[seq_index]) // seq_len) * seq_len
    steps = max(len(lane) for lane in lanes)
    return [[lane[step] if step < len(lane) else None for lane in lanes] for step in range(steps)]


def shuffled_segments(
    lengths: Sequence[int], seq_len: int, batch_size: int, rng: np.random.Generator
) -> list[list[Segment | None]]:
    """Independent segments in random batches (no state carried: Transformer, frame-wise MLP)."""
    segments = [seg for i, n in enumerate(lengths) for seg in video_segments(i, int(n), seq_len)]
    order = rng.permutation(len(segments))
    return [[segments[j] for j in order[k : k + batch_size]] for k in range(0, len(order), batch_size)]


def epoch_plan(
    sequences: Sequence[VideoSequence],
    seq_len: int,
    batch_size: int,
    carry_state: bool,
    rng: np.random.Generator,
) -> list[list[Segment | None]]:
    """The batches of one epoch: video-ordered lanes when state is carried, else shuffled segments."""
    lengths = [len(s) for s in sequences]
    return (lane_schedule if carry_state else shuffled_segments)(lengths, seq_len, batch_size, rng)


def check_feature_dim(specs: Sequence[FeatureSpec], sequences: Sequence[VideoSequence]) -> int:
    dim = int(sum(s.dim for s in specs))
    for seq in sequences:
        if seq.features.shape[1] != dim:
            raise ValueError(f"video {seq.video}: {seq.features.shape[1]} feature dimensions, expected {dim}")
    return dim
