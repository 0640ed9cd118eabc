"""argparse types of checked numbers, for every command and benchmark.

A bound is checked where the option is read, before any work: NaN, inf, a negative or zero where it makes
no sense, or an absurd size would otherwise end in an overflow, a hang or memory exhausted halfway through.
Each type's message says what it takes (argparse prints it after the option's name).
"""

from __future__ import annotations

import argparse
import math
from typing import Callable


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan  # fails every bound below


def _whole(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def number_up_to(most: float, least: float = 0.0, above_least: bool = True) -> Callable[[str], float]:
    """A finite number above ``least`` (from it, with ``above_least`` False) and at most ``most``."""
    wanted = f"above {least:g} and at most {most:g}" if above_least else f"from {least:g} to {most:g}"
    return _number_type(least, most, above_least, f"a finite number {wanted}")


def _number_type(least: float, most: float, above_least: bool, wanted: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = _float(text)
        high_enough = value > least if above_least else value >= least
        if not (math.isfinite(value) and high_enough and value <= most):
            raise argparse.ArgumentTypeError(f"{wanted}, got {text!r}")
        return value

    return parse


def whole_number_in(least: int, most: int | None = None, wanted: str = "") -> Callable[[str], int]:
    """A whole number from ``least`` to ``most`` (no cap when None: a count checked against the work later)."""
    wanted = wanted or (f"a whole number {least} or more" if most is None else f"a whole number from {least} to {most}")

    def parse(text: str) -> int:
        value = _whole(text)
        if value is None or value < least or (most is not None and value > most):
            raise argparse.ArgumentTypeError(f"{wanted}, got {text!r}")
        return value

    return parse


fraction = _number_type(0.0, 1.0, False, "a fraction from 0 to 1")
count = whole_number_in(0, wanted="a whole number, 0 or more")
positive_int = whole_number_in(1, wanted="a whole number, 1 or more")
positive_number = _number_type(0.0, math.inf, True, "a number above 0")
non_negative_number = _number_type(0.0, math.inf, False, "a finite number, 0 or more")
# torch and numpy take seeds of 32 bits; a negative or larger one was a traceback before any work.
seed = whole_number_in(0, 2**32 - 1)
