"""`affectstream bench gui`: what the desktop app costs on top of the engine, and whether it leaks.

The main window plays a video in a loop (paced at its own frame rate, as a
camera would) for ``--minutes``, offscreen unless a display is set. Measured:

* GUI cost per analysed frame: the GUI thread's whole CPU time
  (time.thread_time: the app's slots, Qt's painting, event handling; the
  target is judged on this), and within it the time spent in the app's slots
  turning results into widgets (perf_counter around them), both divided by the
  results analysed;
* plot refresh rate: timer-driven plot redraws per second while frames stream;
* memory: resident set size sampled every ``--sample-s`` seconds; growth from
  the end of the first minute to the end, and the least-squares slope over that
  span: judged only where that span is a minute or more (``--minutes 2`` and
  up) with 3 samples in it, else "not measured";
* the engine's own time per frame alone (every frame, no GUI) and inside the
  app, for reference.

Targets: GUI <= 5 ms per frame, plots >= 20 Hz, memory flat (growth <= 20 MB,
slope <= 2 MB/min). Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections import deque
from pathlib import Path

import numpy as np

from affectstream.core.atomic import write_text_atomic
from affectstream.bench.outputs import require_own_output
from affectstream.core.argtypes import number_up_to
from affectstream.bench.memory import rss_mb
from affectstream.bench.verdict import NOT_MEASURED, Verdict, all_met, at_least, at_most
from affectstream.core.errors import UserInputError

SHARED_VIDEO = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "videos" / "single_face.mp4"
TARGET_GUI_MS, TARGET_REFRESH_HZ, TARGET_GROWTH_MB, TARGET_SLOPE_MB_PER_MIN = 5.0, 20.0, 20.0, 2.0
STAGES = ("faces", "features", "model", "post")
# Qt's timers take milliseconds as a 32-bit int (about 24 days): the run is capped well inside it, at a day.
MAX_MINUTES = 24 * 60.0
MIN_SAMPLE_S, MAX_SAMPLE_S = 0.1, 3600.0  # a finer timer would busy the GUI thread the benchmark times
# Memory is judged from the end of the first minute, as in bench soak, but not by soak's rule (the largest rise
# from that sample to any later one, which needs one later sample): here the last sample minus the first from
# WARM_S on, and the slope over them, on MIN_TREND_SAMPLES or more samples the last of which is MIN_TREND_S past
# WARM_S (so a run of --minutes 2 or more, sampled at least 3 times after its first minute).
WARM_S, MIN_TREND_S, MIN_TREND_SAMPLES = 60.0, 60.0, 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", nargs="?", type=Path, default=SHARED_VIDEO,
                        help="video to loop (default: %(default)s)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="model (default: the shipped one if present, else an untrained GRU of the paper's size)")
    parser.add_argument("--minutes", type=number_up_to(MAX_MINUTES), default=10.0,
                        help=f"how long to loop the video, at most {MAX_MINUTES:g}; memory is judged only on runs "
                             "of 2 minutes or more (default: 10)")
    parser.add_argument("--sample-s", type=number_up_to(MAX_SAMPLE_S, MIN_SAMPLE_S, above_least=False), default=5.0,
                        help=f"seconds between memory samples, {MIN_SAMPLE_S:g} to {MAX_SAMPLE_S:g} (default: 5)")
    parser.add_argument("--out", type=Path, default=Path("bench-results/gui.json"))


def choose_checkpoint(path: Path | None, folder: Path) -> tuple[Path, str]:
    """The model to run and how it was chosen."""
    if path is not None:
        return path, "given"
    from affectstream.core.default_model import resolve_model

    try:
        return resolve_model(None), "shipped default"
    except UserInputError:
        from affectstream.core.temporal.checkpoint import save_checkpoint
        from affectstream.bench.live import untrained_model

        loaded = untrained_model(["blendshapes", "landmarks"], 1024)
        return save_checkpoint(folder / "untrained.safetensors", loaded.model, loaded.meta), "untrained GRU-1024"


def engine_alone_ms(checkpoint: Path, video: Path) -> float:
    """Median engine time per frame (sum of stages) over every frame of the video, no GUI."""
    from affectstream.core.engine import AffectEngine
    from affectstream.core.sources.pacing import run_fast
    from affectstream.core.sources.readers import VideoFileSource

    with AffectEngine.from_checkpoint(checkpoint) as engine, VideoFileSource(video) as source:
        engine.warm_up()
        results = list(run_fast(engine.process, source))
    return float(np.median([sum(getattr(r.latency, s) for s in STAGES) for r in results[5:] or results]))


def memory_trend(samples: list[tuple[float, float]]) -> dict:
    """Growth (the last sample minus the first) and least-squares slope of RSS over the samples from WARM_S on
    (loading and first frames are not growth); not bench soak's largest rise over any later sample. None figures
    (not measured) unless MIN_TREND_SAMPLES samples come from WARM_S on and the last is MIN_TREND_S past it: a
    slope from seconds of samples extrapolates noise to a minute."""
    kept = [(t, m) for t, m in samples if t >= WARM_S]
    if len(kept) < MIN_TREND_SAMPLES or kept[-1][0] - WARM_S < MIN_TREND_S:
        return {"from_s": WARM_S, "start_mb": None, "end_mb": None, "growth_mb": None, "slope_mb_per_min": None}
    t, m = np.array(kept).T
    slope = float(np.polyfit(t / 60.0, m, 1)[0])
    return {"from_s": WARM_S, "start_mb": float(m[0]), "end_mb": float(m[-1]), "growth_mb": float(m[-1] - m[0]),
            "slope_mb_per_min": slope}


def judge(figures: dict, memory: dict) -> dict[str, Verdict]:
    """Each target's verdict; the memory one is None (not measured) where memory_trend has no figures."""
    return {
        # Judged on everything the GUI thread spends per frame, Qt's painting included; the app's own
        # slots are a part of it.
        "gui_thread_cpu_ms_per_frame": at_most(figures["gui_thread_cpu_ms_per_frame"], TARGET_GUI_MS),
        "gui_slots_ms_per_frame": at_most(figures["gui_slots_ms_per_frame"], TARGET_GUI_MS),
        "plot_refresh_hz": at_least(figures["plot_refresh_hz"], TARGET_REFRESH_HZ),
        "memory_flat": all_met([at_most(memory["growth_mb"], TARGET_GROWTH_MB),
                                at_most(memory["slope_mb_per_min"], TARGET_SLOPE_MB_PER_MIN)]),
    }


def met_text(verdict: Verdict) -> str:
    return NOT_MEASURED if verdict is None else ("yes" if verdict else "NO")


def run(args: argparse.Namespace) -> int:
    if not args.video.is_file():
        raise UserInputError(f"{args.video}: no such video")
    from affectstream.core.atomic import check_inputs_kept, written_file

    check_inputs_kept({"video": args.video, "--checkpoint": args.checkpoint}, [written_file("--out", args.out)])
    require_own_output(args.out, "gui")  # before the run, not after it; and only over its own output
    if "QT_QPA_PLATFORM" not in os.environ and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from affectstream.app.devices import CudaStatus
    from affectstream.app.main_window import MainWindow
    from affectstream.app.settings import AppSettings, open_store, save_settings
    from affectstream.app.stop_signals import close_on_stop_signals

    with tempfile.TemporaryDirectory(prefix="affectstream-bench-gui-") as tmp:
        checkpoint, model_kind = choose_checkpoint(args.checkpoint, Path(tmp))
        print(f"engine alone on {args.video.name} ({model_kind} model)…")
        alone_ms = engine_alone_ms(checkpoint, args.video)

        app = QApplication.instance() or QApplication(["affectstream-bench-gui"])
        store = open_store(Path(tmp) / "settings.ini")  # not the user's settings
        unsaved = save_settings(store, AppSettings(model_path=str(checkpoint), loop_video=True))
        if unsaved:  # the window would run another model than the one named
            raise UserInputError(unsaved)
        window = MainWindow(store, cameras=[], cuda=CudaStatus(False, "benchmark on CPU"))
        window.resize(1500, 900)
        window.show()
        live = window.live
        engine_ms: deque[float] = deque(maxlen=5000)
        add_to_history = live.history.add

        def observed_add(result) -> None:  # the engine's own time per frame, inside the app
            engine_ms.append(sum(getattr(result.latency, s) for s in STAGES))
            add_to_history(result)

        live.history.add = observed_add
        total_s = args.minutes * 60.0
        state: dict = {"samples": [], "marks": None}
        sampler = QTimer()

        def mark() -> dict:
            timings = live.timings
            return {"wall": time.perf_counter(), "gui_cpu": time.thread_time(), "results": timings.results,
                    "frame_s": timings.frame_s, "frames": timings.frames, "refresh_s": timings.refresh_s,
                    "refreshes": timings.refreshes}

        def sample() -> None:
            elapsed = time.perf_counter() - state["started"]
            state["samples"].append((elapsed, rss_mb()))
            if state["marks"] is None and live.timings.results >= 30:
                state["marks"] = mark()  # figures start after the engine and the first frames are in

        def finish() -> None:
            sampler.stop()
            sample()  # the last one while frames still stream
            state["end"] = mark()
            app.quit()

        platform_name = os.environ.get("QT_QPA_PLATFORM", "default")
        print(f"looping it in the app for {args.minutes:g} min (QT_QPA_PLATFORM={platform_name})…")
        window.start(str(args.video))
        state["started"] = time.perf_counter()
        sampler.timeout.connect(sample)
        sampler.start(int(args.sample_s * 1000))
        QTimer.singleShot(2000, sample)
        QTimer.singleShot(int(total_s * 1000), finish)
        with close_on_stop_signals(window.close) as caught:  # Ctrl-C and SIGTERM end the run, writing nothing
            app.exec()
        messages = list(window.messages)
        window.close()
    if caught:
        raise KeyboardInterrupt  # the command's own way out: "interrupted", exit 130

    start, end = state["marks"], state.get("end")
    if start is None or end is None or end["results"] <= start["results"]:
        raise UserInputError(f"no frames reached the window; messages: {messages}")
    results = end["results"] - start["results"]
    wall = end["wall"] - start["wall"]
    gui_cpu_ms = (end["gui_cpu"] - start["gui_cpu"]) * 1000.0 / results
    slots_ms = ((end["frame_s"] - start["frame_s"]) + (end["refresh_s"] - start["refresh_s"])) * 1000.0 / results
    refreshes = end["refreshes"] - start["refreshes"]
    frames_shown = end["frames"] - start["frames"]
    memory = memory_trend(state["samples"])
    figures = {
        "gui_thread_cpu_ms_per_frame": gui_cpu_ms,
        "gui_slots_ms_per_frame": slots_ms,
        "frame_slot_ms": (end["frame_s"] - start["frame_s"]) * 1000.0 / max(frames_shown, 1),
        "refresh_ms": (end["refresh_s"] - start["refresh_s"]) * 1000.0 / max(refreshes, 1),
        "plot_refresh_hz": refreshes / wall,
        "frames_per_s_analysed": results / wall,
        "frames_per_s_shown": frames_shown / wall,
        "engine_ms_per_frame_alone": alone_ms,
        "engine_ms_per_frame_in_app": float(np.median(engine_ms)) if engine_ms else None,
    }
    targets = {
        "gui_ms_per_frame_max": TARGET_GUI_MS, "plot_refresh_hz_min": TARGET_REFRESH_HZ,
        "memory_growth_mb_max": TARGET_GROWTH_MB, "memory_slope_mb_per_min_max": TARGET_SLOPE_MB_PER_MIN,
    }
    met = judge(figures, memory)
    result = {
        "bench": "gui", "video": str(args.video), "model": model_kind, "minutes": args.minutes,
        "qt_platform": os.environ.get("QT_QPA_PLATFORM", "default"), "figures": figures,
        "memory": memory | {"samples_s_mb": [(round(t, 1), round(m, 1)) for t, m in state["samples"]]},
        "targets": targets, "met": met, "messages": messages[-5:],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average": os.getloadavg()},
    }
    fmt = lambda v, d=1: "-" if v is None else f"{v:.{d}f}"  # noqa: E731
    rows = [  # the last column: the verdict's text, empty where a row has no target of its own
        ("GUI thread CPU per frame, painting included (ms)", fmt(gui_cpu_ms, 2), f"<= {TARGET_GUI_MS:g}",
         met_text(met["gui_thread_cpu_ms_per_frame"])),
        ("  of which in the app's slots (ms)", fmt(slots_ms, 2), "", ""),
        ("plot refresh rate (Hz)", fmt(figures["plot_refresh_hz"]), f">= {TARGET_REFRESH_HZ:g}",
         met_text(met["plot_refresh_hz"])),
        (f"memory growth after {memory['from_s']:.0f} s (MB)", fmt(memory["growth_mb"]), f"<= {TARGET_GROWTH_MB:g}",
         met_text(met["memory_flat"])),
        ("memory slope (MB/min)", fmt(memory["slope_mb_per_min"], 2), f"<= {TARGET_SLOPE_MB_PER_MIN:g}", ""),
        ("frames/s analysed / shown", f"{figures['frames_per_s_analysed']:.1f} / {figures['frames_per_s_shown']:.1f}",
         "", ""),
        ("engine ms/frame alone / in the app", f"{fmt(alone_ms)} / {fmt(figures['engine_ms_per_frame_in_app'])}", "",
         ""),
    ]
    print(f"{'':50}{'value':>14}{'target':>10}  met")
    for name, value, target, verdict in rows:
        print(f"{name:<50}{value:>14}{target:>10}  {verdict}")
    if memory["growth_mb"] is None:
        print(f"memory not measured: it is judged from {WARM_S:g} s on, on {MIN_TREND_SAMPLES} or more samples over "
              f"at least {MIN_TREND_S:g} s (--minutes 2 or more, --sample-s {MIN_TREND_S / MIN_TREND_SAMPLES:g} or less)")
    write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0
