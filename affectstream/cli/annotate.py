"""`affectstream annotate VIDEO... --out DIR`: a results CSV and a summary PNG per video.

The work is affectstream.jobs.annotate_run; the command exits 1 when any video failed, or is still being written
by another run, after doing all the others.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from affectstream.cli._types import add_folder_arguments, output_path
from affectstream.cli.text import printable
from affectstream.core.faces.types import MAX_FACES
from affectstream.jobs.annotate import SMOOTHING
from affectstream.jobs.annotate_run import AnnotateRunOptions, annotate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", help="video files, cropped_aligned/<video> folders, or folders of either")
    parser.add_argument("--out", type=output_path, required=True, help="folder for <video>.csv and <video>.png")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="model (.safetensors) to run (default: the shipped default model, assets/affect-gru-mixed)")
    parser.add_argument("--runtime", choices=("auto", "onnx", "torch"), default="auto",
                        help="temporal model runtime (default: onnxruntime, torch if it is unavailable)")
    parser.add_argument("--smoothing", choices=SMOOTHING, default="centred",
                        help="valence/arousal smoothing: the checkpoint's centred window (offline, default), "
                             "its causal filter (as live), or none")
    parser.add_argument("--max-faces", type=int, default=1, help=f"faces per frame, 1 to {MAX_FACES} (default: 1)")
    parser.add_argument("--landmarker-model", default=None, help="path of face_landmarker.task")
    parser.add_argument("--accept-landmarker-hash", action="store_true",
                        help="use a --landmarker-model whose SHA-256 differs from the tested one, on purpose")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes, each with its own engine, taking whole videos (default: 1; the engine "
                             "already uses a second core for the next frame's faces)")
    parser.add_argument("--ray", default=None, metavar="ADDRESS",
                        help="run on an existing Ray cluster instead (e.g. auto or ray://host:10001); --out and the "
                             "model must be on paths every node sees")
    add_folder_arguments(parser)
    parser.add_argument("--no-plot", action="store_true", help="CSV only")
    parser.add_argument("--overwrite", action="store_true", help="annotate videos again that are already done")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--verbose", action="store_true", help="show MediaPipe's and the video decoder's log lines")


def options_from_args(args: argparse.Namespace) -> AnnotateRunOptions:
    return AnnotateRunOptions(
        inputs=tuple(args.inputs), out=args.out, checkpoint=args.checkpoint, runtime=args.runtime,
        smoothing=args.smoothing, max_faces=args.max_faces, landmarker_model=args.landmarker_model,
        accept_landmarker_hash=args.accept_landmarker_hash, workers=args.workers, ray=args.ray,
        whole_frames=args.whole_frames, folder_fps=args.folder_fps, plot=not args.no_plot,
        overwrite=args.overwrite, progress=not args.no_progress, verbose=args.verbose)


def run(args: argparse.Namespace) -> int:
    result = annotate(options_from_args(args))
    for line in result.problem_lines():
        print(printable(line), file=sys.stderr)
    # Non-zero also when another run still writes some outputs: they are not there yet.
    return 1 if result.unfinished else 0
