"""`affectstream bench annotate --workers 1,2`: batch annotation throughput by number of worker processes.

The shared face videos are looped (played forwards then backwards) to
``--seconds`` each, so that the batch is long enough to measure; each worker
count annotates the whole batch into its own folder as `annotate --workers N
--no-plot` does, from a cold start (the wall time includes loading the engines). Per count: wall seconds, frames per
second over the batch, speed-up against the first count, and whether every CSV
equals the first count's (byte for byte, else the largest difference per value; null for the first
count itself, and with one count there is nothing to compare). Looped videos are kept beside --out in
annotate-videos/, named by their source's content (a replaced source is looped afresh).
Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from affectstream.core.atomic import write_text_atomic
from affectstream.bench.outputs import require_own_output
from affectstream.core.argtypes import number_up_to
from affectstream.core.errors import UserInputError

SHARED_VIDEOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "videos"
FACE_VIDEOS = ("single_face.mp4", "face_noface.mov", "noface_face.mov")
# Each looped video is written to disk and annotated once per worker count: at least a second (a frame at
# any rate), at most ten minutes.
MIN_SECONDS, MAX_SECONDS = 1.0, 600.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("videos", nargs="*", type=Path,
                        help=f"videos to loop (default: {', '.join(FACE_VIDEOS)} from {SHARED_VIDEOS})")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (default: %(default)s)")
    parser.add_argument("--seconds", type=number_up_to(MAX_SECONDS, MIN_SECONDS, above_least=False), default=20.0,
                        help=f"length of each looped video, {MIN_SECONDS:g} to {MAX_SECONDS:g} s (default: 20)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="model (default: the shipped default model)")
    parser.add_argument("--out", type=Path, default=Path("bench-results/annotate.json"))


def looped(source: Path, seconds: float, out: Path) -> Path:
    """``source`` played forwards then backwards to ``seconds`` (written once; reused while it exists)."""
    from affectstream.bench.group_video import back_and_forth, read_clip, write_video

    if out.is_file():
        return out
    fps, frames = read_clip(source)
    size = (frames[0].shape[1], frames[0].shape[0])
    return write_video(out, fps, size, (back_and_forth(frames, i) for i in range(int(round(seconds * fps)))))


def looped_path(cache: Path, source: Path, seconds: float) -> Path:
    """Where ``source`` looped to ``seconds`` is kept: the source's content is in the name, so a video
    replaced at the same path (or another of the same name) is looped afresh, not timed from a stale copy."""
    from affectstream.core.digest import file_fingerprint

    return cache / f"{source.stem}-{seconds:g}s-{file_fingerprint(source)}.mp4"


def same_csvs_text(difference: float | None) -> str:
    """The table's last column: the first run is the reference (None), the others equal it or differ."""
    if difference is None:
        return "(the reference)"
    return "byte-identical" if difference == 0 else f"max diff {difference:.2g}"


def largest_difference(first: Path, other: Path) -> float:
    """0.0 for byte-identical CSVs, else the largest difference of any numeric value (inf if shapes differ)."""
    import pandas as pd

    if first.read_bytes() == other.read_bytes():
        return 0.0
    a, b = pd.read_csv(first), pd.read_csv(other)
    if a.shape != b.shape or list(a.columns) != list(b.columns):
        return float("inf")
    numeric = [c for c in a.columns if a[c].dtype.kind in "fi"]
    return float((a[numeric] - b[numeric]).abs().max().max())


def annotate_all(videos: list[Path], out: Path, workers: int, checkpoint: Path) -> int:
    """The batch as `affectstream annotate --workers N --no-plot` runs it; the number of failed videos."""
    from affectstream.core.engine import AffectEngine, EngineOptions
    from affectstream.jobs.annotate import AnnotateOptions, annotate_batch, run_identity
    from affectstream.core.sources.readers import find_sources

    engine_options = EngineOptions()
    with AffectEngine.from_checkpoint(checkpoint, engine_options) as engine:
        identity = run_identity(engine, checkpoint, "centred", 1)
        reports = annotate_batch(find_sources(videos), engine, AnnotateOptions(out, plot=False), identity,
                                 show_progress=False, log=lambda line: None, workers=workers,
                                 worker_args=(str(checkpoint), engine_options))
    return sum(r.status == "failed" for r in reports)


def run(args: argparse.Namespace) -> int:
    from affectstream.core.default_model import resolve_model

    from affectstream.core.atomic import check_inputs_kept, written_file

    check_inputs_kept({"video": args.videos, "--checkpoint": args.checkpoint}, [written_file("--out", args.out)])
    require_own_output(args.out, "annotate")  # before the batches, not after them; and only over its own output
    checkpoint = resolve_model(args.checkpoint)
    try:
        counts = [int(part) for part in args.workers.split(",") if part.strip()]
    except ValueError:
        raise UserInputError(f"--workers takes comma-separated counts such as 1,2; got {args.workers!r}") from None
    if not counts or min(counts) < 1:
        raise UserInputError(f"--workers counts must be at least 1; got {args.workers!r}")
    sources = list(args.videos) or [SHARED_VIDEOS / name for name in FACE_VIDEOS]
    missing = [str(p) for p in sources if not p.is_file()]
    if missing:
        raise UserInputError(f"no such video: {', '.join(missing)}")
    cache = args.out.parent / "annotate-videos"
    cache.mkdir(parents=True, exist_ok=True)
    videos = [looped(p, args.seconds, looped_path(cache, p, args.seconds)) for p in sources]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-annotate-") as folder:
        # A folder per run, not per count: --workers 2,2 runs twice, each into a folder of its own.
        outs = [Path(folder) / f"run-{k}-workers-{count}" for k, count in enumerate(counts)]
        for k, (count, out) in enumerate(zip(counts, outs)):
            started = time.perf_counter()
            failed = annotate_all(videos, out, count, checkpoint)
            seconds = time.perf_counter() - started
            frames = sum(sum(1 for _ in open(out / f"{v.stem}.csv")) - 1 for v in videos)
            # The first run is what the others are compared with: it has no difference of its own (null).
            difference = None if k == 0 else \
                max(largest_difference(outs[0] / f"{v.stem}.csv", out / f"{v.stem}.csv") for v in videos)
            rows.append({"workers": count, "failed_videos": failed, "seconds": seconds, "frames": frames,
                         "frames_per_s": frames / seconds, "largest_difference_to_first": difference})
    base = rows[0]["frames_per_s"]
    for row in rows:
        row["speedup"] = row["frames_per_s"] / base
    print(f"{'workers':>8}{'seconds':>10}{'frames':>8}{'frames/s':>10}{'speed-up':>10}  same CSVs as {counts[0]}")
    for row in rows:
        print(f"{row['workers']:>8}{row['seconds']:>10.1f}{row['frames']:>8}{row['frames_per_s']:>10.1f}"
              f"{row['speedup']:>9.2f}x  {same_csvs_text(row['largest_difference_to_first'])}")
    if len(rows) == 1:
        print(f"one worker count ({counts[0]}): no other run to compare its CSVs with (give two, e.g. --workers 1,2)")
    result = {"bench": "annotate", "videos": [str(v) for v in videos], "seconds_per_video": args.seconds,
              "runs": rows, "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                        "python": platform.python_version(), "load_average": os.getloadavg()}}
    write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0
