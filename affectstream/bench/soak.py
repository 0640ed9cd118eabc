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

from affectstream.atomic import write_text_atomic
from affectstream.bench.memory import rss_mb
from affectstream.errors import UserInputError
from affectstream.sources.readers import Frame, FrameSource, VideoFileSource

SHARED_VIDEO = Path(__file__).resolve().parents[3] / "shared" / "data" / "videos" / "single_face.mp4"
GROWTH_LIMIT_MB = 20.0


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", nargs="?", type=Path, default=SHARED_VIDEO,
                        help="video to loop (default: ../shared/data/videos/single_face.mp4)")
    parser.add_argument("--minutes", type=float, default=30.0, help="minutes of video to annotate (default: 30)")
    parser.add_argument("--every", type=float, default=10.0, help="minutes of video between memory samples")
    parser.add_argument("--checkpoint", type=Path, help="model (default: the shipped default model)")
    parser.add_argument("--out", type=Path, default=Path("bench-results/soak.json"))


def run(args: argparse.Namespace) -> int:
    from affectstream.default_model import resolve_model
    from affectstream.engine import AffectEngine
    from affectstream.jobs.annotate import AnnotateOptions, annotate_video, run_identity
    from affectstream.training.native_logs import quiet_native_logs

    if not args.minutes > 0 or not args.every > 0:
        raise UserInputError("--minutes and --every must be > 0")
    source = LoopedVideo(args.video, args.minutes * 60.0)
    checkpoint = resolve_model(args.checkpoint)
    samples: list[dict[str, float]] = []
    started = time.perf_counter()
    every = [m * args.every for m in range(1, int(args.minutes / args.every + 1e-9) + 1)]
    marks = sorted({m for m in [1.0, *every] if m <= args.minutes})
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
    after_first = next((s["rss_mb"] for s in during if s["video_minutes"] >= 1.0), during[0]["rss_mb"])
    growth = max(s["rss_mb"] for s in during) - after_first
    writing = samples[-1]["rss_mb"] - during[-1]["rss_mb"]
    result = {"bench": "soak", "video": str(args.video), "model": engine.model_name, "minutes": args.minutes,
              "frames": report.frames, "speed_x_real_time": report.speed, "samples": samples,
              "growth_after_first_minute_mb": growth,
              "writing_outputs_mb": writing,
              "target": {"growth_mb_max": GROWTH_LIMIT_MB, "met": growth <= GROWTH_LIMIT_MB},
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform()}}
    print(f"{report.frames} frames at {report.speed:.2f}x real time; memory growth after the first minute "
          f"{growth:+.1f} MB (target <= {GROWTH_LIMIT_MB:g} MB: {'met' if result['target']['met'] else 'NOT met'}); "
          f"writing the CSV and PNG at the end {writing:+.1f} MB more (the plotting library's first use included)")
    write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0
