"""What every batch job over videos shares: names checked, reports in input order, and the worker
pool that `annotate` and `extract` run their videos in (Ray: affectstream.jobs.cluster).

Each worker process sets up once (``setup(*args)``, a module-level function so
that it can be sent to a spawned process: it loads the landmarker, extractors
or engine) and returns the per-video function ``run(spec, progress) -> report``;
whole videos are then handed out one at a time. Progress (frames) flows back
through a queue to the caller's bar, and each report is handed to ``on_report``
as its video finishes. A per-video failure is the job's own report, and a
video whose worker process died on it is a failed report (the pool starts a
new process and the batch goes on); an exception in a worker, a worker that
could not set up (WorkerStartError) or Ctrl-C in the parent terminates the
pool. Workers leave through Python on SIGTERM, so an atomic write in progress
removes its temporary file.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
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


def _init(setup: Callable[..., Callable], args: tuple, progress_queue, started) -> None:
    import signal

    # Said before set-up, and written at once (a SimpleQueue has no feeder thread): the parent
    # knows this process even if it dies in the next instant.
    started.put((None, os.getpid()))
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _WORKER["run"] = set_up_or_refuse(setup, args, "a worker process")
    _WORKER["queue"], _WORKER["started"] = progress_queue, started


def _on_sigterm(*_) -> None:
    if _WORKER.get("busy"):
        sys.exit(143)  # unwind the video, so that its atomic write removes its temporary file
    # Idle, or already leaving (the pool's stop sign and terminate() can cross): nothing to clean
    # up, and an exception raised inside the interpreter's shutdown can leave the process hanging.
    os._exit(143)


def _run(index: int, spec) -> Any:
    _WORKER["started"].put((index, os.getpid()))
    _WORKER["busy"] = True
    try:
        return _WORKER["run"](spec, _WORKER["queue"].put)
    finally:
        _WORKER["busy"] = False


def _how_it_ended(process) -> str:
    code = None if process is None else process.exitcode
    if code is None:
        return "no exit code seen"
    if code < 0:
        import signal

        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


class _DeathWatch:
    """Which pool processes died. A pool replaces a dead worker, but the video it held never gets
    a result: without this the batch would wait for it for ever."""

    def __init__(self) -> None:
        self._known: dict[int, Any] = {}  # pid -> its Process once seen alive (for the exit code), else None

    def add(self, pid: int) -> None:
        self._known.setdefault(pid, None)

    def dead(self) -> list[tuple[int, str]]:
        """(pid, how it ended) of every known process gone since the last call."""
        alive = {p.pid: p for p in multiprocessing.active_children()}
        for pid in self._known:
            self._known[pid] = alive.get(pid, self._known[pid])
        gone = [pid for pid in self._known if pid not in alive]
        return [(pid, _how_it_ended(self._known.pop(pid))) for pid in gone]


def run_in_workers(todo: Sequence[Any], setup: Callable[..., Callable], args: tuple, workers: int,
                   on_report: Callable[[Any], None], on_progress: Callable[[int], None],
                   failed: Callable[[Any, str], Any]) -> list[Any]:
    """Reports of every item of ``todo``, in the order they finished. ``failed(spec, why)`` makes the
    report of a video whose worker process died while on it (a crash, the out-of-memory killer);
    the pool starts a new process and the batch goes on."""
    # spawn, not fork: the parent may hold onnxruntime sessions, MediaPipe graphs and threads.
    context = multiprocessing.get_context("spawn")
    progress_queue, started = context.Queue(), context.SimpleQueue()
    reports: list[Any] = []
    pool = context.Pool(workers, initializer=_init, initargs=(setup, args, progress_queue, started))
    try:
        waiting = {index: pool.apply_async(_run, (index, item)) for index, item in enumerate(todo)}
        held_by: dict[int, int] = {}  # pid -> index of the video it took last
        watch, lost_in_set_up, lost_videos = _DeathWatch(), 0, 0

        def hear_who_started() -> None:
            while not started.empty():
                index, pid = started.get()
                watch.add(pid)
                if index is not None:
                    held_by[pid] = index

        while waiting:
            try:
                on_progress(progress_queue.get(timeout=0.2))
            except queue.Empty:
                pass
            hear_who_started()
            for index in [i for i, r in waiting.items() if r.ready()]:
                reports.append(waiting.pop(index).get())
                on_report(reports[-1])
            dead = watch.dead()
            if dead:  # what a process took just before it died is already in the pipe
                hear_who_started()
            for pid, ended in dead:
                index = held_by.pop(pid, None)
                if index is None:  # it died before taking any video
                    lost_in_set_up += 1
                    if lost_in_set_up > workers:  # every new process dies alike: nothing would ever run
                        raise WorkerStartError(f"worker processes die while they set up ({ended})")
                    continue
                if index in waiting:
                    waiting[index].wait(1.0)  # a result already on its way still counts
                if index in waiting and not waiting[index].ready():
                    waiting.pop(index)
                    lost_videos += 1
                    reports.append(failed(todo[index], f"its worker process died while on it ({ended})"))
                    on_report(reports[-1])
        while not progress_queue.empty():
            on_progress(progress_queue.get_nowait())
        if lost_videos:  # the pool still waits for the lost videos' results: closing it would never end
            pool.terminate()
        else:
            pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
    return reports
