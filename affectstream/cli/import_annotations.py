"""`affectstream import-annotations`: a video and its ELAN annotations (.eaf) as ABAW-format training data.

The work is affectstream.training.annotations_import_run.
"""

from __future__ import annotations

import argparse

from affectstream.core.default_model import DEFAULT_FEATURES
from affectstream.training.annotations_import_run import ImportAnnotationsOptions, import_annotations


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", help="the annotated video")
    parser.add_argument("annotations", help="its ELAN document (.eaf) with tiers named as `export --format elan` "
                                            "names them: 'Expression face0', 'AU12 face0' (segments 'on'), "
                                            "'Valence face0', 'Arousal face0'; or its (corrected) results CSV")
    parser.add_argument("--out", required=True, help="folder for the annotation file and features/")
    parser.add_argument("--face", type=int, default=0, help="the face whose tiers are read (default %(default)s)")
    parser.add_argument("--split", choices=("train", "val", "test"), default="train",
                        help="the annotation file written (default %(default)s)")
    parser.add_argument("--extractors", nargs="+", default=list(DEFAULT_FEATURES),
                        help="feature extractors, in order (default: the default model's, %(default)s)")


def run(args: argparse.Namespace) -> int:
    done = import_annotations(ImportAnnotationsOptions(args.video, args.annotations, args.out, args.face, args.split,
                                                            tuple(args.extractors)))
    counts = ", ".join(f"{task} {n}" for task, n in done.labelled.items())
    print(f"{done.frames} frames; labelled: {counts}; wrote {done.labels_file} and features in {done.features}")
    return 0
