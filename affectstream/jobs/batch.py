"""What every batch job over videos shares: names checked, reports in input order, and the worker
pool that `annotate` and `extract` run their videos in (Ray: affectstream.jobs.cluster).

Each worker process sets up once (``setup(*args)``, a module-level function so
that it can be sent to a spawned process: it loads the landmarker, extractors
or engine) and returns the per-video function ``run(spec, progress) -> report``;
whole videos are then handed out one at a time. Progress (frames) flows back
through a queue to the caller's bar, and each report is handed to ``on_report``
as its video finishes. A per-video failure is the job's own report; an
exception in a worker, a worker that could not set up (WorkerStartError) or
Ctrl-C in the parent terminates the pool. Workers leave through Python on
SIGTERM, so an atomic write in progress removes its temporary file.
"""

from __future__ import annotations

import math
import multiprocessing
import queue
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from affectstream.errors import UserInputError


def check_names(sources: Sequence[Any]) -> None:
    """Outputs are named after the video: two inputs with one name would overwrite each other."""
    names = [s.name for s in sources]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UserInputError(f"several inputs share a video name: {', '.join(duplicates)}")


def in_input_order(reports: Sequence[Any], sources: Sequence[Any]) -> list[Any]:
    """Reports (which finish in any order) in the order the inputs were given."""
    order = {s.name: i for i, s in enumerate(sources)}
    return sorted(reports, key=lambda r: order[r.name])


def frame_count_hint(specs: Sequence[Any]) -> int:
    """Roughly how many frames the sources hold (container counts, images in folders): for progress bars only."""
    import cv2

    from affectstream.sources.readers import SourceError, numbered_images

    total = 0
    for spec in specs:
        if spec.kind == "video":
            capture = cv2.VideoCapture(spec.location)
            count = capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0
            capture.release()
            total += int(count) if math.isfinite(count) and count > 0 else 0  # some containers say NaN
        elif spec.kind == "aligned":
            try:
                total += len(numbered_images(Path(spec.location)))
            except (SourceError, OSError):
                pass
    return total


class WorkerStartError(UserInputError):
    """A worker process could not set up (load its model, landmarker or extractors); the batch stops."""


def set_up_or_refuse(setup: Callable[..., Callable], args: tuple, worker: str) -> Callable:
    """The per-video function ``setup(*args)`` makes or, when it raises, one that refuses every video
    with the reason. A worker whose set-up raised would be restarted and fail alike for ever (the pool
    and Ray both restart it), and each video would fail without saying why."""
    try:
        return setup(*args)
    except Exception as exc:  # noqa: BLE001 - handed to the caller with the first video
        reason = f"{worker} could not start: {type(exc).__name__}: {exc}"

        def refuse(spec, progress) -> Any:
            raise WorkerStartError(reason)

        return refuse


# The per-video function of this worker process (set by _init, only ever in workers).
_WORKER: dict = {}


def _init(setup: Callable[..., Callable], args: tuple, progress_queue) -> None:
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _WORKER["run"], _WORKER["queue"] = set_up_or_refuse(setup, args, "a worker process"), progress_queue


def _run(spec) -> Any:
    return _WORKER["run"](spec, _WORKER["queue"].put)


def run_in_workers(todo: Sequence[Any], setup: Callable[..., Callable], args: tuple, workers: int,
                   on_report: Callable[[Any], None], on_progress: Callable[[int], None]) -> list[Any]:
    """Reports of every item of ``todo``, in the order they finished."""
    # spawn, not fork: the parent may hold onnxruntime sessions, MediaPipe graphs and threads.
    context = multiprocessing.get_context("spawn")
    progress_queue = context.Queue()
    reports: list[Any] = []
    pool = context.Pool(workers, initializer=_init, initargs=(setup, args, progress_queue))
    try:
        waiting = [pool.apply_async(_run, (item,)) for item in todo]
        while waiting:
            try:
                on_progress(progress_queue.get(timeout=0.2))
            except queue.Empty:
                pass
            for result in [r for r in waiting if r.ready()]:
                waiting.remove(result)
                reports.append(result.get())
                on_report(reports[-1])
        while not progress_queue.empty():
            on_progress(progress_queue.get_nowait())
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
    return reports
