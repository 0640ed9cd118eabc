"""Temporal encoders with one interface: ``(x, state, mask) -> (y, new_state)``.

``x`` is (B, T, in) and ``y`` is (B, T, output_dim). ``state`` holds the encoder's
own tensors by short name ("h", "c"), each (num_layers, B, H) as torch RNNs lay
them out; encoders without memory take and return ``{}``. ``mask`` (B, T) is True
on real frames; padding is only ever at the end of a sequence.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from affectstream.core.temporal.config import (
    EncoderConfig,
    GRUConfig,
    LSTMConfig,
    MLPConfig,
    ModelConfigError,
    TransformerConfig,
)

State = dict[str, Tensor]


class SequenceEncoder(nn.Module):
    """Base of the encoders: the output width and the names of its state tensors."""

    output_dim: int
    state_names: tuple[str, ...] = ()

    def init_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> State:
        return {}

    def forward(self, x: Tensor, state: State | None = None, mask: Tensor | None = None) -> tuple[Tensor, State]:
        raise NotImplementedError


class RecurrentEncoder(SequenceEncoder):
    """A unidirectional GRU or LSTM.

    Causal, so padding at the end cannot change real positions: the mask is not needed.
    """

    rnn_type: type[nn.RNNBase] = nn.GRU
    state_names: tuple[str, ...] = ("h",)

    def __init__(self, input_dim: int, hidden_size: int, num_layers: int, dropout: float) -> None:
        super().__init__()
        self.rnn = self.rnn_type(
            input_dim,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.output_dim = hidden_size

    def init_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> State:
        shape = (self.rnn.num_layers, batch_size, self.rnn.hidden_size)
        return {name: torch.zeros(shape, device=device, dtype=dtype) for name in self.state_names}

    def forward(self, x: Tensor, state: State | None = None, mask: Tensor | None = None) -> tuple[Tensor, State]:
        if not state:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        carried = tuple(state[name] for name in self.state_names)
        y, new = self.rnn(x, carried if len(carried) > 1 else carried[0])
        new = new if isinstance(new, tuple) else (new,)
        return self.dropout(y), dict(zip(self.state_names, new))


class GRUEncoder(RecurrentEncoder):
    rnn_type = nn.GRU
    state_names = ("h",)


class LSTMEncoder(RecurrentEncoder):
    rnn_type = nn.LSTM
    state_names = ("h", "c")


def sinusoidal_positions(length: int | Tensor, dim: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """(length, dim) sine/cosine positional encoding, interleaved sin, cos per frequency.

    Computed for the length at hand rather than sliced from a table, so any length works.
    """
    position = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    angle = position * freq
    # stack + reshape instead of strided slice assignment keeps the ONNX graph simple
    return torch.stack((angle.sin(), angle.cos()), dim=-1).reshape(-1, dim).to(dtype)


class AttentionLayer(nn.Module):
    """Post-norm transformer encoder layer (self-attention, then a ReLU feed-forward).

    Written out rather than nn.TransformerEncoderLayer: under no_grad in eval torch
    switches that to a fused kernel the legacy ONNX exporter cannot export, and its
    reshapes freeze the sequence length into the graph.
    """

    def __init__(self, d_model: int, num_heads: int, ff_dim: int, dropout: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.attn_dropout = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(
            nn.Linear(d_model, ff_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ff_dim, d_model)
        )
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def attend(self, x: Tensor, padding: Tensor | None) -> Tensor:
        # (B, T, 3D) -> three (B, heads, T, D/heads); only the last dim is split, so B and T stay dynamic
        q, k, v = (t.unflatten(-1, (self.num_heads, -1)).transpose(1, 2) for t in self.qkv(x).chunk(3, dim=-1))
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        if padding is not None:
            scores = scores.masked_fill(padding[:, None, None, :], float("-inf"))
        weights = self.attn_dropout(scores.softmax(dim=-1))
        return self.out((weights @ v).transpose(1, 2).flatten(2))

    def forward(self, x: Tensor, padding: Tensor | None = None) -> Tensor:
        x = self.norm1(x + self.dropout(self.attend(x, padding)))
        return self.norm2(x + self.dropout(self.ff(x)))


class TransformerSequenceEncoder(SequenceEncoder):
    """Linear projection to d_model, optional positional encoding, then self-attention layers."""

    def __init__(
        self,
        input_dim: int,
        d_model: int,
        num_layers: int,
        num_heads: int,
        ff_dim: int,
        dropout: float,
        positional: bool,
    ) -> None:
        super().__init__()
        self.project = nn.Linear(input_dim, d_model)
        self.positional = positional
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            [AttentionLayer(d_model, num_heads, ff_dim, dropout) for _ in range(num_layers)]
        )
        self.output_dim = d_model

    def forward(self, x: Tensor, state: State | None = None, mask: Tensor | None = None) -> tuple[Tensor, State]:
        h = self.project(x)
        if self.positional:
            h = h + sinusoidal_positions(x.shape[1], h.shape[-1], h.device, h.dtype)
        h = self.dropout(h)
        padding = None
        if mask is not None:
            padding = ~mask.to(torch.bool)
            # A lane that is all padding would softmax over nothing (NaN, and NaN gradients);
            # frame 0 is real in every other lane, so letting it be attended changes nothing else.
            first = torch.zeros_like(padding)
            first[:, 0] = True
            padding = padding & ~first
        for layer in self.layers:
            h = layer(h, padding)
        return h, {}


class MLPEncoder(SequenceEncoder):
    """Frame-wise Linear-ReLU-Dropout blocks: the no-temporal-context baseline."""

    def __init__(self, input_dim: int, hidden_size: int, num_layers: int, dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = input_dim
        for _ in range(num_layers):
            layers += [nn.Linear(width, hidden_size), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden_size
        self.mlp = nn.Sequential(*layers)
        self.output_dim = hidden_size

    def forward(self, x: Tensor, state: State | None = None, mask: Tensor | None = None) -> tuple[Tensor, State]:
        return self.mlp(x), {}


def make_encoder(
    cfg: EncoderConfig, input_dim: int, num_layers: int | None = None, positional: bool = True
) -> SequenceEncoder:
    """Build the encoder ``cfg`` describes; ``num_layers`` overrides the config's (top encoders)."""
    layers = cfg.num_layers if num_layers is None else num_layers
    if isinstance(cfg, GRUConfig):
        return GRUEncoder(input_dim, cfg.hidden_size, layers, cfg.dropout)
    if isinstance(cfg, LSTMConfig):
        return LSTMEncoder(input_dim, cfg.hidden_size, layers, cfg.dropout)
    if isinstance(cfg, TransformerConfig):
        return TransformerSequenceEncoder(
            input_dim, cfg.d_model, layers, cfg.num_heads, cfg.ff_dim, cfg.dropout, positional
        )
    if isinstance(cfg, MLPConfig):
        return MLPEncoder(input_dim, cfg.hidden_size, layers, cfg.dropout)
    raise ModelConfigError(f"not an encoder config: {cfg!r}")
