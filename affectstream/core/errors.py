"""The base of errors caused by the user's input (files, labels, checkpoints).

The command line prints them as one clear line instead of a traceback.
"""

from __future__ import annotations

import math


class UserInputError(ValueError):
    """Bad input: a malformed file, a missing feature file, a mismatched checkpoint."""


def require_at_least(least: int, **options: float) -> None:
    """Each option (``--name`` spelled ``name``, ``_`` for ``-``) is at least ``least``, else a UserInputError
    naming the first that is not: one check for the counts of many commands."""
    for name, value in options.items():
        if value < least:
            raise UserInputError(f"--{name.replace('_', '-')} must be at least {least}, got {value}")


def is_whole_number(value: object) -> bool:
    """An int read from a file (JSON, a header), not a bool (which Python counts as one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_finite_number(value: object) -> bool:
    """An int or float read from a file, finite, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
