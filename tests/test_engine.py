"""The affect engine on real video, against the offline path; the live frame slot; bad cameras."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from affectstream.core.temporal.checkpoint import CheckpointError, load_checkpoint
from affectstream.core.engine import AffectEngine, EngineOptions, EnginePost, EngineRuntime
from affectstream.core.errors import UserInputError
from affectstream.core.features.store import FeatureStore
from affectstream.core.temporal.inference import predict_sequence
from affectstream.core.labels import EXPRESSIONS
from affectstream.core.sources.pacing import FrameSlot, LiveRun, open_camera, read_ahead, run_fast
from affectstream.core.sources.readers import Frame, FrameSource, SourceError, VideoFileSource
from tests.media import shared_file
from tests.engine_fixtures import SEQ_LEN, write_checkpoint


def test_engine_results_on_a_real_video(checkpoint):
    video = shared_file("videos", "single_face.mp4")
    with AffectEngine.from_checkpoint(checkpoint) as engine, VideoFileSource(video) as source:
        results = list(run_fast(engine.process, source))
        assert engine.runtime.name.startswith("onnxruntime")
    assert [r.frame_index for r in results] == list(range(1, 73))
    assert all(len(r.faces) == 1 and r.model == "tiny-test-gru" for r in results)
    faces = [r.faces[0] for r in results]
    assert {f.track_id for f in faces} == {0} and [f.track_frames for f in faces] == list(range(1, 73))
    for face in faces:
        x0, y0, x1, y1 = face.box
        assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 360 and face.landmarks.shape == (478, 3)
        assert face.expr_probs.sum() == pytest.approx(1.0, abs=1e-4)
        assert face.expression == EXPRESSIONS[int(np.argmax(face.expr_probs))]
        assert face.au_probs.shape == (12,) and face.au_on.dtype == bool
        assert -1 <= face.valence <= 1 and -1 <= face.arousal <= 1
    latency = np.array([[r.latency.faces, r.latency.model, r.latency.total] for r in results])
    assert (latency > 0).all() and (latency[:, 2] >= latency[:, 0] + latency[:, 1]).all()
    # Causal smoothing changes the values but follows them (EMA alpha 0.5 in this checkpoint).
    raw = np.array([f.valence_raw for f in faces])
    smooth = np.array([f.valence for f in faces])
    assert smooth[0] == pytest.approx(raw[0], abs=1e-6)
    np.testing.assert_allclose(smooth[1], 0.5 * raw[1] + 0.5 * smooth[0], atol=1e-5)
    assert np.std(raw) > 1e-4  # the outputs move with the face


def test_streaming_engine_equals_offline_segments_on_real_features(checkpoint, tmp_path):
    """extract -> store -> predict_sequence (offline, 20-frame segments, carried state) vs the engine."""
    from affectstream.jobs.extract import ExtractOptions, run_extraction
    from affectstream.core.sources.readers import find_sources

    video = shared_file("videos", "single_face.mp4")
    store_root = tmp_path / "features"
    reports = run_extraction(find_sources([video]), ExtractOptions(store_root, ("blendshapes",)),
                             show_progress=False)
    assert reports[0].status == "done"
    stored = FeatureStore(store_root).read("blendshapes", "single_face")
    assert stored.face_found.all()
    loaded = load_checkpoint(checkpoint)
    assert loaded.meta.seq_len == SEQ_LEN and len(stored.features) > 3 * SEQ_LEN
    offline = predict_sequence(loaded.model, stored.features, SEQ_LEN, carry_state=True)

    with AffectEngine(loaded, EngineOptions(EngineRuntime("onnx"), post=EnginePost(smoothing="none"))) as engine, \
            VideoFileSource(video) as source:
        faces = [r.faces[0] for r in run_fast(engine.process, source)]
    va = np.array([(f.valence_raw, f.arousal_raw) for f in faces])
    np.testing.assert_allclose(va, offline.va, atol=1e-4)
    np.testing.assert_allclose(np.array([f.au_probs for f in faces]), offline.au_probs, atol=1e-4)
    # smoothing none: the reported probabilities are the model's own.
    np.testing.assert_allclose(np.array([f.expr_probs for f in faces]), offline.expr_probs, atol=1e-4)
    # Without the carried state the later segments would differ: the comparison has teeth.
    reset = predict_sequence(loaded.model, stored.features, SEQ_LEN, carry_state=False)
    assert np.abs(reset.va[SEQ_LEN:] - offline.va[SEQ_LEN:]).max() > 1e-3


def test_engine_post_spells_smoothing_as_the_api_and_commands_do():
    assert EnginePost().smoothing == "causal" and EnginePost(smoothing="none").smoothing == "none"
    with pytest.raises(UserInputError, match="smoothing='centred' needs the frames after each one"):
        EnginePost(smoothing="centred")
    with pytest.raises(UserInputError, match="live smoothing must be one of causal, none, not 'off'"):
        EnginePost(smoothing="off")
    # The old flag still works, folded into the one spelling, and says it is deprecated.
    with pytest.warns(DeprecationWarning, match="smooth=.* is deprecated"):
        assert EnginePost(smooth=False) == EnginePost(smoothing="none")
    with pytest.warns(DeprecationWarning), pytest.raises(UserInputError, match="disagree"):
        EnginePost(smooth=True, smoothing="none")
    with pytest.raises(UserInputError, match="EngineOptions.post is an EnginePost, not str"):
        EngineOptions(post="none")


def test_stream_with_faces_found_ahead_equals_frame_by_frame_and_keeps_frames_before_an_error(checkpoint):
    video = shared_file("videos", "single_face.mp4")
    with AffectEngine.from_checkpoint(checkpoint) as engine:
        with VideoFileSource(video) as source:
            one_by_one = [engine.process(frame) for frame in source]
        engine.reset()
        with VideoFileSource(video) as source:
            streamed = list(engine.process_stream(read_ahead(source)))
        assert [r.frame_index for r in streamed] == [r.frame_index for r in one_by_one] == list(range(1, 73))
        for a, b in zip(streamed, one_by_one):
            assert len(a.faces) == len(b.faces) == 1 and a.faces[0].track_id == b.faces[0].track_id
            np.testing.assert_allclose(a.faces[0].landmarks, b.faces[0].landmarks, atol=1e-4)
            np.testing.assert_allclose([a.faces[0].valence, a.faces[0].arousal],
                                       [b.faces[0].valence, b.faces[0].arousal], atol=1e-5)
            np.testing.assert_allclose(a.faces[0].au_probs, b.faces[0].au_probs, atol=1e-5)
        engine.reset()

        def broken():  # the real video's first 10 frames, then a decoding error
            with VideoFileSource(video) as source:
                for frame in source:
                    if frame.number > 10:
                        raise SourceError("decoding failed after frame 10")
                    yield frame

        got = []
        with pytest.raises(SourceError, match="after frame 10"):
            for result in engine.process_stream(broken()):
                got.append(result.frame_index)
        assert got == list(range(1, 11))  # every frame before the error is a result
        engine.reset()
        with VideoFileSource(video) as source:
            stream = engine.process_stream(source)
            assert next(stream).frame_index == 1
            stream.close()  # left early: its faces thread is idle before the engine is reset
        engine.reset()
        assert engine.process(next(iter(VideoFileSource(video)))).success


def test_engine_refuses_a_checkpoint_whose_features_it_cannot_make(checkpoint, tmp_path):
    from affectstream.core.features.extractors import ExtractorChain

    other = write_checkpoint(tmp_path / "landmarks.safetensors", extractors=("landmarks",))
    with pytest.raises(CheckpointError, match=r"expects features \[landmarks"):
        AffectEngine(load_checkpoint(other), chain=ExtractorChain.from_names(["blendshapes"]))


# -- live ------------------------------------------------------------------------------

class _Ticker(FrameSource):
    """Synthetic frames at a fixed rate (timestamps only matter when paced)."""

    def __init__(self, count: int, fps: float, fail_after: int | None = None) -> None:
        self.name, self.count, self.fps, self.fail_after = "ticker", count, fps, fail_after

    def __iter__(self):
        for k in range(self.count):
            if self.fail_after is not None and k == self.fail_after:
                raise SourceError(f"ticker: decoding failed after frame {k}")
            yield Frame(np.zeros((4, 4, 3), np.uint8), k + 1, int(round(k * 1000 / self.fps)), self.name)


def test_live_run_drops_frames_instead_of_queueing():
    taken = []

    def slow(frame, captured_at):
        taken.append((frame.number, time.perf_counter() - captured_at))
        time.sleep(0.03)  # 3 frame periods at 100 fps
        return frame.number

    live = LiveRun(slow, _Ticker(60, fps=100.0), pace=True)
    results = list(live)
    counts = live.counts()
    assert counts.captured == 60 and counts.processed == len(results) == len(taken)
    assert counts.dropped == counts.captured - counts.processed and counts.dropped > 20
    # Always the newest frame, never a backlog: the wait before processing stays under about a frame
    # period plus scheduling noise, where a queue would grow to hundreds of ms.
    waits = np.array([w for _, w in taken])
    assert np.median(waits) < 0.02 and waits.max() < 0.1, waits
    assert [n for n, _ in taken] == sorted(n for n, _ in taken)


def test_live_run_processes_everything_when_fast_enough_and_raises_source_errors():
    live = LiveRun(lambda frame, captured_at: frame.number, _Ticker(15, fps=25.0), pace=True)
    assert list(live) == list(range(1, 16)) and live.counts().dropped == 0
    broken = LiveRun(lambda frame, captured_at: frame.number, _Ticker(20, fps=500.0, fail_after=5), pace=True)
    got = []
    with pytest.raises(SourceError, match="after frame 5"):
        for number in broken:
            got.append(number)
    assert got and got[-1] <= 5


def test_read_ahead_keeps_order_raises_errors_at_their_frame_and_stops_when_left():
    assert [f.number for f in read_ahead(_Ticker(30, fps=1000.0), depth=2)] == list(range(1, 31))
    got = []
    with pytest.raises(SourceError, match="after frame 7"):
        for frame in read_ahead(_Ticker(20, fps=1000.0, fail_after=7)):
            got.append(frame.number)
    assert got == list(range(1, 8))  # every frame before the error, none lost
    before = threading.active_count()
    frames = read_ahead(_Ticker(10_000, fps=1000.0), depth=2)
    assert next(frames).number == 1 and threading.active_count() == before + 1
    frames.close()  # the reader left early: the decoding thread ends
    assert threading.active_count() == before


def test_frame_slot_keeps_only_the_newest():
    slot = FrameSlot()
    frames = [Frame(np.zeros((2, 2, 3), np.uint8), k, k, "s") for k in (1, 2, 3)]
    for k, frame in enumerate(frames):
        slot.put(frame, float(k))
    assert slot.take()[0].number == 3 and slot.dropped == 2
    threading.Timer(0.05, slot.close).start()
    assert slot.take() is None  # closed and empty: the consumer stops instead of hanging


def test_camera_that_does_not_exist_is_a_clear_error():
    with pytest.raises(SourceError, match=r"webcam 97: cannot open the camera"):
        open_camera(97)
    with pytest.raises(UserInputError, match="non-negative"):
        open_camera(-1)
