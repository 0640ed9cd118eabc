"""Several trained GRU/LSTM multi-task models as one model of the same kind: an ensemble at one call per frame.

The members' recurrent layers are laid side by side as one wider layer whose
weights are block-diagonal (each member's hidden units see only its own units
and the input), and their heads likewise, with the last layer averaging the
members' outputs. So the merged model computes exactly the mean of the members'
head outputs before squashing (expression and AU logits; valence/arousal before
the tanh), in one forward pass with one stacked state, and it saves, loads,
exports to ONNX and streams like any other checkpoint. Each member's input
normalisation is folded into its share of the first layer.

Only the basic framework (one encoder, three heads), unidirectional GRU or LSTM
members of the same kind, depth and head depth, on the same features.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import torch
from torch import nn

from affectstream.core.errors import UserInputError
from affectstream.core.temporal.config import ModelConfig
from affectstream.core.temporal.encoders import RecurrentEncoder
from affectstream.core.temporal.heads import TaskHead
from affectstream.core.temporal.multitask import STD_FLOOR, MultiTaskModel


def merged_config(configs: Sequence[ModelConfig]) -> ModelConfig:
    """The config of the merged model: widths summed, everything else as the members'."""
    first = configs[0]
    for k, config in enumerate(configs):
        if config.framework != "basic":
            raise UserInputError(f"member {k + 1}: only basic-framework models can be merged, not {config.framework!r}")
        if config.au_readout != "head":
            raise UserInputError(f"member {k + 1}: its AU readout is {config.au_readout!r}; merge the members first, "
                                 "then fit one readout on the merged model (fit-au)")
        if config.encoder_kind not in ("gru", "lstm"):
            raise UserInputError(f"member {k + 1}: only GRU/LSTM models can be merged, not {config.encoder_kind!r}")
        same = (config.encoder_kind, config.input_dim, config.encoder.num_layers, len(config.head_hidden))
        if same != (first.encoder_kind, first.input_dim, first.encoder.num_layers, len(first.head_hidden)):
            raise UserInputError(f"member {k + 1}: encoder kind, input size, layers and head depth must match "
                                 f"member 1's ({same} against member 1)")
    encoder = replace(first.encoder, hidden_size=sum(c.encoder.hidden_size for c in configs))
    heads = tuple(sum(c.head_hidden[i] for c in configs) for i in range(len(first.head_hidden)))
    return replace(first, encoder=encoder, head_hidden=heads)


@torch.no_grad()
def merge_models(members: Sequence[MultiTaskModel]) -> MultiTaskModel:
    """One model whose outputs are the mean of the members' (before squashing); see the module docstring."""
    if len(members) < 2:
        raise UserInputError("merging needs at least two models")
    merged = MultiTaskModel(merged_config([m.config for m in members])).eval()
    merged.set_normalization(torch.zeros(merged.config.input_dim), torch.ones(merged.config.input_dim))
    _merge_rnn(merged.bottom, [m.bottom for m in members], members)
    for task, head in merged.heads.items():
        _merge_head(head, [m.heads[task] for m in members])
    return merged


def _merge_rnn(target: RecurrentEncoder, parts: Sequence[RecurrentEncoder], members: Sequence[MultiTaskModel]) -> None:
    rnn = target.rnn
    sizes = [p.rnn.hidden_size for p in parts]
    gates = rnn.weight_ih_l0.shape[0] // rnn.hidden_size  # 3 for a GRU, 4 for an LSTM
    for layer in range(rnn.num_layers):
        w_ih, w_hh = (getattr(rnn, f"{n}_l{layer}") for n in ("weight_ih", "weight_hh"))
        b_ih, b_hh = (getattr(rnn, f"{n}_l{layer}") for n in ("bias_ih", "bias_hh"))
        for tensor in (w_ih, w_hh, b_ih, b_hh):
            tensor.zero_()
        start = 0
        for part, member, size in zip(parts, members, sizes):
            src = part.rnn
            m_ih, m_hh = getattr(src, f"weight_ih_l{layer}"), getattr(src, f"weight_hh_l{layer}")
            m_bih, m_bhh = getattr(src, f"bias_ih_l{layer}"), getattr(src, f"bias_hh_l{layer}")
            if layer == 0:
                # (x - mean) / std folded in: W (x - m) / s = (W / s) x - W (m / s).
                scale = 1.0 / member.feature_std.clamp_min(STD_FLOOR)
                m_bih = m_bih - m_ih @ (member.feature_mean * scale)
                m_ih = m_ih * scale
            for g in range(gates):
                rows = slice(g * rnn.hidden_size + start, g * rnn.hidden_size + start + size)
                own = slice(g * size, (g + 1) * size)
                if layer == 0:
                    w_ih[rows] = m_ih[own]
                else:
                    w_ih[rows, start:start + size] = m_ih[own]
                w_hh[rows, start:start + size] = m_hh[own]
                b_ih[rows] = m_bih[own]
                b_hh[rows] = m_bhh[own]
            start += size


def _merge_head(target: TaskHead, parts: Sequence[TaskHead]) -> None:
    linears = [m for m in target.mlp if isinstance(m, nn.Linear)]
    part_linears = [[m for m in p.mlp if isinstance(m, nn.Linear)] for p in parts]
    count = len(parts)
    for depth, layer in enumerate(linears):
        layer.weight.zero_()
        layer.bias.zero_()
        row = col = 0
        for own in (pl[depth] for pl in part_linears):
            out_size, in_size = own.weight.shape
            if depth == len(linears) - 1:  # the output layer: every member writes the same outputs, averaged
                layer.weight[:, col:col + in_size] = own.weight / count
                layer.bias.add_(own.bias / count)
            else:
                layer.weight[row:row + out_size, col:col + in_size] = own.weight
                layer.bias[row:row + out_size] = own.bias
                row += out_size
            col += in_size

