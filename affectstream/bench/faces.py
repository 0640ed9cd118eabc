"""`affectstream bench faces`: per-stage latency of the face half of the pipeline.

Runs the shared videos (or given ones) through the VIDEO-mode Face Landmarker,
the tracker, five-point alignment and each chosen extractor, one face per frame,
timing every stage per frame. Prints median and p95 ms per stage and frames/s,
and writes JSON. The headline figure is ``landmarks+alignment+blendshapes``:
the per-frame sum over frames with a face (target: <= 20 ms median on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from affectstream.core.atomic import write_text_atomic
from affectstream.bench.outputs import require_own_output
from affectstream.core.argtypes import whole_number_in
from affectstream.bench.verdict import at_most, check_warmup, declared_frames, verdict_text
from affectstream.core.errors import UserInputError, require_at_least
from affectstream.core.faces.alignment import MIN_CROP_SIZE
from affectstream.core.faces.types import MAX_FACES
from affectstream.jobs.extract import MAX_CROP_SIZE

SHARED_VIDEOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "videos"
HEADLINE = "landmarks+alignment+blendshapes"
HEADLINE_MEDIAN_MS_MAX = 20.0
MAX_REPEAT = 100  # passes: more is a typo that would keep the machine busy for hours


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("videos", nargs="*", type=Path, help=f"videos to run (default: every video in {SHARED_VIDEOS})")
    parser.add_argument("--extractors", default="blendshapes,landmarks", help="comma-separated extractor names")
    parser.add_argument("--onnx-model", type=Path, default=None, help="also time this ONNX backbone ('onnx')")
    parser.add_argument("--max-faces", type=whole_number_in(1, MAX_FACES), default=1,
                        help=f"faces looked for per frame, 1 to {MAX_FACES} (default: 1)")
    parser.add_argument("--crop-size", type=whole_number_in(MIN_CROP_SIZE, MAX_CROP_SIZE), default=112,
                        help=f"alignment crop size timed, {MIN_CROP_SIZE} to {MAX_CROP_SIZE} (default: 112)")
    parser.add_argument("--warmup", type=whole_number_in(0), default=5,
                        help="frames per video left out of the figures (fewer than the shortest video's)")
    parser.add_argument("--repeat", type=int, default=1, help=f"passes over the videos, 1 to {MAX_REPEAT}")
    parser.add_argument("--landmarker-model", default=None)
    parser.add_argument("--out", type=Path, default=Path("bench-results/faces.json"))


def summarise(samples_ms: Sequence[float]) -> dict:
    values = np.asarray(samples_ms, dtype=np.float64)
    if values.size == 0:
        return {"n": 0, "median_ms": None, "p95_ms": None, "mean_ms": None}
    return {"n": int(values.size), "median_ms": float(np.median(values)),
            "p95_ms": float(np.percentile(values, 95)), "mean_ms": float(values.mean())}


def headline_target(stages: dict[str, dict]) -> dict:
    """The target on the headline stage's median; not measured (None) where the stage has no figure: no
    blendshapes extractor chosen, or no frame with a face after the warm-up."""
    median = stages.get(HEADLINE, {}).get("median_ms")
    return {"stage": HEADLINE, "median_ms_max": HEADLINE_MEDIAN_MS_MAX,
            "met": at_most(median, HEADLINE_MEDIAN_MS_MAX)}


def bench_video(path: Path, chain, options, crop_size: int, warmup: int) -> tuple[dict[str, list[float]], int, float]:
    """Per-stage samples (ms) for one video; also its frame count and wall seconds."""
    from affectstream.core.faces.alignment import AlignedCrops
    from affectstream.core.faces.landmarker import FaceAnalyzer
    from affectstream.core.faces.tracking import FaceTracker
    from affectstream.core.sources.readers import VideoFileSource

    samples: dict[str, list[float]] = {}

    def add(stage: str, seconds: float, keep: bool) -> None:
        if keep:
            samples.setdefault(stage, []).append(seconds * 1000.0)

    frames = 0
    started = time.perf_counter()
    with FaceAnalyzer(options) as analyzer, VideoFileSource(path) as source:
        tracker = FaceTracker()
        iterator = iter(source)
        while True:
            t0 = time.perf_counter()
            frame = next(iterator, None)
            if frame is None:
                break
            frames += 1
            keep = frames > warmup
            t1 = time.perf_counter()
            found = analyzer.analyze_video_frame(frame.image, frame.timestamp_ms)
            t2 = time.perf_counter()
            faces = tracker.update(found.faces)
            t3 = time.perf_counter()
            add("decode", t1 - t0, keep)
            add("landmarks", t2 - t1, keep)
            add("tracking", t3 - t2, keep)
            if not faces:
                add("frame total", t3 - t0, keep)
                continue
            face = max(faces, key=lambda f: f.area)
            crops = AlignedCrops(frame.image, face)
            t4 = time.perf_counter()
            crops.get(crop_size, False)
            t5 = time.perf_counter()
            add("alignment", t5 - t4, keep)
            headline = (t2 - t1) + (t5 - t4)
            for extractor in chain.extractors:
                config = extractor.config
                aligned = crops.get(config.input_size, config.grey) if config.input == "aligned" else None
                t6 = time.perf_counter()
                extractor.extract(frame.image, face, aligned)
                t7 = time.perf_counter()
                add(f"extract {extractor.name}", t7 - t6, keep)
                if extractor.name == "blendshapes":
                    headline += t7 - t6
            if "blendshapes" in chain.names:
                add(HEADLINE, headline, keep)
            add("frame total", time.perf_counter() - t0, keep)
    return samples, frames, time.perf_counter() - started


def run(args: argparse.Namespace) -> int:
    from affectstream.core.faces.landmarker import FaceAnalyzerOptions, RunningMode
    from affectstream.core.faces.model_file import locate_face_landmarker
    from affectstream.core.features.extractors import ExtractorChain

    require_at_least(1, repeat=args.repeat)  # a plain int; --max-faces, --crop-size and --warmup are checked types
    if args.repeat > MAX_REPEAT:
        raise UserInputError(f"--repeat must be at most {MAX_REPEAT}, got {args.repeat}")
    from affectstream.core.atomic import check_inputs_kept, written_file

    check_inputs_kept({"video": args.videos, "--onnx-model": args.onnx_model,
                       "--landmarker-model": args.landmarker_model}, [written_file("--out", args.out)])
    require_own_output(args.out, "faces")  # before the timing, not after it; and only over its own output
    locate_face_landmarker(args.landmarker_model)  # a missing or wrong model file fails before any video
    videos = list(args.videos) or sorted(p for p in SHARED_VIDEOS.glob("*") if p.suffix.lower() in (".mp4", ".mov"))
    if not videos:
        raise UserInputError(f"no videos given and none found in {SHARED_VIDEOS}")
    check_warmup(args.warmup, {path.name: declared_frames(path) for path in videos})
    names = [n.strip() for n in args.extractors.split(",") if n.strip()]
    extractor_options = {}
    if args.onnx_model is not None:
        if "onnx" not in names:
            names.append("onnx")
        extractor_options["onnx"] = {"model": str(args.onnx_model)}
    options = FaceAnalyzerOptions(running_mode=RunningMode.VIDEO, max_faces=args.max_faces,
                                  model_path=args.landmarker_model)
    samples: dict[str, list[float]] = {}
    total_frames, total_seconds, per_video = 0, 0.0, {}
    with ExtractorChain.from_names(names, extractor_options) as chain:
        for _ in range(args.repeat):
            for path in videos:
                video_samples, frames, seconds = bench_video(path, chain, options, args.crop_size, args.warmup)
                for stage, values in video_samples.items():
                    samples.setdefault(stage, []).extend(values)
                total_frames += frames
                total_seconds += seconds
                per_video[path.name] = {"frames": frames, "frames_per_s": frames / seconds,
                                        "frames_measured": len(video_samples.get("frame total", [])),
                                        "frames_with_face": len(video_samples.get("alignment", []))}
    if not samples.get("frame total"):
        print(f"measured nothing: --warmup {args.warmup} left out every frame; {args.out} not written",
              file=sys.stderr)
        return 1
    order = ["decode", "landmarks", "tracking", "alignment", *[f"extract {n}" for n in names], HEADLINE,
             "frame total"]
    stages = {s: summarise(samples.get(s, [])) for s in order if s in samples}
    judged = headline_target(stages)
    result = {
        "bench": "faces",
        "videos": [str(v) for v in videos],
        "extractors": names,
        "max_faces": args.max_faces,
        "crop_size": args.crop_size,
        "warmup_frames_per_video": args.warmup,
        "stages": stages,
        "frames": total_frames,
        "frames_per_s": total_frames / total_seconds if total_seconds else None,
        "per_video": per_video,
        "target": judged,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
    }
    print(f"{'stage':<34}{'n':>6}{'median ms':>11}{'p95 ms':>9}")
    for stage, row in stages.items():
        print(f"{stage:<34}{row['n']:>6}{row['median_ms']:>11.2f}{row['p95_ms']:>9.2f}")
    print(f"{total_frames} frames in {total_seconds:.1f} s: {result['frames_per_s']:.1f} frames/s "
          f"(decode + landmarks + tracking + alignment + extractors, {os.cpu_count()} CPUs)")
    print(f"target: {HEADLINE} median <= {HEADLINE_MEDIAN_MS_MAX:g} ms: {verdict_text(judged['met'])}")
    write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0
