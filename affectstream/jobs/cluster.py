"""Running a batch job's videos on a Ray cluster: the same per-video function as the local pool.

Ray is the engine here; nothing is scheduled by hand beyond handing each free
worker the next video. One long-lived actor per CPU slot of the cluster sets up
once (``setup(*args)``: it loads the engine or the extractors) and then takes
whole videos. Outputs go where the job writes them (``--out``, a folder every
node must see), with the job's own atomic writes and done markers. An actor
that dies is restarted by Ray and its video retried (``retries`` times); a
video that still fails is a failed report saying why, a fresh actor takes the
slot of the one that used up its restarts, and the batch goes on. A
worker that cannot set up stops the batch with the reason (WorkerStartError), as
in the local pool: every other worker would fail the same way.

Ray is an optional extra: ``pip install affectstream[cluster]``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Callable, Sequence

from affectstream.core.errors import UserInputError
from affectstream.jobs.batch import WorkerStartError, set_up_or_refuse


class _Worker:
    """One CPU slot: the job's per-video function, set up once."""

    def __init__(self, setup: Callable[..., Callable], args: tuple) -> None:
        self._run = set_up_or_refuse(setup, args, "a Ray worker")

    def ready(self) -> bool:
        """Answered once set-up is done (an actor runs its calls in order): proof that it can set up."""
        return True

    def run(self, spec) -> Any:
        return self._run(spec, lambda frames: None)


def absolute_locations(todo: Sequence[Any]) -> list[Any]:
    """Workers run elsewhere, in other folders: every source path they get is absolute."""
    from dataclasses import replace

    from affectstream.core.sources.readers import PATH_KINDS

    return [replace(spec, location=absolute_path(spec.location)) if spec.kind in PATH_KINDS
            else spec for spec in todo]


def absolute_path(path: str | os.PathLike | None) -> str | None:
    """``path`` as the same file seen from any working folder (None stays None)."""
    return None if path is None else str(Path(path).expanduser().resolve())


def absolute_model_files(extractor_options: dict[str, dict]) -> dict[str, dict]:
    """Extractor overrides whose model files (``model``) are absolute paths: a worker's working
    folder is Ray's, not the caller's, so a relative one would name another file or none."""
    return {name: {**given, "model": absolute_path(given["model"])} if given.get("model") is not None else given
            for name, given in extractor_options.items()}


def was_set_up(ray, proof) -> bool:
    """Whether an actor's ready() call came back: its set-up ran to the end at least once."""
    done, _ = ray.wait([proof], timeout=0)
    if not done:
        return False
    try:
        return bool(ray.get(done[0]))
    except ray.exceptions.RayError:
        return False


def run_on_ray(todo: Sequence[Any], setup: Callable[..., Callable], args: tuple, address: str,
               on_report: Callable[[Any], None], on_progress: Callable[[int], None],
               failed: Callable[[Any, str], Any], retries: int = 2) -> list[Any]:
    """Reports of every item of ``todo`` in the order they finished, as ``run_in_workers`` gives them;
    progress comes as each video's frames when it finishes. ``failed(spec, why)`` makes the report of
    a video whose worker died more than ``retries`` times. Sources go to the workers as absolute paths."""
    try:
        import ray
    except ImportError:
        raise UserInputError("--ray needs Ray: pip install 'affectstream[cluster]'") from None
    started_here = not ray.is_initialized()
    actors: list = []
    if started_here:
        try:
            ray.init(address=address, log_to_driver=False, logging_level="ERROR")
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UserInputError(f"cannot reach the Ray cluster at {address!r} ({exc})") from None
    try:
        slots = max(int(ray.cluster_resources().get("CPU", 1)), 1)
        worker = ray.remote(num_cpus=1, max_restarts=retries, max_task_retries=retries)(_Worker)
        proofs: dict = {}  # actor -> the reference of its ready() call

        def new_actor():
            actor = worker.remote(setup, args)
            proofs[actor] = actor.ready.remote()
            actors.append(actor)
            return actor

        for _ in range(min(slots, len(todo))):
            new_actor()
        waiting = absolute_locations(todo)
        running: dict = {}  # object ref -> (actor, spec)
        died_in_set_up, width = 0, len(actors)  # actors in a row that died before they were ever set up

        def hand_out(actor) -> None:
            if waiting:
                spec = waiting.pop(0)
                running[actor.run.remote(spec)] = (actor, spec)

        for actor in actors:
            hand_out(actor)
        reports = []
        while running:
            (ref,), _ = ray.wait(list(running), num_returns=1)
            actor, spec = running.pop(ref)
            try:
                report = ray.get(ref)
                died_in_set_up = 0
            except ray.exceptions.RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                if isinstance(cause, WorkerStartError):  # every worker would fail alike: stop with the reason
                    raise WorkerStartError(str(cause)) from None
                report = failed(spec, f"its worker raised {type(cause or exc).__name__}: {cause or exc}")
            except ray.exceptions.ObjectLostError as exc:  # the video's result was lost, not its worker
                report = failed(spec, f"its result was lost ({type(exc).__name__}: {exc})")
            except ray.exceptions.RayError as exc:  # the worker died (or cannot run) more often than Ray retries
                report = failed(spec, f"its worker failed {retries + 1} times ({type(exc).__name__})")
                died_in_set_up = 0 if was_set_up(ray, proofs.pop(actor)) else died_in_set_up + 1
                if died_in_set_up > width:  # every new worker dies alike: nothing would ever run
                    raise WorkerStartError(f"Ray workers keep dying before they are set up ({type(exc).__name__}: "
                                           f"{exc})") from None
                # That actor has used up its restarts: handed the next video it would fail it at once,
                # and every later one, so a fresh actor takes its slot (when there is work left for it).
                ray.kill(actor, no_restart=True)
                actors.remove(actor)
                actor = new_actor() if waiting else None
            reports.append(report)
            on_progress(report.frames)
            on_report(report)
            if actor is not None:
                hand_out(actor)
        return reports
    finally:
        if started_here:
            ray.shutdown()
        else:  # the caller's Ray session goes on: the workers made here go
            for actor in actors:
                with contextlib.suppress(Exception):  # one that cannot be killed must not hide the rest
                    ray.kill(actor, no_restart=True)
