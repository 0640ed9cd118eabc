"""`affectstream extract`: per-frame features of videos and face folders into the feature store.

The work is affectstream.jobs.extract_run (the job itself: affectstream.jobs.extract); any failed video exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from affectstream.cli._types import add_folder_arguments, output_path, positive_int
from affectstream.cli.text import printable
from affectstream.core.faces.alignment import MAX_CROP_SIZE, MIN_CROP_SIZE
from affectstream.core.faces.types import MAX_FACES
from affectstream.jobs.extract import DEFAULT_EXTRACTORS
from affectstream.jobs.extract_run import ExtractRunOptions, extract


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", help="video files, cropped_aligned/<video> folders, or folders of either")
    parser.add_argument("--out", type=output_path, default=None,
                        help="feature store root (default: $AFFECTSTREAM_FEATURES or ./features)")
    parser.add_argument("--extractors", default=",".join(DEFAULT_EXTRACTORS),
                        help="comma-separated registered extractor names, in the order to record "
                             "(default: %(default)s; see --list-extractors)")
    parser.add_argument("--onnx-model", type=Path, default=None, help="ONNX backbone for the 'onnx' extractor")
    parser.add_argument("--onnx-config", type=Path, default=None,
                        help="JSON file of the ONNX model's preprocessing (input_size, colour, mean, std, "
                             "scale, layout, output, licence, description); default: <model>.json beside the "
                             "model if it exists")
    parser.add_argument("--max-faces", type=int, default=1,
                        help=f"faces looked for per frame, 1 to {MAX_FACES}; the main track is stored "
                             "(default: 1, fastest)")
    parser.add_argument("--landmarker-model", default=None, help="path of face_landmarker.task")
    parser.add_argument("--accept-landmarker-hash", action="store_true",
                        help="use a landmarker model file whose sha256 differs from the expected one")
    parser.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1,
                        help="processes (default: every core)")
    parser.add_argument("--ray", default=None, metavar="ADDRESS",
                        help="run on an existing Ray cluster instead (e.g. auto or ray://host:10001); the store "
                             "(--out) must be a folder every node sees")
    parser.add_argument("--save-crops", type=output_path, default=None,
                        help="also save the main face's aligned crops here")
    parser.add_argument("--crop-size", type=int, default=112,
                        help=f"side of saved crops in pixels, {MIN_CROP_SIZE} to {MAX_CROP_SIZE} (default: 112)")
    parser.add_argument("--crop-grid", type=Path, default=None,
                        help="write a PNG grid of saved crops (needs --save-crops)")
    add_folder_arguments(parser)
    parser.add_argument("--skip-bad-frames", action="store_true",
                        help="skip undecodable images in frame folders instead of failing the video")
    parser.add_argument("--overwrite", action="store_true", help="re-extract videos that are already done")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--verbose", action="store_true", help="show MediaPipe's and the video decoder's log lines")


def options_from_args(args: argparse.Namespace) -> ExtractRunOptions:
    return ExtractRunOptions(
        inputs=tuple(args.inputs), store_root=args.out,
        extractors=tuple(n.strip() for n in args.extractors.split(",") if n.strip()),
        onnx_model=args.onnx_model, onnx_config=args.onnx_config, max_faces=args.max_faces,
        landmarker_model=args.landmarker_model, accept_landmarker_hash=args.accept_landmarker_hash,
        workers=args.workers, ray=args.ray, save_crops=args.save_crops, crop_size=args.crop_size,
        crop_grid=args.crop_grid, whole_frames=args.whole_frames, folder_fps=args.folder_fps,
        skip_bad_frames=args.skip_bad_frames, overwrite=args.overwrite, progress=not args.no_progress,
        verbose=args.verbose)


def run(args: argparse.Namespace) -> int:
    result = extract(options_from_args(args))
    for line in result.problem_lines():
        print(printable(line), file=sys.stderr)
    return 1 if result.failed else 0
