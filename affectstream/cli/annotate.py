"""`affectstream annotate VIDEO... --out DIR`: a results CSV and a summary PNG per video.

See affectstream.jobs.annotate for what is written and how failures are handled; the
command exits 1 when any video failed, after doing all the others.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from affectstream.core.atomic import check_writable_dir
from affectstream.cli._types import add_folder_arguments, listed_sources, output_path
from affectstream.core.errors import UserInputError
from affectstream.core.faces.types import MAX_FACES
from affectstream.jobs.annotate import SMOOTHING, AnnotateOptions, annotate_batch, run_identity


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


def run(args: argparse.Namespace) -> int:
    from affectstream.core.default_model import resolve_model
    from affectstream.core.engine import AffectEngine, EngineFaces, EngineOptions, EnginePost, EngineRuntime
    from affectstream.core.faces.model_file import locate_face_landmarker
    from affectstream.core.temporal.checkpoint import unfinished_warning
    from affectstream.cli.text import printable
    from affectstream.core.faces.native_logs import quiet_native_logs

    if args.workers < 1:
        raise UserInputError(f"--workers must be at least 1, got {args.workers}")
    options = AnnotateOptions(args.out, args.smoothing, plot=not args.no_plot, overwrite=args.overwrite,
                              folder_fps=args.folder_fps)
    # Fail before any video when the model, the landmarker or the output folder cannot be used.
    locate_face_landmarker(args.landmarker_model, args.accept_landmarker_hash)
    check_writable_dir(args.out)  # made by the batch, once the model has loaded
    engine_options = EngineOptions(EngineRuntime(args.runtime),
                                   EngineFaces(max_faces=args.max_faces, landmarker_model=args.landmarker_model,
                                               accept_landmarker_hash=args.accept_landmarker_hash),
                                   EnginePost(smooth=args.smoothing != "none"))
    checkpoint = resolve_model(args.checkpoint)
    with quiet_native_logs(not args.verbose), AffectEngine.from_checkpoint(checkpoint, engine_options) as engine:
        if engine.runtime_fallback:
            print(f"temporal model on torch: {engine.runtime_fallback}", file=sys.stderr)
        unfinished = unfinished_warning(checkpoint, engine.provenance)
        if unfinished:
            print(unfinished, file=sys.stderr)
        identity = run_identity(engine, checkpoint, args.smoothing, args.max_faces)
        reports = annotate_batch(listed_sources(args.inputs, args.whole_frames), engine, options, identity,
                                 show_progress=not args.no_progress, workers=args.workers,
                                 worker_args=(str(checkpoint), engine_options), ray_address=args.ray)
    done = sum(r.status == "done" for r in reports)
    skipped = sum(r.status == "skipped" for r in reports)
    busy = [r for r in reports if r.status == "busy"]
    failed = [r for r in reports if r.status == "failed"]
    in_other_run = f", {len(busy)} left to another run writing them now" if busy else ""
    print(f"annotated {done} video(s), skipped {skipped} already done{in_other_run}, {len(failed)} failed; "
          f"model {engine.model_name} on {engine.runtime.name}; output: {args.out}")
    for report in busy + failed:
        print(printable(f"  {report.name}: {report.message}"), file=sys.stderr)
    # Non-zero also when another run still writes some outputs: they are not there yet.
    return 1 if failed or busy else 0
