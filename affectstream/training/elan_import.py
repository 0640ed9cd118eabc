"""ELAN annotations of a video as training labels: per-frame ABAW labels from an .eaf's tiers.

Tiers are named as `export --format elan` names them, one face at a time:
``Expression face0`` (values: the ABAW expression names), ``AU12 face0`` (value
``on``: the AU is on inside a segment), ``Valence face0`` and ``Arousal face0``
(numbers in [-1, 1]). A frame takes the segment its timestamp falls in (start
<= t < end). The Expression tier's segments say where the face was annotated:
there every AU that has a tier is 0 or 1 (on inside one of its segments);
elsewhere, and for an AU without a tier (not annotated), it is missing (-1),
as is an expression outside any segment; valence/arousal are
missing (-5) outside segments of both tiers. Unknown labels, overlapping
segments of one tier, segments past the video's end and a document without any
of these tiers are refused, naming the file, the tier and the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectstream.core.errors import UserInputError
from affectstream.core.labels import ACTION_UNITS, AU_MISSING, EXPR_MISSING, EXPRESSIONS, VA_MISSING
from affectstream.training.annotations import VideoLabels

# A segment may end this long after the last frame's start (the last frame lasts about one frame interval).
END_SLACK_MS = 1000


class AnnotationImportError(UserInputError):
    """An .eaf that cannot be read as training labels; the message names the file, tier and time."""


@dataclass(frozen=True)
class TierSegments:
    name: str
    starts: np.ndarray  # (K,) ms, sorted
    ends: np.ndarray
    values: tuple[str, ...]

    def at(self, times: np.ndarray) -> np.ndarray:
        """(N,) index of the segment holding each time, -1 where none does."""
        if not len(self.starts):
            return np.full(len(times), -1)
        k = np.searchsorted(self.starts, times, side="right") - 1
        inside = (k >= 0) & (times < self.ends[np.clip(k, 0, None)])
        return np.where(inside, k, -1)


def read_tiers(path: Path, face: int) -> dict[str, TierSegments]:
    """The face's known tiers (task -> segments), checked for overlaps."""
    import pympi

    try:
        eaf = pympi.Elan.Eaf(str(path))
    except Exception as exc:  # noqa: BLE001 - pympi raises whatever its XML parser raises
        raise AnnotationImportError(f"{path}: not a readable ELAN document ({type(exc).__name__}: {exc})") from None
    tasks = ["Expression", *ACTION_UNITS, "Valence", "Arousal"]
    found = {}
    for task in tasks:
        name = f"{task} face{face}"
        if name not in eaf.get_tier_names():
            continue
        data = sorted(eaf.get_annotation_data_for_tier(name))
        starts = np.array([int(d[0]) for d in data], np.int64)
        ends = np.array([int(d[1]) for d in data], np.int64)
        for k in range(1, len(data)):
            if starts[k] < ends[k - 1]:
                raise AnnotationImportError(f"{path}: tier {name!r}: segments overlap at {starts[k] / 1000:.3f} s "
                                            f"(one ends at {ends[k - 1] / 1000:.3f} s)")
        found[task] = TierSegments(name, starts, ends, tuple(str(d[2]).strip() for d in data))
    if not found:
        known = ", ".join(f"'{t} face{face}'" for t in ("Expression", "AU12", "Valence"))
        raise AnnotationImportError(f"{path}: no tier of face {face} (e.g. {known}); it has "
                                    f"{', '.join(sorted(eaf.get_tier_names())) or 'no tiers'}")
    return found


def labels_from_tiers(path: Path, tiers: dict[str, TierSegments], video: str, frames: np.ndarray,
                      times: np.ndarray) -> VideoLabels:
    """Per-frame labels of ``frames`` (1-based) shown at ``times`` (ms); see the module docstring."""
    times = np.asarray(times, np.int64)
    last = int(times[-1]) if len(times) else 0
    for tier in tiers.values():
        if len(tier.ends) and tier.ends[-1] > last + END_SLACK_MS:
            raise AnnotationImportError(f"{path}: tier {tier.name!r}: a segment ends at {tier.ends[-1] / 1000:.3f} s, "
                                        f"past the video's end ({last / 1000:.3f} s): is it this video's document?")
    n = len(frames)
    expr = np.full(n, EXPR_MISSING, np.int64)
    present = np.zeros(n, bool)
    if "Expression" in tiers:
        tier = tiers["Expression"]
        codes = [_expression_code(path, tier, k) for k in range(len(tier.values))]
        at = tier.at(times)
        present = at >= 0
        expr[present] = np.asarray(codes, np.int64)[at[present]] if codes else expr[present]
    au = np.full((n, len(ACTION_UNITS)), AU_MISSING, np.int8)
    for j, name in enumerate(ACTION_UNITS):
        if name not in tiers:
            continue
        tier = tiers[name]
        for k, value in enumerate(tier.values):
            if value.lower() != "on":
                raise AnnotationImportError(f"{path}: tier {tier.name!r}: label {value!r} at "
                                            f"{tier.starts[k] / 1000:.3f} s; an AU tier's segments are 'on'")
        on = tier.at(times) >= 0
        au[present, j] = 0
        au[on, j] = 1
    va = np.full((n, 2), VA_MISSING, np.float32)
    if "Valence" in tiers and "Arousal" in tiers:
        values = [_numbers(path, tiers[t]) for t in ("Valence", "Arousal")]
        at = [tiers[t].at(times) for t in ("Valence", "Arousal")]
        both = (at[0] >= 0) & (at[1] >= 0)
        for c in range(2):
            va[both, c] = values[c][at[c][both]]
    return VideoLabels(video, np.asarray(frames, np.int64), va, expr, au)


def _expression_code(path: Path, tier: TierSegments, k: int) -> int:
    value = tier.values[k]
    names = {name.lower(): i for i, name in enumerate(EXPRESSIONS)}
    if value.lower() not in names:
        raise AnnotationImportError(f"{path}: tier {tier.name!r}: unknown expression {value!r} at "
                                    f"{tier.starts[k] / 1000:.3f} s; use one of {', '.join(EXPRESSIONS)}")
    return names[value.lower()]


def _numbers(path: Path, tier: TierSegments) -> np.ndarray:
    out = np.zeros(len(tier.values), np.float32)
    for k, value in enumerate(tier.values):
        try:
            out[k] = float(value)
        except ValueError:
            out[k] = np.nan
        if not -1.0 <= out[k] <= 1.0:
            raise AnnotationImportError(f"{path}: tier {tier.name!r}: {value!r} at {tier.starts[k] / 1000:.3f} s is "
                                        "not a number in [-1, 1]")
    return out
