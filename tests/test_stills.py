"""Pseudo-videos from labelled stills, and the weak VA / AU labels (synthetic stills with known answers)."""

import numpy as np
import pytest

from affectstream.core.errors import UserInputError
from affectstream.core.faces.types import BLENDSHAPE_NAMES
from affectstream.core.labels import ACTION_UNITS, EXPRESSIONS
from affectstream.training.stills.sequences import SequenceOptions, build_pseudo_videos, plan_frames
from affectstream.training.stills.sets import StillLabels
from affectstream.training.stills.weak_labels import CIRCUMPLEX, blendshape_aus, circumplex_va

NB = len(BLENDSHAPE_NAMES)


def _expression_labels(expressions: np.ndarray) -> StillLabels:
    labels = StillLabels.missing(len(expressions))
    labels.expr[:] = expressions
    return labels


def _blendshapes(**scores: float) -> np.ndarray:
    row = np.zeros(NB + 3, dtype=np.float32)
    for name, value in scores.items():
        row[BLENDSHAPE_NAMES.index(name)] = value
    return row


def test_circumplex_places_happiness_pleasant_and_sadness_unpleasant_and_other_missing():
    idx = [EXPRESSIONS.index(n) for n in ("Happiness", "Sadness", "Neutral", "Other")] + [-1]
    va = circumplex_va(np.array(idx))
    assert va[0, 0] > 0.5 and va[1, 0] < -0.5 and va[1, 1] < 0
    assert np.array_equal(va[2], [0, 0])
    assert np.all(va[3:] == -5)
    assert set(CIRCUMPLEX) == set(EXPRESSIONS) - {"Other"}


def test_blendshape_rules_on_known_faces():
    smile = _blendshapes(mouthSmileLeft=0.8, mouthSmileRight=0.7, eyeSquintLeft=0.6, eyeSquintRight=0.6,
                         mouthLowerDownLeft=0.5, mouthLowerDownRight=0.5)
    frown = _blendshapes(browDownLeft=0.6, browDownRight=0.5, eyeSquintLeft=0.7, eyeSquintRight=0.7,
                         mouthPressLeft=0.3, mouthPressRight=0.3)
    surprise = _blendshapes(browInnerUp=0.9, browOuterUpLeft=0.8, browOuterUpRight=0.8, jawOpen=0.6,
                            mouthLowerDownLeft=0.6, mouthLowerDownRight=0.6)
    aus = blendshape_aus(np.stack([smile, frown, surprise, _blendshapes()]))
    on = [{ACTION_UNITS[j] for j in np.flatnonzero(row)} for row in aus]
    assert on[0] == {"AU6", "AU12", "AU25"}  # Duchenne smile with parted lips; squint counts as AU6, not AU7
    assert on[1] == {"AU4", "AU7", "AU24"}
    assert on[2] == {"AU1", "AU2", "AU25", "AU26"}
    assert on[3] == set()
    with pytest.raises(ValueError):
        blendshape_aus(np.zeros((2, 10)))


def test_plan_holds_every_still_once_and_cuts_videos_to_length():
    options = SequenceOptions(hold_frames=(5, 9), fade_frames=(0, 3), frames_per_video=40)
    stills = np.arange(100, 160)
    plan = plan_frames(stills, options, np.random.default_rng(1))
    held = plan.a[plan.w == 0]
    # Each still appears as one contiguous held run, in the order given.
    runs = held[np.r_[True, np.diff(held) != 0]]
    assert np.array_equal(runs, stills)
    lengths = np.diff(np.r_[plan.video_starts, len(plan.a)])
    assert lengths.max() <= 40 and len(lengths) > 1
    # Fades go from a still to the next one, with weights rising inside (0, 1).
    fading = plan.w > 0
    assert np.all(plan.b[fading] - plan.a[fading] == 1) and np.all(plan.w[fading] < 1)
    assert not np.any(fading[plan.video_starts])


def test_weak_labels_fill_missing_va_and_aus_of_expression_only_stills():
    rng = np.random.default_rng(0)
    n = 30
    blend = np.stack([_blendshapes(mouthSmileLeft=0.9, mouthSmileRight=0.9) if i % 2 else _blendshapes()
                      for i in range(n)])
    other = rng.normal(size=(n, 7)).astype(np.float32)
    expressions = np.where(np.arange(n) % 2, EXPRESSIONS.index("Happiness"), EXPRESSIONS.index("Neutral"))
    found = np.ones(n, dtype=bool)
    found[[3, 4]] = False
    options = SequenceOptions(hold_frames=(4, 6), fade_frames=(2, 4), frames_per_video=50, jitter=0.0,
                              label_fades=True)
    videos = build_pseudo_videos("t", _expression_labels(expressions), found, {"blendshapes": blend, "x": other},
                                 options, weak=True)
    assert [v.name for v in videos][:2] == ["t-0001", "t-0002"]
    stills = np.concatenate([v.stills for v in videos])
    assert set(stills) == set(range(n)) - {3, 4}
    for video in videos:
        assert np.array_equal(video.labels.frames, np.arange(1, len(video.stills) + 1))
        happy = video.labels.expr == EXPRESSIONS.index("Happiness")
        assert np.array_equal(happy, video.stills % 2 == 1)  # the label follows the still mostly shown
        assert np.all(video.labels.va[happy, 0] > 0) and np.all(video.labels.va[~happy, 0] <= 0.4)
        held = np.all(video.features["x"].features == other[video.stills], axis=1)
        assert held.mean() > 0.5  # held frames are the still itself (no jitter here); fades are blends
        smile_on = video.labels.au[:, ACTION_UNITS.index("AU12")] == 1
        assert np.array_equal(smile_on[held], (video.stills % 2 == 1)[held])


def test_jitter_moves_features_by_the_requested_share_of_their_spread():
    n = 400
    rng = np.random.default_rng(2)
    feats = rng.normal(0, 2.0, size=(n, 3)).astype(np.float32)
    blend = np.zeros((n, NB + 3), dtype=np.float32)
    options = SequenceOptions(hold_frames=(10, 10), fade_frames=(0, 0), frames_per_video=1000, jitter=0.1)
    videos = build_pseudo_videos("j", _expression_labels(np.zeros(n)), np.ones(n, dtype=bool),
                                 {"blendshapes": blend, "x": feats}, options)
    noise = np.concatenate([v.features["x"].features - feats[v.stills] for v in videos])
    assert noise.std() == pytest.approx(0.2, rel=0.1)


def test_bad_options_are_refused():
    with pytest.raises(UserInputError):
        SequenceOptions(hold_frames=(0, 3))
    with pytest.raises(UserInputError):
        SequenceOptions(fade_frames=(5, 2))
    with pytest.raises(UserInputError):
        build_pseudo_videos("t", _expression_labels(np.zeros(3)), np.zeros(3, dtype=bool),
                            {"blendshapes": np.zeros((3, NB))}, SequenceOptions())
