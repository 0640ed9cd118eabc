"""Offline annotation of videos with the engine: a results CSV and a summary PNG per video.

* Every frame is analysed, in order (no drops); valence/arousal may be smoothed
  with the checkpoint's centred moving average per face track, since the whole
  video is known (``smoothing="centred"``), or with the live causal filter.
* Resumable: a video with a CSV and no error file beside it is skipped. Files
  are written atomically.
* A video that breaks partway (truncated, corrupt) still gets a valid CSV and PNG
  of the frames decoded before the damage, plus ``<video>.error.txt``; the batch
  goes on and the video is reported as failed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from core.atomic import write_text_atomic
from core.errors import UserInputError
from core.results import FrameAffect
from core.results_csv import write_results_csv
from core.smoothing import centered_moving_average
from core.sources import SourceError, SourceSpec

SMOOTHING = ("centred", "causal", "none")


@dataclass(frozen=True)
class AnnotateOptions:
    out_dir: Path
    smoothing: str = "centred"
    plot: bool = True
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.smoothing not in SMOOTHING:
            raise UserInputError(f"smoothing must be one of {', '.join(SMOOTHING)}, not {self.smoothing!r}")


@dataclass(frozen=True)
class VideoReport:
    name: str
    status: str  # "done", "skipped" or "failed"
    frames: int = 0
    frames_with_face: int = 0
    seconds: float = 0.0
    video_seconds: float = 0.0  # duration of the frames annotated
    message: str = ""

    @property
    def speed(self) -> float:
        """Times real time (video seconds per wall second)."""
        return self.video_seconds / self.seconds if self.seconds > 0 else 0.0


def output_paths(out_dir: Path, name: str) -> tuple[Path, Path, Path]:
    return out_dir / f"{name}.csv", out_dir / f"{name}.png", out_dir / f"{name}.error.txt"


def is_done(out_dir: Path, name: str) -> bool:
    csv_path, _, error_path = output_paths(out_dir, name)
    return csv_path.is_file() and not error_path.exists()


def smooth_centred(results: Sequence[FrameAffect], window: int) -> list[FrameAffect]:
    """Valence/arousal of each face track replaced by the centred moving average of its raw values.

    A track restarted after a timeout (track_frames back to 1) is a new run.
    """
    runs: dict[tuple[int, int], list[tuple[int, int]]] = {}  # (track, run) -> [(frame i, face j)]
    run_of: dict[int, int] = {}
    for i, result in enumerate(results):
        for j, face in enumerate(result.faces):
            if face.track_frames == 1:
                run_of[face.track_id] = run_of.get(face.track_id, -1) + 1
            runs.setdefault((face.track_id, run_of.get(face.track_id, 0)), []).append((i, j))
    faces = [list(r.faces) for r in results]
    for where in runs.values():
        raw = np.array([(faces[i][j].valence_raw, faces[i][j].arousal_raw) for i, j in where])
        smooth = centered_moving_average(raw, window)
        for (i, j), (v, a) in zip(where, smooth):
            faces[i][j] = replace(faces[i][j], valence=float(v), arousal=float(a))
    return [replace(r, faces=tuple(f)) for r, f in zip(results, faces)]


def annotate_video(spec: SourceSpec, engine, options: AnnotateOptions,
                   progress: Callable[[int], None] = lambda n: None) -> VideoReport:
    """Annotate one video and write its files; bad input gives a failed report, not an exception."""
    started = time.perf_counter()
    if spec.kind == "webcam":
        return VideoReport(spec.name, "failed", message=f"webcam {spec.location}: annotate takes video files, "
                                                        "not cameras (use `affectstream bench live --camera N`)")
    csv_path, png_path, error_path = output_paths(options.out_dir, spec.name)
    results: list[FrameAffect] = []
    error = ""
    engine.reset()
    try:
        with spec.open() as source:
            for frame in source:
                results.append(engine.process(frame, prealigned=source.aligned))
                progress(1)
    except SourceError as exc:
        error = str(exc)
    finally:
        engine.reset()
    if not results:
        return VideoReport(spec.name, "failed", seconds=time.perf_counter() - started, message=error)
    if options.smoothing == "centred":
        results = smooth_centred(results, engine.meta.post.offline_window)
    write_results_csv(csv_path, results)
    if options.plot:
        from training.annotate_plot import plot_summary

        plot_summary(results, png_path, f"{spec.name} ({engine.model_name})")
    if error:
        write_text_atomic(error_path, f"{error}\nThe CSV holds the {len(results)} frames decoded before it.\n")
    elif error_path.exists():
        error_path.unlink()
    step = results[1].timestamp_ms - results[0].timestamp_ms if len(results) > 1 else 0
    video_seconds = (results[-1].timestamp_ms - results[0].timestamp_ms + step) / 1000.0
    return VideoReport(spec.name, "failed" if error else "done", len(results), sum(r.success for r in results),
                       time.perf_counter() - started, video_seconds, error)


def annotate_batch(sources: Sequence[SourceSpec], engine, options: AnnotateOptions, show_progress: bool = True,
                   log: Callable[[str], None] = print) -> list[VideoReport]:
    from tqdm import tqdm

    names = [s.name for s in sources]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UserInputError(f"several inputs share a video name: {', '.join(duplicates)}")
    reports = []
    for spec in sources:
        if not options.overwrite and spec.kind != "invalid" and is_done(options.out_dir, spec.name):
            reports.append(VideoReport(spec.name, "skipped", message="already annotated"))
            log(f"{spec.name}: already annotated, skipped")
            continue
        total = _frame_hint(spec)
        with tqdm(total=total or None, unit="frame", desc=spec.name, disable=not show_progress) as bar:
            report = annotate_video(spec, engine, options, bar.update)
        reports.append(report)
        if report.status == "failed" and not report.frames:
            log(f"FAILED {spec.name}: {report.message}")
        else:
            speed = f" ({report.speed:.1f}x real time)" if report.video_seconds > 0 else ""
            log(f"{spec.name}: {report.frames} frames, face in {report.frames_with_face}, "
                f"{report.frames / max(report.seconds, 1e-9):.1f} frames/s{speed}"
                + (f"; FAILED after them: {report.message}" if report.status == "failed" else ""))
    return reports


def _frame_hint(spec: SourceSpec) -> int:
    """The container's frame count, for the progress bar only."""
    if spec.kind != "video":
        return 0
    import cv2

    capture = cv2.VideoCapture(spec.location)
    try:
        return max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0), 0)
    finally:
        capture.release()
