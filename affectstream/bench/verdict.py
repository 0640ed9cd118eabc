"""Targets judged on what a benchmark measured, and warm-ups that leave something to measure.

A verdict is True (met), False (not met) or None (not measured: no figure to judge). A target that was not
measured is never reported as met; in JSON its ``met`` is null, in a printout it reads "not measured".
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from affectstream.core.errors import UserInputError

Verdict = bool | None

NOT_MEASURED = "not measured"


def at_most(value: float | None, limit: float) -> Verdict:
    """Whether a measured figure stays at or below ``limit``; None when there is no figure."""
    return None if value is None else bool(value <= limit)


def at_least(value: float | None, limit: float) -> Verdict:
    """Whether a measured figure reaches ``limit``; None when there is no figure."""
    return None if value is None else bool(value >= limit)


def all_met(verdicts: Iterable[Verdict]) -> Verdict:
    """Several checks as one target: not met if any is not met, else not measured if any (or all, there
    being none) is not measured, else met."""
    verdicts = list(verdicts)
    if any(v is False for v in verdicts):
        return False
    if not verdicts or any(v is None for v in verdicts):
        return None
    return True


def verdict_text(verdict: Verdict) -> str:
    return NOT_MEASURED if verdict is None else ("met" if verdict else "NOT met")


def declared_frames(path: Path) -> int | None:
    """The frame count a video file declares (None where its container does not say)."""
    from affectstream.core.sources.readers import VideoFileSource

    with VideoFileSource(path) as source:
        return source.declared_frames


def check_warmup(warmup: int, frames: dict[str, int | None]) -> None:
    """Refuse, before the work, a --warmup that leaves a source nothing to measure (``frames``: each source's
    frame count; None where unknown, and such a source is judged after its runs)."""
    for name, total in frames.items():
        if total is not None and warmup >= total:
            raise UserInputError(f"--warmup {warmup} leaves nothing to measure in {name} ({total} frames); "
                                 f"use fewer than {total}")
