"""One pass of a whole video through the engine: the loop `annotate`, review mode and the API share.

Decoding runs a few frames ahead on a thread and the next frame's faces are
found while this one's features and model run (AffectEngine.process_stream), so
both cores work. A source that breaks part-way ends the pass with its message;
the frames before it were handed on. The stream is closed (its faces thread
idle) before the engine is reset, so nothing runs on a closed landmarker.
"""

from __future__ import annotations

import time
from contextlib import closing
from dataclasses import dataclass
from typing import Callable

from affectstream.core.results.types import FrameAffect
from affectstream.core.sources.pacing import read_ahead
from affectstream.core.sources.readers import FrameSource, SourceError


@dataclass(frozen=True)
class VideoPass:
    frames: int  # results handed on
    problem: str = ""  # why the source stopped early ("" when it was read to its end)
    stopped: bool = False  # ``stop`` asked for it
    seconds: float = 0.0  # analysing the frames, without the engine's start-up


def run_video(engine, source: FrameSource, on_result: Callable[[FrameAffect], None],
              stop: Callable[[], bool] = lambda: False) -> VideoPass:
    """Every frame of ``source`` through ``engine``, each result handed to ``on_result`` in order."""
    engine.reset()
    engine.warm_up()  # the landmarker's start-up is not part of the video's time
    frames, began = 0, time.perf_counter()
    took = lambda: time.perf_counter() - began  # noqa: E731
    try:
        prealigned = bool(getattr(source, "aligned", False))
        with closing(engine.process_stream(read_ahead(source), prealigned=prealigned)) as results:
            for result in results:
                if stop():
                    return VideoPass(frames, stopped=True, seconds=took())
                on_result(result)
                frames += 1
    except SourceError as exc:
        return VideoPass(frames, str(exc), seconds=took())
    finally:
        engine.reset()
    return VideoPass(frames, seconds=took())
