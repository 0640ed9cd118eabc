"""`affectstream bench soak`: memory over a long annotation, the whole `annotate` path on a looped video.

A video is played again and again (frame numbers and timestamps carry on, as in
one long recording) until ``--minutes`` of video have been annotated: every
frame through the engine, rows streamed to a results CSV, the summary PNG at the
end. The resident memory is sampled at the start and every ``--every`` minutes
of video; the target is growth of at most 20 MB after the first minute (memory
must stay flat with video length). The memory after writing the CSV and PNG is
reported beside it (it includes loading the plotting library once; the plot
reads the CSV back in chunks, into at most 2,000 time bins). Prints a table and
writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from affectstream.core.atomic import write_text_atomic
from affectstream.bench.outputs import require_own_output
from affectstream.core.argtypes import number_up_to
from affectstream.bench.memory import rss_mb
from affectstream.bench.verdict import at_most, verdict_text
from affectstream.core.errors import UserInputError
from affectstream.core.sources.readers import Frame, FrameSource, VideoFileSource

SHARED_VIDEO = Path(__file__).resolve().parents[3] / "shared" / "data" / "videos" / "single_face.mp4"
GROWTH_LIMIT_MB = 20.0
MAX_MINUTES = 24 * 60.0  # a day of video: longer is a typo, not a soak
MIN_EVERY = 0.01  # minutes between samples: finer adds nothing, and 1e-12 would make marks without end


class LoopedVideo(FrameSource):
    """One video file played until ``seconds`` of frames have come out, numbering on across laps."""

    def __init__(self, path: Path, seconds: float) -> None:
        self.path, self.seconds = Path(path), float(seconds)
        self.name = f"{self.path.stem}-looped"
        with VideoFileSource(self.path) as probe:  # a missing or broken video fails here, before any work
            self.fps = probe.fps

    def __iter__(self) -> Iterator[Frame]:
        number, step = 0, 1000.0 / self.fps
        while True:
            with VideoFileSource(self.path, self.name) as lap:
                for frame in lap:
                    timestamp = int(round(number * step))
                    if timestamp >= self.seconds * 1000.0:
                        return
                    number += 1
                    yield Frame(frame.image, number, timestamp, self.name)


@dataclass(frozen=True)
class LoopedSpec:
    """What `annotate_video` needs of a source spec."""

    source: LoopedVideo
    kind: str = "video"

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def location(self) -> str:
        return str(self.source.path)

    def open(self, fps: float = 30.0, skip_unreadable: bool = False) -> LoopedVideo:
        # A video file: its own frame rate; the folder options of SourceSpec.open do not apply.
        return self.source

    def fingerprint(self) -> None:
        return None  # the looped frames are no file's: a soak run is never resumed

    def orientation(self) -> int:
        return 1  # a video's frames are read as decoded


def sample_marks(minutes: float, every: float) -> list[float]:
    """The minutes of video at which memory is sampled: the end of the first minute, then every ``every``."""
    periodic = [k * every for k in range(1, int(minutes / every + 1e-9) + 1)]
    return sorted({mark for mark in [1.0, *periodic] if mark <= minutes})


def check_sampling(minutes: float, every: float) -> None:
    """Refuse a run longer than a minute that would take no memory sample after its first minute: it would
    annotate for nothing, its growth target unmeasured (a shorter run is a quick check that says so)."""
    last_periodic = int(minutes / every + 1e-9) * every  # the last of sample_marks' periodic marks, or 0
    if minutes > 1.0 and not last_periodic > 1.0:
        raise UserInputError(f"--every {every:g} takes no memory sample after the first of --minutes {minutes:g}, "
                             "so the growth target could not be measured; sample more often than that")


def growth_after_first_minute(samples: list[dict[str, float]]) -> float | None:
    """The most memory grew from the sample at the end of the first minute to any later one (samples taken
    while annotating, in order); None without a sample at a minute or more and one after it."""
    first = next((k for k, s in enumerate(samples) if s["video_minutes"] >= 1.0), None)
    if first is None or first == len(samples) - 1:
        return None
    return max(s["rss_mb"] for s in samples[first:]) - samples[first]["rss_mb"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", nargs="?", type=Path, default=SHARED_VIDEO,
                        help="video to loop (default: ../shared/data/videos/single_face.mp4)")
    parser.add_argument("--minutes", type=number_up_to(MAX_MINUTES), default=30.0,
                        help=f"minutes of video to annotate, at most {MAX_MINUTES:g}; the growth target is measured "
                             "only on runs longer than a minute (default: 30)")
    parser.add_argument("--every", type=number_up_to(MAX_MINUTES, MIN_EVERY, above_least=False), default=10.0,
                        help=f"minutes of video between memory samples, at least {MIN_EVERY:g} (default: 10)")
    parser.add_argument("--checkpoint", type=Path, help="model (default: the shipped default model)")
    parser.add_argument("--out", type=Path, default=Path("bench-results/soak.json"))


def run(args: argparse.Namespace) -> int:
    from affectstream.core.default_model import resolve_model
    from affectstream.core.engine import AffectEngine
    from affectstream.jobs.annotate import AnnotateOptions, annotate_video, run_identity
    from affectstream.core.faces.native_logs import quiet_native_logs

    from affectstream.core.atomic import check_inputs_kept, written_file

    check_inputs_kept({"video": args.video, "--checkpoint": args.checkpoint}, [written_file("--out", args.out)])
    require_own_output(args.out, "soak")  # before the long run, not after it; and only over its own output
    check_sampling(args.minutes, args.every)
    marks = sample_marks(args.minutes, args.every)
    source = LoopedVideo(args.video, args.minutes * 60.0)
    checkpoint = resolve_model(args.checkpoint)
    samples: list[dict[str, float]] = []
    started = time.perf_counter()
    frames_per_minute = source.fps * 60.0
    count = 0

    def progress(step: int) -> None:
        nonlocal count
        count += step
        if marks and count >= marks[0] * frames_per_minute:
            minute = marks.pop(0)
            samples.append({"video_minutes": minute, "rss_mb": rss_mb(),
                            "wall_minutes": (time.perf_counter() - started) / 60.0})
            print(f"  {minute:5.1f} min of video: {samples[-1]['rss_mb']:.1f} MB "
                  f"({samples[-1]['wall_minutes']:.1f} min wall)", flush=True)

    with quiet_native_logs(), tempfile.TemporaryDirectory() as out, \
            AffectEngine.from_checkpoint(checkpoint) as engine:
        engine.warm_up()
        samples.append({"video_minutes": 0.0, "rss_mb": rss_mb(), "wall_minutes": 0.0})
        print(f"annotating {args.minutes:g} min of {args.video.name} looped; memory at start "
              f"{samples[0]['rss_mb']:.1f} MB", flush=True)
        identity = run_identity(engine, checkpoint, "centred", 1)
        report = annotate_video(LoopedSpec(source), engine, AnnotateOptions(Path(out)), identity, progress)
        samples.append({"video_minutes": report.video_seconds / 60.0, "rss_mb": rss_mb(),
                        "wall_minutes": (time.perf_counter() - started) / 60.0, "after_writing": True})
    if report.status != "done":
        raise UserInputError(f"the soak run failed: {report.message}")
    during = [s for s in samples if not s.get("after_writing")]
    growth = growth_after_first_minute(during)
    met = at_most(growth, GROWTH_LIMIT_MB)
    writing = samples[-1]["rss_mb"] - during[-1]["rss_mb"]
    result = {"bench": "soak", "video": str(args.video), "model": engine.model_name, "minutes": args.minutes,
              "frames": report.frames, "speed_x_real_time": report.speed, "samples": samples,
              "growth_after_first_minute_mb": growth,
              "writing_outputs_mb": writing,
              "target": {"growth_mb_max": GROWTH_LIMIT_MB, "met": met},
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform()}}
    shown = "-" if growth is None else f"{growth:+.1f}"
    print(f"{report.frames} frames at {report.speed:.2f}x real time; memory growth after the first minute "
          f"{shown} MB (target <= {GROWTH_LIMIT_MB:g} MB: {verdict_text(met)}); "
          f"writing the CSV and PNG at the end {writing:+.1f} MB more (the plotting library's first use included)")
    write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0
