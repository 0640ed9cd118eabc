"""argparse types and options shared by several commands."""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def fraction(text: str) -> float:
    """A number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a fraction from 0 to 1, got {text!r}")
    return value


def _whole_number(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = least - 1
    if value < least:
        raise argparse.ArgumentTypeError(f"a whole number, {least} or more, got {text!r}")
    return value


def count(text: str) -> int:
    """A whole number, 0 or more."""
    return _whole_number(text, 0)


def positive_int(text: str) -> int:
    """A whole number, 1 or more."""
    return _whole_number(text, 1)


def positive_number(text: str) -> float:
    """A finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"a number above 0, got {text!r}")
    return value


def add_folder_arguments(parser: argparse.ArgumentParser) -> None:
    """How folders of numbered images are read (`extract`, `annotate`): see sources.readers.find_sources."""
    parser.add_argument("--whole-frames", action="store_true",
                        help="folders of numbered images hold whole frames of a video (e.g. AFEW-VA clips), not "
                             "cropped aligned faces: faces are found in each, as in a video file")
    parser.add_argument("--folder-fps", type=float, default=30.0, help="frame rate of image folders (timestamps)")


def output_text(text: str) -> str:
    """An output path as given: an empty one would quietly mean the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an output path, got an empty one")
    return text


def output_path(text: str) -> Path:
    return Path(output_text(text))
