"""Runtimes for the temporal multi-task model: onnxruntime first, torch as the fallback.

Both run the same graph: raw features (B, T, D) and the carried state in, valence/
arousal, expression and AU *probabilities* and the new state out (softmax and
sigmoid are inside, so the two runtimes return the same quantities). The ONNX graph
is exported from the loaded model in memory when the runtime is made, so a
checkpoint is the only file to ship. onnxruntime uses CUDA when the
``onnxruntime-gpu`` build offers it, else the CPU.

One runtime serves every face track: the state lives with each track, not here.
``run`` takes one track's frames; ``run_batch`` one frame (or several) of several
tracks at once, their states stacked along the batch axis (one call per video
frame for a group of faces).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn

from affectstream.core.errors import UserInputError
from affectstream.core.temporal.predictions import Predictions
from affectstream.core.onnx_providers import RuntimeUnavailable, choose_providers
from affectstream.core.temporal.multitask import MultiTaskModel

RUNTIME_KINDS = ("auto", "onnx", "torch")
OPSET = 17
INPUT = "x"
OUTPUTS = ("va", "expr_probs", "au_probs")
STATE_IN = "state_in."
STATE_OUT = "state_out."


@dataclass(frozen=True)
class StepOutput(Predictions):
    """The predictions of one run over T frames, (T, ...), or of a batch of tracks, (B, T, ...), and
    the state after the last frame."""

    state: dict[str, np.ndarray]  # each (layers, 1, H), or (layers, B, H) from run_batch; {} without memory


class TemporalRuntime(Protocol):
    name: str  # e.g. "onnxruntime (CPUExecutionProvider)" or "torch"
    state_keys: tuple[str, ...]
    is_recurrent: bool

    def init_state(self) -> dict[str, np.ndarray]: ...

    def run(self, x: np.ndarray, state: dict[str, np.ndarray]) -> StepOutput: ...

    def run_batch(self, x: np.ndarray, state: dict[str, np.ndarray]) -> StepOutput: ...


class _ProbabilityGraph(nn.Module):
    """The model with flat tensors in and out and probabilities as outputs (an ONNX graph needs both)."""

    def __init__(self, model: MultiTaskModel) -> None:
        super().__init__()
        self.model = model
        self.keys = model.state_keys

    def forward(self, x: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(x, dict(zip(self.keys, state)))
        return (out.va, torch.softmax(out.expr, dim=-1), torch.sigmoid(out.au),
                *[out.state[k] for k in self.keys])


def _check_input(x: np.ndarray, dim: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != dim or x.shape[0] < 1:
        raise UserInputError(f"the temporal model takes (T, {dim}) features with T >= 1, got {x.shape}")
    return np.ascontiguousarray(x[None])


def _check_batch(x: np.ndarray, dim: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 3 or x.shape[2] != dim or x.shape[0] < 1 or x.shape[1] < 1:
        raise UserInputError(f"a batch for the temporal model is (B, T, {dim}) with B, T >= 1, got {x.shape}")
    return np.ascontiguousarray(x)


def _zero_state(model: MultiTaskModel) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in model.init_state(1).items()}


class _Runtime:
    """What both runtimes share: the model's input size and zero state, and run / run_batch on top
    of their own ``_forward`` over a checked (B, T, D) input."""

    def __init__(self, model: MultiTaskModel) -> None:
        self._dim = model.config.input_dim
        self._zero = _zero_state(model)
        self.state_keys = model.state_keys
        self.is_recurrent = model.is_recurrent

    def init_state(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self._zero.items()}

    def run(self, x: np.ndarray, state: dict[str, np.ndarray]) -> StepOutput:
        out = self._forward(_check_input(x, self._dim), state)
        return StepOutput(out.va[0], out.expr_probs[0], out.au_probs[0], out.state)

    def run_batch(self, x: np.ndarray, state: dict[str, np.ndarray]) -> StepOutput:
        return self._forward(_check_batch(x, self._dim), state)

    def _forward(self, x: np.ndarray, state: dict[str, np.ndarray]) -> StepOutput:
        raise NotImplementedError


class TorchRuntime(_Runtime):
    """The model itself, in eval mode without gradients."""

    def __init__(self, model: MultiTaskModel) -> None:
        super().__init__(model)
        self._graph = _ProbabilityGraph(model).eval()
        self.name = "torch"

    @torch.inference_mode()
    def _forward(self, x: np.ndarray, state: dict[str, np.ndarray]) -> StepOutput:
        inputs = [torch.from_numpy(np.ascontiguousarray(state[k], dtype=np.float32)) for k in self.state_keys]
        out = self._graph(torch.from_numpy(x), *inputs)
        va, expr, au = (t.numpy() for t in out[:3])
        return StepOutput(va, expr, au, {k: t.numpy().copy() for k, t in zip(self.state_keys, out[3:])})


def export_onnx(model: MultiTaskModel) -> bytes:
    """The model as an ONNX graph (bytes) with a dynamic number of tracks (B) and frames (T)."""
    graph = _ProbabilityGraph(model).eval()
    keys = model.state_keys
    state = [v for v in model.init_state(1).values()]
    names_in = [INPUT, *[STATE_IN + k for k in keys]]
    names_out = [*OUTPUTS, *[STATE_OUT + k for k in keys]]
    dynamic = {INPUT: {0: "B", 1: "T"}, **{n: {0: "B", 1: "T"} for n in OUTPUTS},
               **{STATE_IN + k: {1: "B"} for k in keys}, **{STATE_OUT + k: {1: "B"} for k in keys}}
    buffer = io.BytesIO()
    was_training = model.training
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # The exporter warns about RNNs with a batch of 1 and about dropout in eval: harmless here.
            warnings.simplefilter("ignore")
            torch.onnx.export(graph, (torch.zeros(1, 3, model.config.input_dim), *state), buffer,
                              input_names=names_in, output_names=names_out, dynamic_axes=dynamic,
                              opset_version=OPSET, dynamo=False)
    finally:
        # the exporter puts modules back in the mode it found them; be explicit anyway
        model.train(was_training)
    return buffer.getvalue()


class OnnxRuntime(_Runtime):
    """The exported graph in onnxruntime."""

    def __init__(self, model: MultiTaskModel, threads: int = 1, provider: str = "auto") -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise RuntimeUnavailable("onnxruntime is not installed (pip install onnxruntime)") from exc
        try:
            blob = export_onnx(model)
        except Exception as exc:  # the exporter raises many kinds of errors
            raise RuntimeUnavailable(f"the model could not be exported to ONNX ({exc})") from exc
        options = ort.SessionOptions()
        # One frame per step is a tiny graph: extra threads cost more in hand-offs than they
        # save, and the face landmarker needs the other core.
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        providers = choose_providers(ort.get_available_providers(), provider)
        try:
            self._session = ort.InferenceSession(blob, sess_options=options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise RuntimeUnavailable(f"onnxruntime cannot load the exported model ({exc})") from exc
        super().__init__(model)
        self.providers = list(self._session.get_providers())
        self.name = f"onnxruntime ({self.providers[0]})"
        # The exporter drops inputs the graph does not read; feed only those it kept.
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._outputs = [*OUTPUTS, *[STATE_OUT + k for k in self.state_keys]]

    def _forward(self, x: np.ndarray, state: dict[str, np.ndarray]) -> StepOutput:
        feeds = {INPUT: x}
        for key in self.state_keys:
            if STATE_IN + key in self._inputs:
                feeds[STATE_IN + key] = np.ascontiguousarray(state[key], dtype=np.float32)
        out = self._session.run(self._outputs, feeds)
        return StepOutput(out[0], out[1], out[2], dict(zip(self.state_keys, out[3:])))


@dataclass(frozen=True)
class RuntimeChoice:
    runtime: TemporalRuntime
    fallback_reason: str = ""  # why "auto" ended on torch; empty otherwise


def check_runtime_kind(kind: str) -> str:
    if kind not in RUNTIME_KINDS:
        raise UserInputError(f"unknown runtime {kind!r}; choose from {', '.join(RUNTIME_KINDS)}")
    return kind


def create_runtime(model: MultiTaskModel, kind: str = "auto", threads: int = 1,
                   provider: str = "auto") -> RuntimeChoice:
    """``onnx``, ``torch``, or ``auto``: onnxruntime when it works, else torch (saying why).
    ``provider``: onnxruntime's device preference (see choose_providers)."""
    check_runtime_kind(kind)
    model.eval()
    if kind == "torch":
        return RuntimeChoice(TorchRuntime(model))
    try:
        return RuntimeChoice(OnnxRuntime(model, threads, provider))
    except RuntimeUnavailable as exc:
        if kind == "onnx":
            raise
        return RuntimeChoice(TorchRuntime(model), str(exc))
