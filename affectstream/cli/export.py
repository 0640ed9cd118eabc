"""`affectstream export`: an annotate results CSV for ELAN (.eaf) or for tools that read OpenFace 2 CSVs.

The work is affectstream.core.results.export.
"""

from __future__ import annotations

import argparse

from affectstream.cli._types import output_text
from affectstream.core.results.elan import ElanOptions
from affectstream.core.results.export import FORMATS, ExportOptions, export_results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", help="a results CSV written by annotate (or the app)")
    parser.add_argument("--format", required=True, choices=sorted(FORMATS),
                        help="elan: an .eaf with per face an Expression tier, one tier per AU (segments where it is "
                             "on) and Valence/Arousal tiers of binned values, the video linked; openface: OpenFace "
                             "2's columns (frame, face_id, timestamp, confidence, success, AU01_c ...), occurrence "
                             "only: no AUxx_r columns, since AffectStream predicts no AU intensity")
    parser.add_argument("--video", help="the analysed video, linked from the .eaf (elan)")
    parser.add_argument("--out", type=output_text, help="file to write (default: beside the CSV, <name>.eaf or "
                                                        "<name>.openface.csv)")
    parser.add_argument("--min-duration-ms", type=float, default=200.0,
                        help="elan: runs shorter than this are merged into a neighbour (default %(default)s)")
    parser.add_argument("--va-bin", type=float, default=0.1,
                        help="elan: width of the valence/arousal bins of their tiers (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    path = export_results(ExportOptions(args.results, args.format, args.out, args.video,
                                        ElanOptions(args.min_duration_ms, args.va_bin)))
    print(f"wrote {path}")
    return 0
