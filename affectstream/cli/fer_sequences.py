"""`affectstream fer-sequences`: `import-stills` with FER2013 alone (kept for earlier commands and scripts).

Real expression labels only; valence/arousal and AUs stay missing unless
``--weak-labels`` fills them with the rule-made weak labels.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from affectstream.cli import import_stills


def add_arguments(parser: argparse.ArgumentParser) -> None:
    groups = import_stills.add_arguments(parser)
    parser.set_defaults(sets=["fer2013"])
    groups.inputs.add_argument("--data", type=Path, dest="fer2013", help="fer2013.npz (same as --fer2013)")


def run(args: argparse.Namespace) -> int:
    return import_stills.run(args)
