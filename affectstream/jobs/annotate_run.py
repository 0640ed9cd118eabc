"""`annotate` as a library call: the model loaded once, then a results CSV and a summary PNG per video through
affectstream.jobs.annotate (what is written, how failures and other runs' outputs are handled)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from affectstream.core.atomic import check_writable_dir
from affectstream.core.errors import UserInputError
from affectstream.core.sources.readers import DEFAULT_FPS
from affectstream.jobs.annotate import AnnotateOptions, VideoReport, annotate_batch, run_identity
from affectstream.jobs.inputs import listed_sources


@dataclass(frozen=True)
class AnnotateRunOptions:
    inputs: tuple[str, ...]  # video files, cropped_aligned/<video> folders, or folders of either
    out: Path  # folder for <video>.csv and <video>.png
    checkpoint: Path | None = None  # default: the shipped default model
    runtime: str = "auto"  # temporal model runtime: auto, onnx or torch
    smoothing: str = "centred"  # valence/arousal: the checkpoint's centred window, its causal filter, or none
    max_faces: int = 1
    landmarker_model: str | None = None
    accept_landmarker_hash: bool = False
    workers: int = 1  # processes, each with its own engine, taking whole videos
    ray: str | None = None  # an existing Ray cluster's address, instead of local workers
    whole_frames: bool = False  # folders of numbered images hold whole frames, not aligned faces
    folder_fps: float = DEFAULT_FPS
    plot: bool = True
    overwrite: bool = False
    progress: bool = True
    verbose: bool = False  # MediaPipe's and the video decoder's log lines


@dataclass(frozen=True)
class Annotated:
    reports: tuple[VideoReport, ...]  # one per source
    model_name: str
    runtime: str  # the temporal model's runtime that ran

    def with_status(self, status: str) -> list[VideoReport]:
        return [r for r in self.reports if r.status == status]

    @property
    def unfinished(self) -> list[VideoReport]:
        """Videos left to another run writing them now, then those that failed: their outputs are not there."""
        return self.with_status("busy") + self.with_status("failed")

    def problem_lines(self) -> list[str]:
        return [f"  {r.name}: {r.message}" for r in self.unfinished]


def annotate(options: AnnotateRunOptions) -> Annotated:
    """Annotate every input not done yet; print the summary (what did not finish: Annotated.problem_lines)."""
    from affectstream.core.default_model import resolve_model
    from affectstream.core.engine import AffectEngine, EngineFaces, EngineOptions, EnginePost, EngineRuntime
    from affectstream.core.faces.model_file import locate_face_landmarker
    from affectstream.core.faces.native_logs import quiet_native_logs
    from affectstream.core.post.modes import engine_smoothing
    from affectstream.core.temporal.checkpoint import unfinished_warning

    if options.workers < 1:
        raise UserInputError(f"--workers must be at least 1, got {options.workers}")
    job = AnnotateOptions(options.out, options.smoothing, plot=options.plot, overwrite=options.overwrite,
                          folder_fps=options.folder_fps)
    # Fail before any video when the model, the landmarker or the output folder cannot be used.
    locate_face_landmarker(options.landmarker_model, options.accept_landmarker_hash)
    check_writable_dir(options.out)  # made by the batch, once the model has loaded
    engine_options = EngineOptions(EngineRuntime(options.runtime),
                                   EngineFaces(max_faces=options.max_faces, landmarker_model=options.landmarker_model,
                                               accept_landmarker_hash=options.accept_landmarker_hash),
                                   EnginePost(smoothing=engine_smoothing(options.smoothing)))
    checkpoint = resolve_model(options.checkpoint)
    with quiet_native_logs(not options.verbose), AffectEngine.from_checkpoint(checkpoint, engine_options) as engine:
        if engine.runtime_fallback:
            print(f"temporal model on torch: {engine.runtime_fallback}", file=sys.stderr)
        unfinished = unfinished_warning(checkpoint, engine.provenance)
        if unfinished:
            print(unfinished, file=sys.stderr)
        identity = run_identity(engine, checkpoint, options.smoothing, options.max_faces)
        reports = annotate_batch(listed_sources(options.inputs, options.whole_frames), engine, job, identity,
                                 show_progress=options.progress, workers=options.workers,
                                 worker_args=(str(checkpoint), engine_options), ray_address=options.ray)
    result = Annotated(tuple(reports), engine.model_name, engine.runtime.name)
    done, skipped, busy, failed = (result.with_status(s) for s in ("done", "skipped", "busy", "failed"))
    in_other_run = f", {len(busy)} left to another run writing them now" if busy else ""
    print(f"annotated {len(done)} video(s), skipped {len(skipped)} already done{in_other_run}, {len(failed)} failed; "
          f"model {result.model_name} on {result.runtime}; output: {options.out}")
    return result
