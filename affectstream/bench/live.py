"""`affectstream bench live`: the whole engine on the shared videos played as a live source.

Each video runs twice: ``paced`` (released at its own frame rate by a grabber
thread into a one-frame slot, as a camera would: frames that arrive while the
engine is busy are dropped) and ``fast`` (every frame, as fast as possible, as
``annotate`` runs: decoding read ahead and the next frame's faces found while
this one's features run, so its stage times overlap and its latency spans two
frames).
Per run: sustained frames/s, p50/p95 capture-to-result latency, dropped frames,
median ms per stage; and the process's peak memory. Prints a table, writes JSON.
``--repeats N`` runs each video and mode N times and judges the targets on the
median run: on a shared machine one run's speed can land either side of a target. A run with fewer than
20 results after ``--warmup`` (MIN_MEASURED_RESULTS), or a group run that did not find its video's faces,
gives no verdict: "not measured".

Without ``--checkpoint`` the shipped default model (assets/affect-gru-mixed) is timed;
``--untrained`` times an untrained GRU of the paper's size (hidden 1024) over
``--features`` instead: its outputs mean nothing, its cost is real.
``--camera N`` times a webcam for ``--seconds`` instead of the videos.

``--faces 1,2,4,6`` times groups instead: for each N a 1280x720 video of N faces
(affectstream.bench.group_video, built once from the shared one-face video) with the
engine allowed ``--max-faces`` faces (the app's default), and prints the
marginal milliseconds per extra face (the slope of ms per frame over N, fast runs).
``--single-landmarker`` times the whole-frame landmarker without the face search,
as the engine ran before groups were searched for.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import resource
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from affectstream.core.atomic import write_text_atomic
from affectstream.bench.outputs import require_own_output
from affectstream.core.argtypes import number_up_to, whole_number_in
from affectstream.bench.verdict import all_met, at_least, at_most, check_warmup, declared_frames, verdict_text
from affectstream.core.errors import UserInputError
from affectstream.core.faces.types import MAX_FACES

SHARED_VIDEOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "videos"
MODES = ("paced", "fast")
STAGES = ("faces", "features", "model", "post")
TARGET_FPS, TARGET_P95_MS = 30.0, 50.0
# Groups: four faces at >= 24 fps live with p95 <= 80 ms, and >= 30 fps as fast as possible.
GROUP_FACES, GROUP_PACED_FPS, GROUP_FAST_FPS, GROUP_P95_MS = 4, 24.0, 30.0, 80.0
GROUP_SOURCE = SHARED_VIDEOS / "single_face.mp4"
# Caps on the sizes a run takes: every result of a run is kept in memory until it is summarised.
MAX_SECONDS, MAX_REPEATS, MAX_HIDDEN = 600.0, 100, 16384
CAMERA_FPS = 30.0  # the rate a camera run is sized at (frames = --seconds x this)
# Results after the warm-up that a run needs for its frame rate and latency to be judged: a p95 of fewer
# than 20 is its largest value, and a rate from a frame or two is noise. A run with fewer is not measured.
MIN_MEASURED_RESULTS = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("videos", nargs="*", type=Path, help=f"videos (default: every video in {SHARED_VIDEOS})")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="model to time (default: the shipped default model)")
    parser.add_argument("--untrained", action="store_true",
                        help="time an untrained GRU of the paper's size instead of a trained model")
    parser.add_argument("--features", default="blendshapes,landmarks",
                        help="extractors of the untrained model (default: %(default)s)")
    parser.add_argument("--hidden", type=whole_number_in(1, MAX_HIDDEN), default=1024,
                        help="GRU width of the untrained model")
    parser.add_argument("--runtime", choices=("auto", "onnx", "torch"), default="auto")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated: paced, fast")
    parser.add_argument("--camera", type=whole_number_in(0), default=None,
                        help="time this webcam instead of the videos")
    parser.add_argument("--seconds", type=number_up_to(MAX_SECONDS), default=10.0,
                        help=f"how long to run the camera, at most {MAX_SECONDS:g}")
    parser.add_argument("--warmup", type=whole_number_in(0), default=5,
                        help="first results per run left out of latency figures (fewer than the run's frames); "
                             f"a run with fewer than {MIN_MEASURED_RESULTS} results after it has no verdict "
                             "(not measured)")
    parser.add_argument("--repeats", type=whole_number_in(1, MAX_REPEATS), default=1,
                        help="run each video and mode this many times; the targets are judged on the median run "
                             "(a shared machine's speed drifts by about 10%% between runs)")
    parser.add_argument("--faces", default=None,
                        help="comma-separated face counts, e.g. 1,2,4,6: time group videos built from --group-source")
    parser.add_argument("--group-source", type=Path, default=GROUP_SOURCE, help="one-face video the groups are built of")
    parser.add_argument("--group-seconds", type=number_up_to(MAX_SECONDS, 1.0, above_least=False), default=10.0,
                        help=f"length of each group video in seconds, 1 to {MAX_SECONDS:g}")
    parser.add_argument("--max-faces", type=whole_number_in(1, MAX_FACES), default=6,
                        help=f"faces the engine looks for with --faces, 1 to {MAX_FACES}")
    parser.add_argument("--single-landmarker", action="store_true",
                        help="no face search: the whole-frame landmarker alone (the engine before group search)")
    parser.add_argument("--out", type=Path, default=Path("bench-results/live.json"))


@dataclass(frozen=True)
class RunSummary:
    video: str
    mode: str
    captured: int
    processed: int
    dropped: int
    with_face: int
    seconds: float
    fps: float
    p50_ms: float | None
    p95_ms: float | None
    stage_median_ms: dict[str, float | None]
    faces: int | None = None  # faces in the group video; None for other videos
    median_faces_found: float | None = None
    repeat: int = 0  # which of the --repeats runs of this video and mode
    latency_results: int | None = None  # results in the latency and stage figures: those after the warm-up

    def to_json(self) -> dict:
        return dict(self.__dict__)


def runs_by_video_and_mode(rows: Sequence[RunSummary]) -> list[list[RunSummary]]:
    """The repeated runs of each video and mode, in first-seen order."""
    groups: dict[tuple, list[RunSummary]] = {}
    for row in rows:
        groups.setdefault((row.video, row.faces, row.mode), []).append(row)
    return list(groups.values())


def median_runs(rows: Sequence[RunSummary]) -> list[RunSummary]:
    """Per video and mode, what the targets are judged on when each was run several times: the run
    with the median frame rate (the lower middle one of an even count), carrying the median of the
    runs' p95 latencies (the higher middle one): paced runs all sit near the source's rate, so the
    run picked by frame rate says little about latency."""
    return [median_run(runs) for runs in runs_by_video_and_mode(rows)]


def median_run(runs: Sequence[RunSummary]) -> RunSummary:
    """The repeated runs of one video and mode judged as one (see median_runs)."""
    middle = sorted(runs, key=lambda r: r.fps)[(len(runs) - 1) // 2]
    p95s = sorted(r.p95_ms for r in runs if r.p95_ms is not None)
    return replace(middle, p95_ms=p95s[len(p95s) // 2] if p95s else None)


def summarise(video: str, mode: str, results: Sequence, captured: int, dropped: int, seconds: float,
              warmup: int, faces: int | None = None) -> RunSummary:
    kept = results[warmup:]  # none when the warm-up took every result: then there is no latency figure
    totals = np.array([r.latency.total for r in kept], dtype=np.float64)
    percentile = lambda q: float(np.percentile(totals, q)) if totals.size else None  # noqa: E731
    stages = {s: float(np.median([getattr(r.latency, s) for r in kept])) if kept else None for s in STAGES}
    found = float(np.median([len(r.faces) for r in kept])) if kept else None
    return RunSummary(video, mode, captured, len(results), dropped, sum(r.success for r in results), seconds,
                      len(results) / seconds if seconds > 0 else 0.0, percentile(50), percentile(95), stages,
                      faces, found, latency_results=len(kept))


def run_one(engine, source, mode: str, warmup: int, max_frames: int | None = None,
            faces: int | None = None) -> RunSummary:
    from affectstream.core.sources.pacing import LiveRun, read_ahead

    engine.reset()
    engine.warm_up()
    try:
        if mode == "paced":
            live = LiveRun(engine.process, source, pace=True, max_frames=max_frames)
            results = list(live)
            counts = live.counts()
            return summarise(source.name, mode, results, counts.captured, counts.dropped, counts.seconds, warmup,
                             faces)
        started = time.perf_counter()
        # As annotate runs: decoding read ahead, and the next frame's faces found during this one's features.
        with contextlib.closing(engine.process_stream(read_ahead(source))) as stream:
            results = list(itertools.islice(stream, max_frames))
        seconds = time.perf_counter() - started
        return summarise(source.name, mode, results, len(results), 0, seconds, warmup, faces)
    finally:
        engine.reset()


def untrained_model(features: Sequence[str], hidden: int):
    """A model of the paper's size over the given extractors, with random weights (timing only)."""
    import torch

    from affectstream.core.temporal.checkpoint import LoadedModel, ModelMeta
    from affectstream.core.features.extractors import ExtractorChain
    from affectstream.core.temporal import GRUConfig, ModelConfig, MultiTaskModel

    with ExtractorChain.from_names(features) as chain:
        specs = chain.specs()
    torch.manual_seed(0)
    config = ModelConfig(input_dim=sum(s.dim for s in specs), encoder=GRUConfig(hidden_size=hidden))
    return LoadedModel(MultiTaskModel(config).eval(), ModelMeta("untrained (timing only)", config, specs))


def group_video_path(folder: Path, source: Path, faces: int, seconds: float) -> Path:
    """Where the group video of ``faces`` copies of ``source`` is kept: its length and the source's content
    are in the name, so a video kept from another --group-seconds or another (or a replaced) source is not
    reused."""
    from affectstream.core.digest import file_fingerprint

    if not source.is_file():
        raise UserInputError(f"--group-source {source}: no such video file")
    return folder / f"group-{faces}-faces-{seconds:g}s-{file_fingerprint(source)}.mp4"


def unjudged_notes(judged: Sequence[RunSummary]) -> list[str]:
    """One line per judged run that gives no verdict, and why: too few results, or a group video's faces
    not found."""
    notes = []
    for run in judged:
        reasons = []
        if run.faces is not None and not found_every_face(run):
            found = "none" if run.median_faces_found is None else f"{run.median_faces_found:g}"
            reasons.append(f"the engine found {found} of its {run.faces} face(s), so it is no measurement of "
                           f"{run.faces}")
        if not enough_results(run):
            reasons.append(f"{measured_results(run)} result(s) after the warm-up, fewer than the "
                           f"{MIN_MEASURED_RESULTS} a verdict needs")
        if reasons:
            name = run.video if run.faces is None else f"{run.video} ({run.faces} faces)"
            notes.append(f"{name} {run.mode}: {'; '.join(reasons)}: not measured")
    return notes


def format_table(rows: Sequence[RunSummary]) -> str:
    head = f"{'video':<16}{'faces':>6} {'mode':<7}{'frames':>7}{'dropped':>8}{'fps':>7}{'p50 ms':>8}{'p95 ms':>8}" + "".join(
        f"{s + ' ms':>12}" for s in STAGES)
    fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    lines = [head]
    for r in rows:
        found = "-" if r.median_faces_found is None else f"{r.median_faces_found:g}"
        lines.append(f"{r.video[:15]:<16}{found:>6} {r.mode:<7}{r.processed:>7}{r.dropped:>8}{r.fps:>7.1f}{fmt(r.p50_ms):>8}"
                     f"{fmt(r.p95_ms):>8}" + "".join(f"{fmt(r.stage_median_ms[s]):>12}" for s in STAGES))
    return "\n".join(lines)


def measured_results(run: RunSummary) -> int:
    """The results a run's figures come from: those after the warm-up (every one where not recorded)."""
    return run.processed if run.latency_results is None else run.latency_results


def enough_results(run: RunSummary) -> bool:
    """Whether a run measured enough results for its frame rate and latency to be judged."""
    return measured_results(run) >= MIN_MEASURED_RESULTS


def one_face_checks(rows: Sequence[RunSummary]) -> dict[str, bool | None]:
    """>= 30 fps sustained (fast runs) and p95 <= 50 ms live (paced runs), on videos with a face in every
    frame; a check without such a run of its mode (or without a latency figure, or with fewer than
    MIN_MEASURED_RESULTS results) is None, not measured."""
    judged = [r for r in rows if r.processed and r.with_face == r.processed and enough_results(r)]
    fast = [r for r in judged if r.mode == "fast"]
    paced = [r for r in judged if r.mode == "paced"]
    return {f"fast >= {TARGET_FPS:g} fps": all_met(at_least(r.fps, TARGET_FPS) for r in fast),
            f"paced p95 <= {TARGET_P95_MS:g} ms": all_met(at_most(r.p95_ms, TARGET_P95_MS) for r in paced)}


def target_met(rows: Sequence[RunSummary]) -> bool | None:
    """The one-face target: met only when both its checks were measured and met (see verdict.all_met)."""
    return all_met(one_face_checks(rows).values())


def marginal_ms_per_face(rows: Sequence[RunSummary]) -> float | None:
    """Slope of ms per frame over the number of faces (least squares, fast runs of the group videos
    in which every face was found: a run that missed faces did less work, and would flatter the slope)."""
    points = [(r.faces, 1000.0 / r.fps) for r in rows
              if r.mode == "fast" and r.faces and r.fps > 0 and r.median_faces_found == r.faces]
    if len({n for n, _ in points}) < 2:
        return None
    n, ms = np.array(points, dtype=np.float64).T
    return float(np.polyfit(n, ms, 1)[0])


def found_every_face(run: RunSummary) -> bool:
    """Whether a group run found its video's faces (the median frame's count): a run that found fewer (or
    more) did other work than N faces' and measures nothing about N faces."""
    return run.faces is not None and run.median_faces_found == run.faces


def group_target(rows: Sequence[RunSummary]) -> dict:
    """The group figures: four faces live and fast, one face as before. A run that did not find its faces,
    or measured too few results, is not measured (None), never met."""
    def pick(faces: int, mode: str) -> RunSummary | None:
        run = next((r for r in rows if r.faces == faces and r.mode == mode), None)
        return run if run is not None and found_every_face(run) and enough_results(run) else None

    def fps(run: RunSummary | None) -> float | None:
        return None if run is None else run.fps

    def p95(run: RunSummary | None) -> float | None:
        return None if run is None else run.p95_ms

    # Every check is listed: one whose run was not made (a face count or mode left out) is None, not measured.
    paced, fast = pick(GROUP_FACES, "paced"), pick(GROUP_FACES, "fast")
    one_paced, one_fast = pick(1, "paced"), pick(1, "fast")
    checks = {
        f"{GROUP_FACES} faces paced >= {GROUP_PACED_FPS:g} fps, p95 <= {GROUP_P95_MS:g} ms":
            all_met([at_least(fps(paced), GROUP_PACED_FPS), at_most(p95(paced), GROUP_P95_MS)]),
        f"{GROUP_FACES} faces fast >= {GROUP_FAST_FPS:g} fps": at_least(fps(fast), GROUP_FAST_FPS),
        f"1 face paced p95 <= {TARGET_P95_MS:g} ms": at_most(p95(one_paced), TARGET_P95_MS),
        f"1 face fast >= {TARGET_FPS:g} fps": at_least(fps(one_fast), TARGET_FPS),
    }
    found = {r.faces: r.median_faces_found for r in rows if r.mode == "fast" and r.faces}
    return {"checks": checks, "met": all_met(checks.values()), "median_faces_found": found}


def run(args: argparse.Namespace) -> int:
    from affectstream.core.temporal.checkpoint import load_checkpoint
    from affectstream.core.default_model import resolve_model
    from affectstream.core.engine import AffectEngine, EngineFaces, EngineOptions, EngineRuntime
    from affectstream.core.sources.pacing import open_camera
    from affectstream.core.sources.readers import VideoFileSource

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(modes) - set(MODES))
    if unknown or not modes:
        raise UserInputError(f"--modes takes {', '.join(MODES)}; got {args.modes!r}")
    from affectstream.core.atomic import check_inputs_kept, written_file

    check_inputs_kept({"video": args.videos, "--checkpoint": args.checkpoint, "--group-source": args.group_source},
                      [written_file("--out", args.out)])
    require_own_output(args.out, "live")  # before the runs, not after them; and only over its own output
    if args.camera is not None:
        check_warmup(args.warmup, {f"camera {args.camera}": int(args.seconds * CAMERA_FPS)})
    camera = open_camera(args.camera) if args.camera is not None else None  # a missing camera fails first
    videos = list(args.videos) or sorted(p for p in SHARED_VIDEOS.glob("*") if p.suffix.lower() in (".mp4", ".mov"))
    if camera is None and not videos:
        raise UserInputError(f"no videos given and none found in {SHARED_VIDEOS}")
    groups = parse_face_counts(args.faces) if args.faces else []
    if groups:
        from affectstream.bench.group_video import build_group_video

        videos = [build_group_video(args.group_source, n, group_video_path(args.out.parent, args.group_source, n,
                                                                           args.group_seconds),
                                    args.group_seconds) for n in groups]
    if camera is None:
        check_warmup(args.warmup, {path.name: declared_frames(path) for path in videos})
    features = [n.strip() for n in args.features.split(",") if n.strip()]
    loaded = (untrained_model(features, args.hidden) if args.untrained
              else load_checkpoint(resolve_model(args.checkpoint)))
    rows: list[RunSummary] = []
    options = EngineOptions(EngineRuntime(args.runtime),
                            EngineFaces(max_faces=args.max_faces if groups else 1, search=not args.single_landmarker))
    with AffectEngine(loaded, options) as engine:
        if groups:
            for n, path in zip(groups, videos):
                for repeat, mode in itertools.product(range(args.repeats), modes):
                    with VideoFileSource(path) as source:
                        rows.append(replace(run_one(engine, source, mode, args.warmup, faces=n), repeat=repeat))
        elif camera is not None:
            with camera:
                rows.append(run_one(engine, camera, "camera", args.warmup,
                                    max_frames=int(args.seconds * CAMERA_FPS)))
        else:
            for path in videos:
                for repeat, mode in itertools.product(range(args.repeats), modes):
                    with VideoFileSource(path) as source:
                        rows.append(replace(run_one(engine, source, mode, args.warmup), repeat=repeat))
        runtime = engine.runtime.name
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(format_table(rows))
    repeated = runs_by_video_and_mode(rows)
    judged = [median_run(runs) for runs in repeated]  # median_runs(rows), the repeats kept for the spreads below
    for note in unjudged_notes(judged):
        print(note)
    if not any(r.latency_results for r in rows):
        print(f"measured nothing: --warmup {args.warmup} left out every result of every run; {args.out} not written",
              file=sys.stderr)
        return 1
    checks = None if groups else one_face_checks(judged)  # met as target_met judges it, from these checks
    result = {
        "bench": "live",
        "model": loaded.meta.name,
        "features": loaded.meta.feature_names,
        "encoder": loaded.meta.model_config.to_json()["encoder"],
        "runtime": runtime,
        "runs": [r.to_json() for r in rows],
        "peak_rss_mb": peak_mb,
        "warmup_results_left_out_of_latency": args.warmup,
        "repeats": args.repeats,
        "judged_runs": [r.to_json() for r in judged],
        "target": None if groups else {"fps_min": TARGET_FPS, "p95_ms_max": TARGET_P95_MS,
                   "judged_on": "videos with a face in every frame: fps of the fast run (the sustainable rate), "
                                "p95 latency of the paced run (a camera's rate)",
                   "checks": checks, "met": all_met(checks.values())},
        "engine": {"max_faces": options.faces.max_faces, "face_search": options.faces.search},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average": os.getloadavg()},
    }
    if groups:
        result["groups"] = {**group_target(judged), "marginal_ms_per_extra_face": marginal_ms_per_face(judged)}
    if args.repeats > 1:
        spreads = [" ".join(f"{v:.1f}" for v in sorted(r.fps for r in runs)) for runs in repeated]
        print(f"judged on the median run of {args.repeats} per video and mode: "
              + ", ".join(f"{r.video} {r.mode} {r.fps:.1f} fps (runs {fps})" for r, fps in zip(judged, spreads)))
    if groups:
        marginal = result["groups"]["marginal_ms_per_extra_face"]
        print("marginal cost per extra face: " + ("-" if marginal is None else f"{marginal:.1f} ms") +
              f" ({'whole-frame landmarker only' if args.single_landmarker else 'face search and followers'})")
        for check, ok in result["groups"]["checks"].items():
            print(f"  {check}: {verdict_text(ok)}")
    one_face = "" if groups else (f"; one-face target {verdict_text(result['target']['met'])} (" + ", ".join(
        f"{check}: {verdict_text(ok)}" for check, ok in result["target"]["checks"].items()) + ")")
    print(f"model: {loaded.meta.name} on {runtime}; peak memory {peak_mb:.0f} MB{one_face}")
    write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


def parse_face_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserInputError(f"--faces takes comma-separated counts such as 1,2,4,6; got {text!r}") from None
    if not counts or any(not 1 <= n <= 16 for n in counts):
        raise UserInputError(f"--faces counts must be between 1 and 16; got {text!r}")
    return counts
