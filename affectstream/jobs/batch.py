"""What every batch job over videos shares: names checked, reports in input order, and the worker
pool that `annotate` and `extract` run their videos in, and the imports their chunks of stills
(Ray: affectstream.jobs.cluster).

Each worker process sets up once (``setup(*args)``, a module-level function so
that it can be sent to a spawned process: it loads the landmarker, extractors
or engine) and returns the per-item function ``run(item, progress) -> report``;
whole items (a video, a chunk of stills) are then handed out one at a time, each
over its worker's own pipe. Progress (frames, stills) flows back the same way to
the caller's bar, and each report is handed to ``on_report`` as its item finishes
(in the parent: where results are written, so a batch stopped half-way keeps
them). A per-item failure is the job's own report, and an item whose worker
process died on it is a failed report (a new process takes its place and the
batch goes on); an exception in a worker, a worker that could not set up
(WorkerStartError) or Ctrl-C in the parent stops every worker. Workers leave
through Python on SIGTERM while they hold an item, so an atomic write in
progress removes its temporary file.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from affectstream.core.errors import UserInputError


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

    from affectstream.core.sources.readers import FOLDER_KINDS, SourceError, numbered_images

    total = 0
    for spec in specs:
        if spec.kind == "video":
            capture = cv2.VideoCapture(spec.location)
            count = capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0
            capture.release()
            total += int(count) if math.isfinite(count) and count > 0 else 0  # some containers say NaN
        elif spec.kind in FOLDER_KINDS:
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


def _worker_main(conn, setup: Callable[..., Callable], args: tuple) -> None:
    """A worker process: set up once, then run each video the parent sends over ``conn`` (None: stop)."""
    import signal

    busy = [False]

    def on_sigterm(*_) -> None:
        if busy[0]:
            sys.exit(143)  # unwind the video, so that its atomic write removes its temporary file
        # Idle or already leaving: nothing to clean up, and an exception raised inside the
        # interpreter's shutdown can leave the process hanging.
        os._exit(143)

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    run = set_up_or_refuse(setup, args, "a worker process")
    conn.send(("ready",))
    while (task := conn.recv()) is not None:
        index, spec = task
        busy[0] = True
        try:
            report = run(spec, lambda frames: conn.send(("progress", frames)))
        except Exception as exc:  # noqa: BLE001 - the parent raises it (WorkerStartError, or a bug)
            conn.send(("error", index, _sendable(exc)))
        else:
            conn.send(("done", index, report))
        finally:
            busy[0] = False


def _sendable(exc: Exception) -> Exception:
    """``exc`` if it survives pickling, else a RuntimeError that says what it was."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any pickling failure
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _how_it_ended(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        import signal

        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"


def _join_all(slots: Sequence["_Slot"], grace_s: float = 10.0) -> None:
    """Wait for every worker to end; one that has not within ``grace_s`` (stuck in native code on its
    way out) is killed, so that stopping never hangs."""
    for slot in slots:
        slot.process.join(grace_s)
        if slot.process.is_alive():
            slot.process.kill()
            slot.process.join()


@dataclass
class _Slot:
    """One worker process and what it holds: the parent hands each video to one process over that
    process's own pipe, so it always knows which video a process that died was on, and no lock is
    shared between workers (a worker killed while holding a shared queue's lock would stall the rest)."""

    process: Any
    conn: Any
    ready: bool = False
    holding: int | None = None  # index into todo
    closed: bool = False  # its end of the pipe is closed: it said all it will say

    def messages(self):
        """What it has said since the last call (everything, once it has ended)."""
        while not self.closed and self.conn.poll():
            try:
                yield self.conn.recv()
            except (EOFError, OSError):
                self.closed = True

    def end(self) -> str:
        """Reap the ended process; how it ended."""
        self.process.join()
        self.conn.close()
        return _how_it_ended(self.process.exitcode)


def run_in_workers(todo: Sequence[Any], setup: Callable[..., Callable], args: tuple, workers: int,
                   on_report: Callable[[Any], None], on_progress: Callable[[int], None],
                   failed: Callable[[Any, str], Any]) -> list[Any]:
    """Reports of every item of ``todo`` (videos, chunks of stills: anything a spawned process can be
    sent), in the order they finished. ``failed(item, why)`` makes the report of an item whose worker
    process died while on it (a crash, the out-of-memory killer); a new process takes its place and
    the batch goes on. Processes that keep dying before they are set
    up stop the batch (WorkerStartError), as does an exception a worker raises."""
    from collections import deque
    from multiprocessing.connection import wait

    # spawn, not fork: the parent may hold onnxruntime sessions, MediaPipe graphs and threads.
    context = multiprocessing.get_context("spawn")

    def start() -> _Slot:
        parent_end, child_end = context.Pipe()
        process = context.Process(target=_worker_main, args=(child_end, setup, args), daemon=True)
        process.start()
        child_end.close()
        return _Slot(process, parent_end)

    waiting = deque(range(len(todo)))
    reports: list[Any] = []
    slots: list[_Slot] = []
    died_in_set_up = 0  # one after another, without any process becoming ready in between

    def report(item: Any) -> None:
        reports.append(item)
        on_report(item)

    try:
        for _ in range(max(1, min(workers, len(todo)))):
            slots.append(start())
        while waiting or any(s.holding is not None for s in slots):
            for slot in slots:
                if slot.ready and slot.holding is None and waiting:
                    try:
                        slot.conn.send((waiting[0], todo[waiting[0]]))
                        slot.holding = waiting.popleft()
                    except OSError:  # it died: seen below, and the video goes to another
                        pass
            wait([s.conn for s in slots] + [s.process.sentinel for s in slots], timeout=1.0)
            for slot in list(slots):
                # Whether it had ended is asked first: then everything it said is in the pipe, read below.
                ended_before = not slot.process.is_alive()
                for message in slot.messages():
                    if message[0] == "ready":
                        slot.ready, died_in_set_up = True, 0
                    elif message[0] == "progress":
                        on_progress(message[1])
                    elif message[0] == "done":
                        slot.holding = None
                        report(message[2])
                    elif message[0] == "error":
                        raise message[2]
                if not (ended_before or slot.closed):
                    continue
                slots.remove(slot)
                ended = slot.end()
                if slot.holding is not None:
                    report(failed(todo[slot.holding], f"its worker process died while on it ({ended})"))
                elif not slot.ready:
                    died_in_set_up += 1
                    if died_in_set_up > workers:  # every new process dies alike: nothing would ever run
                        raise WorkerStartError(f"worker processes die while they set up ({ended})")
                if waiting:
                    slots.append(start())
        for slot in slots:
            with contextlib.suppress(OSError):  # one that died idle has nothing left to do
                slot.conn.send(None)
        _join_all(slots)
    except BaseException:
        for slot in slots:
            slot.process.terminate()
        _join_all(slots)
        raise
    finally:
        for slot in slots:
            slot.conn.close()
    return reports
