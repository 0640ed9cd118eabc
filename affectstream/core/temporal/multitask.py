"""The multi-task temporal model: shared encoder(s) -> per-task heads, with carried state.

Frameworks (see :class:`ModelConfig`): ``basic`` shares one encoder; ``share-bottom``
adds a task-specific top encoder per task; ``feedback`` also feeds the source task's
top output, detached, into the target task's top encoder.

State keys are ``"<part>.<name>"`` with part ``bottom`` or ``top.<task>`` and name
``h``/``c``; every tensor is (num_layers, B, H), so the batch is at dim 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from affectstream.core.errors import UserInputError
from affectstream.core.labels import NUM_AUS, TASKS
from affectstream.core.temporal.config import RECURRENT_KINDS, ModelConfig
from affectstream.core.temporal.encoders import SequenceEncoder, State, make_encoder
from affectstream.core.temporal.heads import make_head

STD_FLOOR = 1e-6


@dataclass
class MultiTaskOutput:
    va: Tensor  # (B, T, 2) valence, arousal in [-1, 1]
    expr: Tensor  # (B, T, 8) logits, ABAW order
    au: Tensor  # (B, T, 12) logits
    state: dict[str, Tensor]  # carried encoder state; {} for transformer / mlp


def _sub_state(state: dict[str, Tensor], part: str) -> State:
    prefix = part + "."
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def _prefixed(state: State, part: str) -> dict[str, Tensor]:
    return {f"{part}.{k}": v for k, v in state.items()}


class MultiTaskModel(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.is_recurrent = config.encoder_kind in RECURRENT_KINDS
        self.register_buffer("feature_mean", torch.zeros(config.input_dim))
        self.register_buffer("feature_std", torch.ones(config.input_dim))

        self.bottom = make_encoder(config.encoder, config.input_dim, positional=True)
        width = self.bottom.output_dim
        self.tops = nn.ModuleDict()
        # Source first, so the target can read its output in the feedback framework.
        self.task_order: tuple[str, ...] = TASKS
        if config.framework != "basic":
            if config.framework == "feedback":
                rest = tuple(t for t in TASKS if t != config.feedback_source)
                self.task_order = (config.feedback_source, *rest)
            for task in self.task_order:
                extra = width if self._is_feedback_target(task) else 0
                self.tops[task] = make_encoder(
                    config.encoder, width + extra, num_layers=config.top_layers, positional=False
                )
        self.input_dropout = nn.Dropout(config.input_dropout)  # no weights: checkpoints without it still load
        self.heads = nn.ModuleDict(
            {task: make_head(task, width, config.head_hidden, config.head_dropout) for task in TASKS}
        )
        if config.au_readout == "linear":
            self.heads["au"] = nn.Linear(width + config.input_dim, NUM_AUS)

    @property
    def readout_dim(self) -> int:
        """Width of what a linear AU readout reads: the shared encoder's output, then the normalised frame."""
        return self.bottom.output_dim + self.config.input_dim

    def _is_feedback_target(self, task: str) -> bool:
        return self.config.framework == "feedback" and task == self.config.feedback_target

    def _encoders(self) -> dict[str, SequenceEncoder]:
        parts: dict[str, SequenceEncoder] = {"bottom": self.bottom}
        parts.update({f"top.{task}": enc for task, enc in self.tops.items()})
        return parts

    @property
    def state_keys(self) -> tuple[str, ...]:
        """Names of the carried state tensors in a fixed order (e.g. for ONNX inputs/outputs)."""
        return tuple(f"{part}.{name}" for part, enc in self._encoders().items() for name in enc.state_names)

    # -- normalisation ------------------------------------------------------
    def set_normalization(self, mean: np.ndarray | Tensor, std: np.ndarray | Tensor) -> None:
        """Per-feature mean/std applied inside forward; kept as buffers so they travel in state_dict."""
        mean_t = torch.as_tensor(np.asarray(mean, dtype=np.float32) if not isinstance(mean, Tensor) else mean)
        std_t = torch.as_tensor(np.asarray(std, dtype=np.float32) if not isinstance(std, Tensor) else std)
        expected = (self.config.input_dim,)
        for name, value in (("mean", mean_t), ("std", std_t)):
            if tuple(value.shape) != expected:
                raise UserInputError(f"normalisation {name} has shape {tuple(value.shape)}, expected {expected}")
            if not torch.isfinite(value).all():
                raise UserInputError(f"normalisation {name} holds NaN or inf")
        with torch.no_grad():
            self.feature_mean.copy_(mean_t)
            self.feature_std.copy_(std_t)

    # -- state ----------------------------------------------------------------
    def init_state(self, batch_size: int) -> dict[str, Tensor]:
        ref = self.feature_mean
        state: dict[str, Tensor] = {}
        for part, enc in self._encoders().items():
            state.update(_prefixed(enc.init_state(batch_size, ref.device, ref.dtype), part))
        return state

    @staticmethod
    def detach_state(state: dict[str, Tensor]) -> dict[str, Tensor]:
        return {k: v.detach() for k, v in state.items()}

    @staticmethod
    def reset_state(state: dict[str, Tensor], lanes: Tensor) -> dict[str, Tensor]:
        """A copy of ``state`` with the batch rows where ``lanes`` is True set to zero."""
        out: dict[str, Tensor] = {}
        for key, value in state.items():
            if lanes.shape != (value.shape[1],):
                raise UserInputError(f"reset lanes have shape {tuple(lanes.shape)}, state {key!r} has batch {value.shape[1]}")
            keep = (~lanes.to(device=value.device, dtype=torch.bool)).to(value.dtype).view(1, -1, 1)
            out[key] = value * keep
        return out

    # -- forward --------------------------------------------------------------
    def _check_inputs(self, x: Tensor, state: dict[str, Tensor], mask: Tensor | None) -> None:
        if x.dim() != 3 or x.shape[-1] != self.config.input_dim:
            raise UserInputError(f"features have shape {tuple(x.shape)}, expected (B, T, {self.config.input_dim})")
        unknown = sorted(set(state) - set(self.state_keys))
        if unknown:
            raise UserInputError(f"unknown state key(s) {', '.join(unknown)}; this model carries {list(self.state_keys)}")
        if mask is not None and tuple(mask.shape) != tuple(x.shape[:2]):
            raise UserInputError(f"mask has shape {tuple(mask.shape)}, expected {tuple(x.shape[:2])}")

    def forward(
        self, x: Tensor, state: dict[str, Tensor] | None = None, mask: Tensor | None = None
    ) -> MultiTaskOutput:
        """x: (B, T, input_dim) raw features; state None means zeros; mask (B, T) True on real frames.

        Only the transformer reads the mask. GRU/LSTM are causal, so end padding cannot reach real
        frames, but their returned state is the state after the last (possibly padded) step: reset
        a lane's state when its video ends.
        """
        state = state or {}
        if not torch.jit.is_tracing():
            self._check_inputs(x, state, mask)
        x = self.input_dropout((x - self.feature_mean) / self.feature_std.clamp_min(STD_FLOOR))
        shared, bottom_state = self.bottom(x, _sub_state(state, "bottom"), mask)
        new_state = _prefixed(bottom_state, "bottom")
        if self.config.au_readout == "linear":
            au = self.heads["au"](torch.cat((shared, x), dim=-1))
        else:
            au = None

        features: dict[str, Tensor] = {}
        for task in self.task_order:
            if not self.tops:
                features[task] = shared
                continue
            inputs = shared
            if self._is_feedback_target(task):
                # detached: the target's loss must not train the source's top encoder or head
                inputs = torch.cat((shared, features[self.config.feedback_source].detach()), dim=-1)
            part = f"top.{task}"
            features[task], top_state = self.tops[task](inputs, _sub_state(state, part), mask)
            new_state.update(_prefixed(top_state, part))

        return MultiTaskOutput(
            va=self.heads["va"](features["va"]),
            expr=self.heads["expr"](features["expr"]),
            au=self.heads["au"](features["au"]) if au is None else au,
            state=new_state,
        )

    @torch.no_grad()
    def readout_inputs(self, x: Tensor, state: dict[str, Tensor] | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """(B, T, readout_dim) what a linear AU readout reads at each frame (the shared encoder's output, then the
        normalised frame features), and the carried state; basic framework only."""
        if self.config.framework != "basic":
            raise UserInputError("a linear AU readout reads the shared encoder: basic framework only")
        state = state or {}
        self._check_inputs(x, state, None)
        x = (x - self.feature_mean) / self.feature_std.clamp_min(STD_FLOOR)
        shared, bottom_state = self.bottom(x, _sub_state(state, "bottom"), None)
        return torch.cat((shared, x), dim=-1), _prefixed(bottom_state, "bottom")
