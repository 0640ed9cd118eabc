"""Pseudo-videos from labelled stills: each still is held for a while, then cross-fades into the next.

A real video of a face shows an expression for a while and changes it gradually:
a facial action's onset and offset take a few hundred milliseconds. A still shows
one moment. Holding a still for ``hold_frames`` frames and blending the features
of two stills over ``fade_frames`` frames (an S-shaped ease, as an onset
accelerates and then settles) gives the temporal model that shape: stretches of
one expression, gradual changes, episodes that cross segment boundaries (so
carrying the state matters). Per-frame Gaussian jitter (``jitter`` times each
feature's spread over the split) stands in for the frame-to-frame noise of a
real video.

Frames are numbered from 1 (the ABAW convention). Labels are the stills' own,
on the frames that show a still as it is. Frames inside a change show a blend
that no rater saw, so their labels are missing: the model learns to follow the
change, and is scored only where a real label exists (``label_fades=True``
instead switches the expression and the AUs at the midpoint and blends
valence/arousal, made-up values that are kept only for comparisons). A label a
still does not have stays missing; only with ``weak=True`` are missing VA and
AUs filled by the weak rules (affectstream.training.stills.weak_labels), and then the output
must say so. Stills where no face was found are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from affectstream.core.errors import UserInputError
from affectstream.core.features.store import VideoFeatures
from affectstream.core.labels import AU_MISSING, EXPR_MISSING, VA_MISSING
from affectstream.training.annotations import VideoLabels
from affectstream.training.stills.sets import StillLabels
from affectstream.training.stills.weak_labels import blendshape_aus, circumplex_va


@dataclass(frozen=True)
class SequenceOptions:
    hold_frames: tuple[int, int] = (8, 32)  # inclusive range a still is held
    fade_frames: tuple[int, int] = (6, 15)  # inclusive range of a cross-fade (200-500 ms at 30 fps)
    frames_per_video: int = 1500
    jitter: float = 0.1
    seed: int = 0
    label_fades: bool = False  # True: interpolated labels inside changes (made up; see the module docstring)

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


def ease(t: np.ndarray) -> np.ndarray:
    """Smoothstep 3t^2 - 2t^3: slow start, fast middle, slow settling, like a facial action's onset."""
    return t * t * (3.0 - 2.0 * t)


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
        w_parts.append(ease((np.arange(fade) + 1) / (fade + 1)).astype(np.float32))
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


def build_pseudo_videos(prefix: str, labels: StillLabels, found: np.ndarray, features: dict[str, np.ndarray],
                        options: SequenceOptions, weak: bool = False,
                        blendshape_key: str = "blendshapes") -> list[PseudoVideo]:
    """Pseudo-videos named ``<prefix>-0001``... from one split's stills.

    ``labels``: the stills' own labels (missing codes where they have none); ``found``:
    (N,) a face was found; ``features``: extractor name -> (N, dim). ``weak`` fills missing
    VA from the expression's circumplex point and missing AUs from the blendshape rule
    (which then needs the ``blendshapes`` features).
    """
    if weak and blendshape_key not in features:
        raise UserInputError(f"weak AU labels need the {blendshape_key!r} features; got {sorted(features)}")
    rng = np.random.default_rng(options.seed)
    usable = np.flatnonzero(found)
    plan = plan_frames(rng.permutation(usable), options, rng)
    a, b, w = plan.a, plan.b, plan.w[:, None]

    blended = {name: (1 - w) * f[a] + w * f[b] for name, f in features.items()}
    shown = np.where(plan.w < 0.5, a, b)
    expr = labels.expr[shown]
    still_va = labels.va
    if weak:
        still_va = np.where(still_va == VA_MISSING, circumplex_va(labels.expr), still_va)
    va_a, va_b = still_va[a], still_va[b]
    va = np.where((va_a == VA_MISSING) | (va_b == VA_MISSING), VA_MISSING, (1 - w) * va_a + w * va_b)
    va = va.astype(np.float32)
    aus = labels.au[shown]
    if weak:
        aus = np.where(aus == AU_MISSING, blendshape_aus(blended[blendshape_key]), aus).astype(np.int8)
    if not options.label_fades:
        changing = plan.w > 0
        expr = np.where(changing, EXPR_MISSING, expr)
        va[changing] = VA_MISSING
        aus[changing] = AU_MISSING
    for name, values in blended.items():
        spread = features[name][usable].std(axis=0)
        values += rng.standard_normal(values.shape).astype(np.float32) * (options.jitter * spread)

    videos = []
    bounds = list(plan.video_starts) + [len(a)]
    for number, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:]), start=1):
        name = f"{prefix}-{number:04d}"
        frames = np.arange(1, stop - start + 1)
        video_labels = VideoLabels(name, frames, va[start:stop], expr[start:stop], aus[start:stop])
        feats = {n: VideoFeatures(frames, v[start:stop], np.ones(stop - start, dtype=bool)) for n, v in blended.items()}
        videos.append(PseudoVideo(name, video_labels, feats, shown[start:stop]))
    return videos
