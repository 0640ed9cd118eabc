"""Streaming the temporal model frame by frame: runtimes, carried state, windows, post-processing, tracks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from affectstream.core.temporal.inference import predict_sequence
from affectstream.core.labels import EXPRESSIONS
from affectstream.core.temporal import ModelConfig, MultiTaskModel, make_encoder_config
from affectstream.core.post.postprocess import PostOptions, TrackPostProcessor
from affectstream.core.temporal.runtime import OnnxRuntime, TorchRuntime, create_runtime
from affectstream.core.temporal.predictions import Predictions
from affectstream.core.temporal.streaming import StreamingTrack
from affectstream.core.post.tracks import PostBank
from affectstream.core.temporal.tracks import TrackBank, TrackOptions

D = 6
SEQ = 8  # a short segment so that a test crosses several
SMALL = {
    "gru": {"hidden_size": 12, "dropout": 0.0},
    "lstm": {"hidden_size": 12, "dropout": 0.0},
    "transformer": {"d_model": 12, "num_layers": 2, "num_heads": 2, "ff_dim": 16, "dropout": 0.0},
    "mlp": {"hidden_size": 12, "dropout": 0.0},
}


def tiny_model(kind: str, framework: str = "basic", seed: int = 0) -> MultiTaskModel:
    torch.manual_seed(seed)
    config = ModelConfig(input_dim=D, encoder=make_encoder_config(kind, **SMALL[kind]), framework=framework,
                         head_hidden=(10,), head_dropout=0.0)
    model = MultiTaskModel(config)
    # Non-trivial normalisation, so a runtime that skipped it would be caught.
    model.set_normalization(np.linspace(-1, 1, D), np.linspace(0.5, 2.0, D))
    return model.eval()


def features(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 2, (n, D)).astype(np.float32)


def stream(track: StreamingTrack, x: np.ndarray) -> dict[str, np.ndarray]:
    outs = [track.step(row) for row in x]
    return {"va": np.stack([o.va for o in outs]), "expr": np.stack([o.expr_probs for o in outs]),
            "au": np.stack([o.au_probs for o in outs])}


@pytest.mark.parametrize("kind,framework", [("gru", "feedback"), ("lstm", "share-bottom")])
@pytest.mark.parametrize("carry", [True, False])
def test_streaming_equals_offline_segments_with_carried_state(kind, framework, carry):
    model = tiny_model(kind, framework)
    x = features(3 * SEQ + 3)  # three full segments and part of a fourth
    offline = predict_sequence(model, x, SEQ, carry_state=carry)
    got = stream(StreamingTrack(TorchRuntime(model), SEQ, carry_state=carry), x)
    np.testing.assert_allclose(got["va"], offline.va, atol=1e-5)
    np.testing.assert_allclose(got["expr"], offline.expr_probs, atol=1e-5)
    np.testing.assert_allclose(got["au"], offline.au_probs, atol=1e-5)
    # The ablation really differs: without carry, the second segment starts from zero.
    other = predict_sequence(model, x, SEQ, carry_state=not carry)
    assert np.abs(other.va[SEQ:] - offline.va[SEQ:]).max() > 1e-3


@pytest.mark.parametrize("kind,framework", [("gru", "feedback"), ("lstm", "basic"), ("transformer", "share-bottom"),
                                            ("mlp", "basic")])
def test_onnxruntime_and_torch_agree_over_several_segments(kind, framework):
    pytest.importorskip("onnxruntime")
    model = tiny_model(kind, framework)
    x = features(3 * SEQ + 2, seed=4)
    frame_wise = kind == "mlp"
    torch_track = StreamingTrack(TorchRuntime(model), SEQ, frame_wise=frame_wise)
    onnx_track = StreamingTrack(OnnxRuntime(model), SEQ, frame_wise=frame_wise)
    for k, row in enumerate(x):
        a, b = torch_track.step(row), onnx_track.step(row)
        for name in ("va", "expr_probs", "au_probs"):
            np.testing.assert_allclose(getattr(b, name), getattr(a, name), atol=1e-5, err_msg=f"{name} frame {k}")
    state_t, state_o = torch_track.state, onnx_track.state
    assert sorted(state_t) == sorted(state_o) == sorted(model.state_keys)
    for key in state_t:
        np.testing.assert_allclose(state_o[key], state_t[key], atol=1e-5)
    if kind in ("gru", "lstm"):
        assert all(np.abs(v).max() > 1e-3 for v in state_t.values())  # a state was really carried


def test_auto_runtime_prefers_onnxruntime_and_falls_back_to_torch(monkeypatch):
    pytest.importorskip("onnxruntime")
    model = tiny_model("gru")
    choice = create_runtime(model, "auto")
    assert choice.runtime.name.startswith("onnxruntime") and choice.fallback_reason == ""
    import affectstream.core.temporal.runtime as runtime_module

    def broken(_model):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(runtime_module, "export_onnx", broken)
    fallback = create_runtime(model, "auto")
    assert fallback.runtime.name == "torch" and "exporter exploded" in fallback.fallback_reason
    with pytest.raises(runtime_module.RuntimeUnavailable, match="exporter exploded"):
        create_runtime(model, "onnx")


def test_transformer_window_is_the_last_seq_len_frames():
    model = tiny_model("transformer")
    x = features(2 * SEQ + 3, seed=2)
    got = stream(StreamingTrack(TorchRuntime(model), SEQ), x)
    offline = predict_sequence(model, x, SEQ)
    # At the end of each full segment the window is exactly that segment.
    for end in (SEQ - 1, 2 * SEQ - 1):
        np.testing.assert_allclose(got["va"][end], offline.va[end], atol=1e-5)
    # Elsewhere it is the sliding window ending at the frame, not the offline segment.
    k = 2 * SEQ + 2
    window = predict_sequence(model, x[k - SEQ + 1: k + 1], SEQ)
    np.testing.assert_allclose(got["va"][k], window.va[-1], atol=1e-5)
    assert np.abs(got["va"][k] - offline.va[k]).max() > 1e-4


def post_options(**changes) -> PostOptions:
    base = dict(au_thresholds=(0.5,) * 12, causal={"kind": "ema", "alpha": 0.5}, expr_alpha=0.5, au_hysteresis=0.2)
    return PostOptions(**{**base, **changes})


def output(va=(0.0, 0.0), expr=0, au=0.5) -> Predictions:
    probs = np.full(8, 0.02)
    probs[expr] = 1.0 - 0.02 * 7
    return Predictions(np.asarray(va, np.float32), probs.astype(np.float32), np.full(12, au, np.float32))


def test_au_hysteresis_does_not_flicker_at_the_threshold():
    post = TrackPostProcessor(post_options())
    # Hovering around 0.5 after turning on: stays on until below 0.4, then stays off until above 0.6.
    sequence = [0.45, 0.65, 0.52, 0.48, 0.41, 0.39, 0.5, 0.59, 0.61]
    states = [bool(post.step(output(au=p), t / 30).au_on[0]) for t, p in enumerate(sequence)]
    assert states == [False, True, True, True, True, False, False, False, True]
    plain = TrackPostProcessor(post_options(au_hysteresis=0.0))
    assert [bool(plain.step(output(au=p), t / 30).au_on[0]) for t, p in enumerate(sequence)] == \
        [p >= 0.5 for p in sequence]


def test_smoothing_of_va_and_expression():
    post = TrackPostProcessor(post_options())
    first = post.step(output(va=(1.0, -1.0), expr=4), 0.0)
    assert first.expression == "Happiness" and np.allclose(first.va, [1.0, -1.0])
    second = post.step(output(va=(0.0, 0.0), expr=5), 1 / 30)
    np.testing.assert_allclose(second.va, [0.5, -0.5], atol=1e-6)  # EMA alpha 0.5
    # One frame of Sadness after Happiness only evens the smoothed probabilities: no flip yet.
    assert second.expr_probs[4] == pytest.approx(second.expr_probs[5]) and second.expression == "Happiness"
    third = post.step(output(va=(0.0, 0.0), expr=5), 2 / 30)
    assert third.expression == "Sadness"
    raw = TrackPostProcessor(post_options(smoothing="none")).step(output(va=(0.3, 0.2), expr=6), 0.0)
    assert np.allclose(raw.va, [0.3, 0.2]) and raw.expression == EXPRESSIONS[6]


def test_bad_post_options_are_clear():
    with pytest.raises(ValueError, match="12 AU thresholds"):
        post_options(au_thresholds=(0.5,) * 3)
    with pytest.raises(ValueError, match="causal filter"):
        post_options(causal={"kind": "kalman"})
    with pytest.raises(ValueError, match="smoothing='centred' needs the frames after each one"):
        post_options(smoothing="centred")


def test_tracks_carry_state_until_timeout_then_start_fresh():
    model = tiny_model("gru")
    bank = TrackBank(TorchRuntime(model), TrackOptions(seq_len=SEQ, timeout_ms=500))
    x = features(6, seed=5)
    fresh = StreamingTrack(TorchRuntime(model), SEQ).step(x[3])
    steps = [bank.step(7, x[k], 33.0 * k) for k in range(3)]
    assert [s.frames for s in steps] == [1, 2, 3] and [s.fresh for s in steps] == [True, False, False]
    # A short gap (a few missed frames) keeps the state: frame 4 is the track's fourth.
    carried = bank.step(7, x[3], 33.0 * 2 + 400)
    assert carried.frames == 4 and np.abs(carried.raw.va - fresh.va).max() > 1e-4
    # A long gap: the face that returns starts fresh, with the same output as a new track.
    back = bank.step(7, x[3], 33.0 * 2 + 400 + 501)
    assert back.frames == 1 and back.fresh and bank.started == 2
    np.testing.assert_allclose(back.raw.va, fresh.va, atol=1e-6)
    # Expiry forgets unseen tracks.
    bank.step(8, x[0], 2000.0)
    assert bank.expire(2400.0) == [7] and bank.active == (8,)


def test_the_model_s_tracks_step_without_post_processing_and_post_follows_their_fresh_starts():
    """Stepping the model per track is the temporal layer's; post-processing per track only follows it."""
    import affectstream.core.temporal.tracks as temporal_tracks

    assert not hasattr(temporal_tracks, "TrackPostProcessor") and not hasattr(temporal_tracks, "PostOptions")
    post = PostBank(post_options())
    first = post.step(3, output(va=(1.0, 1.0)), 0.0, fresh=True)
    carried = post.step(3, output(va=(0.0, 0.0)), 1 / 30, fresh=False)
    np.testing.assert_allclose(carried.va, [0.5, 0.5], atol=1e-6)  # EMA 0.5 over the track's frames
    restarted = post.step(3, output(va=(0.0, 0.0)), 2 / 30, fresh=True)
    np.testing.assert_allclose(restarted.va, [0.0, 0.0], atol=1e-6)  # a fresh track forgets the smoothing
    assert np.allclose(first.va, [1.0, 1.0])
    post.step(4, output(va=(1.0, 1.0)), 0.0, fresh=False)  # an unknown track starts its own state
    post.forget([4])
    np.testing.assert_allclose(post.step(4, output(va=(-1.0, -1.0)), 0.1, fresh=False).va, [-1.0, -1.0])
