"""argparse types and options shared by several commands."""

from __future__ import annotations

import argparse
from pathlib import Path

# Checked numbers live a layer below, where the benchmarks take them too.
from affectstream.core.argtypes import (count, fraction, non_negative_number, number_up_to, positive_int,  # noqa: F401
                                   positive_number, seed, whole_number_in)


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
