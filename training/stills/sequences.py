"""Pseudo-videos from labelled stills: each still is held for a while, then cross-fades into the next.

A real video of a face shows an expression for a while and changes it over a few
frames; a still shows one moment. Holding a still for ``hold_frames`` frames and
blending the features of two stills over ``fade_frames`` frames gives the
temporal model that shape: long stretches of one expression, short changes,
episodes that cross segment boundaries (so carrying the state matters). Per-frame
Gaussian jitter (``jitter`` times each feature's spread over the split) stands in
for the frame-to-frame noise of a real video.

Frames are numbered from 1 (the ABAW convention). During a cross-fade the
expression label switches at the midpoint; weak VA is blended; weak AUs follow
the blended blendshape scores before jitter. Stills where no face was found are
left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import UserInputError
from core.features.store import VideoFeatures
from training.annotations import VideoLabels
from training.stills.weak_labels import blendshape_aus, circumplex_va


@dataclass(frozen=True)
class SequenceOptions:
    hold_frames: tuple[int, int] = (8, 32)  # inclusive range a still is held
    fade_frames: tuple[int, int] = (0, 8)  # inclusive range of a cross-fade to the next still
    frames_per_video: int = 1500
    jitter: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("hold_frames", "fade_frames"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise UserInputError(f"{name} must be a range 0 <= low <= high, got {low}..{high}")
        if self.hold_frames[0] < 1:
            raise UserInputError("a still must be held at least one frame")
        if self.frames_per_video < self.hold_frames[1] or self.jitter < 0:
            raise UserInputError("frames_per_video must hold the longest still, and jitter must be >= 0")


@dataclass(frozen=True)
class FramePlan:
    """Per frame: the still faded from (a), the still faded to (b), the weight of b."""

    a: np.ndarray  # (T,) int64 indices into the split
    b: np.ndarray
    w: np.ndarray  # (T,) float32 in [0, 1]
    video_starts: np.ndarray  # first frame of each pseudo-video


def plan_frames(stills: np.ndarray, options: SequenceOptions, rng: np.random.Generator) -> FramePlan:
    """Lay the given stills (in the order given) out as frames, cut into pseudo-videos."""
    a_parts, b_parts, w_parts, starts = [], [], [], [0]
    video_frames, total = 0, 0
    for k, still in enumerate(stills):
        hold = int(rng.integers(options.hold_frames[0], options.hold_frames[1] + 1))
        if video_frames + hold > options.frames_per_video and video_frames > 0:
            starts.append(total)
            video_frames = 0
        a_parts.append(np.full(hold, still))
        b_parts.append(np.full(hold, still))
        w_parts.append(np.zeros(hold, dtype=np.float32))
        video_frames += hold
        total += hold
        nxt = stills[k + 1] if k + 1 < len(stills) else None
        fade = int(rng.integers(options.fade_frames[0], options.fade_frames[1] + 1))
        # No fade across a video boundary: the next still may start a new video.
        if nxt is None or fade == 0 or video_frames + fade + options.hold_frames[1] > options.frames_per_video:
            continue
        a_parts.append(np.full(fade, still))
        b_parts.append(np.full(fade, nxt))
        w_parts.append(((np.arange(fade) + 1) / (fade + 1)).astype(np.float32))
        video_frames += fade
        total += fade
    if not a_parts:
        raise UserInputError("no usable stills to build sequences from")
    return FramePlan(np.concatenate(a_parts), np.concatenate(b_parts), np.concatenate(w_parts),
                     np.asarray(starts, dtype=np.int64))


@dataclass
class PseudoVideo:
    name: str
    labels: VideoLabels
    features: dict[str, VideoFeatures]
    stills: np.ndarray  # (T,) the still each frame mostly shows


def build_pseudo_videos(prefix: str, expressions: np.ndarray, found: np.ndarray, features: dict[str, np.ndarray],
                        options: SequenceOptions, blendshape_key: str = "blendshapes") -> list[PseudoVideo]:
    """Pseudo-videos named ``<prefix>-0001``... from one split's stills.

    ``expressions``: (N,) ABAW indices (-1 = missing); ``found``: (N,) a face was found;
    ``features``: extractor name -> (N, dim), one of them the blendshape scores.
    """
    if blendshape_key not in features:
        raise UserInputError(f"weak AU labels need the {blendshape_key!r} features; got {sorted(features)}")
    rng = np.random.default_rng(options.seed)
    usable = np.flatnonzero(found)
    plan = plan_frames(rng.permutation(usable), options, rng)
    a, b, w = plan.a, plan.b, plan.w[:, None]

    blended = {name: (1 - w) * f[a] + w * f[b] for name, f in features.items()}
    shown = np.where(plan.w < 0.5, a, b)
    expr = np.asarray(expressions, dtype=np.int64)[shown]
    va_a, va_b = circumplex_va(expressions[a]), circumplex_va(expressions[b])
    va = np.where((va_a == -5) | (va_b == -5), -5.0, (1 - w) * va_a + w * va_b).astype(np.float32)
    aus = blendshape_aus(blended[blendshape_key])
    for name, values in blended.items():
        spread = features[name][usable].std(axis=0)
        values += rng.standard_normal(values.shape).astype(np.float32) * (options.jitter * spread)

    videos = []
    bounds = list(plan.video_starts) + [len(a)]
    for number, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:]), start=1):
        name = f"{prefix}-{number:04d}"
        frames = np.arange(1, stop - start + 1)
        labels = VideoLabels(name, frames, va[start:stop], expr[start:stop], aus[start:stop])
        feats = {n: VideoFeatures(frames, v[start:stop], np.ones(stop - start, dtype=bool)) for n, v in blended.items()}
        videos.append(PseudoVideo(name, labels, feats, shown[start:stop]))
    return videos
