"""The Python API under bad input and failures: a refused or failed frame leaves the stream as it was, and
wrong argument types or values are named before any model loads."""

from __future__ import annotations

import numpy as np
import pytest

import affectstream
from affectstream.core.errors import UserInputError
from tests.media import decode_frames, shared_file


@pytest.fixture(scope="module")
def frame():
    return decode_frames(shared_file("videos", "single_face.mp4"))[0]


def columns(result, *names):
    """Columns of a processed frame's table (Analyzer.process gives typed faces; to_frame the rows)."""
    return result.to_frame()[list(names)].values.tolist()


def test_a_one_pixel_frame_is_a_frame_without_a_face_and_the_stream_goes_on(frame):
    with affectstream.Analyzer() as analyzer:
        assert columns(analyzer.process(np.zeros((1, 1, 3), np.uint8)), "frame", "timestamp_ms", "success") == \
            [[1, 0, 0]]
        assert columns(analyzer.process(frame), "frame", "timestamp_ms", "success") == [[2, 33, 1]]


def test_a_frame_that_fails_inside_the_engine_leaves_the_stream_as_it_was(frame, monkeypatch):
    """The face stage had taken the failed frame's time: the next frame, at that same default time, is
    analysed as if the failed one had never been given."""
    with affectstream.Analyzer() as analyzer:
        analyzer.process(frame)
        chain = analyzer._engine.chain  # a fault injected behind the public surface
        real = chain.features_of
        failures = [RuntimeError("disk went away")]

        def fail_once(*args, **kwargs):
            if failures:
                raise failures.pop()
            return real(*args, **kwargs)

        monkeypatch.setattr(chain, "features_of", fail_once)
        with pytest.raises(RuntimeError, match="disk went away"):
            analyzer.process(frame)
        assert columns(analyzer.process(frame), "frame", "timestamp_ms", "success") == [[2, 33, 1]]
        assert columns(analyzer.process(frame, timestamp_ms=1000), "frame", "success") == [[3, 1]]


def test_timestamps_beyond_what_the_face_stage_counts_are_refused_plainly(frame):
    with affectstream.Analyzer() as analyzer:
        for bad in (9.3e15, 1e300, 10**30, float("inf"), -1):
            with pytest.raises(UserInputError, match="timestamp_ms must be a number of milliseconds from 0 to"):
                analyzer.process(frame, timestamp_ms=bad)
        unix_ms = 1_796_000_000_000  # a Unix time in milliseconds is a fine timestamp
        assert columns(analyzer.process(frame, timestamp_ms=unix_ms), "frame", "timestamp_ms") == [[1, unix_ms]]


def test_wrong_model_flag_and_runtime_arguments_are_named_before_a_model_loads(monkeypatch):
    import affectstream.core.default_model as default_model

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(default_model, "resolve_model", no_model)
    image = shared_file("images", "single_face.jpg")
    with pytest.raises(UserInputError, match="model is a path .*not int"):
        affectstream.analyze(image, model=3)
    with pytest.raises(UserInputError, match="model is a path .*not int"):
        affectstream.Analyzer(model=3)
    with pytest.raises(UserInputError, match="whole_frames is True or False, not 'false'"):
        affectstream.analyze(image, whole_frames="false")
    with pytest.raises(UserInputError, match="progress is True or False"):
        affectstream.analyze(image, progress="yes")
    with pytest.raises(UserInputError, match="unknown runtime 'gpu'"):
        affectstream.analyze(image, runtime="gpu")
    with pytest.raises(UserInputError, match="unknown runtime 'gpu'"):
        affectstream.Analyzer(runtime="gpu")


def test_a_folder_frame_rate_is_a_number_not_a_flag_text_or_a_giant(monkeypatch):
    """folder_fps=True ran at 1 frame/s, "25" and b"25" were taken, 10**400 overflowed."""
    import affectstream.core.default_model as default_model

    monkeypatch.setattr(default_model, "resolve_model", lambda *a: pytest.fail("the model loaded first"))
    folder = shared_file("afew-va", "001")
    for bad in (True, "25", b"25"):
        with pytest.raises(UserInputError, match="frame rate of image folders is a number of frames/s"):
            affectstream.analyze(folder, whole_frames=True, folder_fps=bad)
    with pytest.raises(UserInputError, match="not a number of 401 digits"):
        affectstream.analyze(folder, whole_frames=True, folder_fps=10**400)


def test_a_timestamp_of_a_narrow_numpy_type_is_bounded_as_its_value(frame):
    """np.float16('inf') passed the bound (1e15 as a float16 is inf) and overflowed later."""
    with affectstream.Analyzer() as analyzer:
        with pytest.raises(UserInputError, match="timestamp_ms must be a number of milliseconds"):
            analyzer.process(frame, timestamp_ms=np.float16("inf"))
        assert columns(analyzer.process(frame, timestamp_ms=np.float16(8)), "timestamp_ms") == [[8]]
