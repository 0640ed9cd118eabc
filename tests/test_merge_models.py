"""Merged models: several GRU/LSTM multi-task models as one wider model that gives the mean of their outputs."""

from __future__ import annotations

from typing import Sequence

import pytest
import torch
from torch import Tensor

from affectstream.core.errors import UserInputError
from affectstream.core.temporal.config import GRUConfig, LSTMConfig, ModelConfig, TransformerConfig
from affectstream.core.temporal.merge import merge_models
from affectstream.core.temporal.multitask import STD_FLOOR, MultiTaskModel


def mean_of_members(members: Sequence[MultiTaskModel], x: Tensor) -> dict[str, Tensor]:
    """The members' mean pre-squash outputs on ``x``: what a merged model must give."""
    outs = []
    for m in members:
        features, _ = m.bottom((x - m.feature_mean) / m.feature_std.clamp_min(STD_FLOOR))
        outs.append({task: head.mlp(features) for task, head in m.heads.items()})
    return {task: torch.stack([o[task] for o in outs]).mean(0) for task in outs[0]}


def _member(encoder, seed: int, heads=(8, 6)) -> MultiTaskModel:
    torch.manual_seed(seed)
    model = MultiTaskModel(ModelConfig(input_dim=5, encoder=encoder, head_hidden=heads)).eval()
    # Each member has its own input normalisation, as models trained on different data do.
    model.set_normalization(torch.randn(5), torch.rand(5) + 0.5)
    return model


@pytest.mark.parametrize("kind", [GRUConfig, LSTMConfig])
def test_merged_model_gives_the_mean_of_its_members_and_carries_one_state(kind):
    members = [_member(kind(hidden_size=6, num_layers=2), 0), _member(kind(hidden_size=4, num_layers=2), 1, (5, 3))]
    merged = merge_models(members)
    assert merged.config.encoder.hidden_size == 10 and merged.config.head_hidden == (13, 9)
    x = torch.randn(3, 20, 5) * 2 + 1
    with torch.no_grad():
        want = mean_of_members(members, x)
        got = merged(x)
        assert torch.allclose(got.expr, want["expr"], atol=1e-5)
        assert torch.allclose(got.au, want["au"], atol=1e-5)
        assert torch.allclose(got.va, want["va"].tanh(), atol=1e-5)
        # In two segments with the state carried: the same as in one.
        first = merged(x[:, :7])
        second = merged(x[:, 7:], first.state)
        assert torch.allclose(torch.cat([first.expr, second.expr], 1), got.expr, atol=1e-5)
    # Not the same as either member alone: both count.
    with torch.no_grad():
        alone = mean_of_members(members[:1], x)
    assert not torch.allclose(alone["expr"], want["expr"], atol=1e-3)


def test_models_that_cannot_be_merged_are_refused_with_the_reason():
    gru = _member(GRUConfig(hidden_size=4), 0)
    with pytest.raises(UserInputError, match="at least two"):
        merge_models([gru])
    with pytest.raises(UserInputError, match="only GRU/LSTM"):
        merge_models([gru, _member(TransformerConfig(d_model=8, num_heads=2, num_layers=1, ff_dim=8), 1)])
    with pytest.raises(UserInputError, match="must match"):
        merge_models([gru, _member(GRUConfig(hidden_size=4, num_layers=2), 1)])


def test_members_whose_feature_specs_differ_only_in_prose_or_file_location_count_as_one_store():
    """A reworded description, or the same model file in another checkout, computes the same numbers;
    another model file (hash) or other preprocessing does not, and the difference is named."""
    from affectstream.core.features.store import FeatureSpec

    params = {"model": "/home/a/assets/expr_cnn.onnx", "sha256": "aa", "model_input": "48x48 grey"}
    first = FeatureSpec("expr-cnn-fast-int8", 264, {"description": "int8", "mean": [0.5], "params": params})
    elsewhere = FeatureSpec("expr-cnn-fast-int8", 264, {
        "description": "int8, face and mirror", "licence": "ours", "mean": [0.5],
        "params": {**params, "model": "/srv/b/assets/expr_cnn.onnx", "model_input": "reworded"}})
    other_model = FeatureSpec("expr-cnn-fast-int8", 264, {"description": "int8", "mean": [0.5],
                                                          "params": {**params, "sha256": "bb"}})
    other_norm = FeatureSpec("expr-cnn-fast-int8", 264, {"description": "int8", "mean": [0.4], "params": params})
    assert first.identity() == elsewhere.identity() and first.differs_from(elsewhere) is None
    assert first.differs_from(other_model) == "expr-cnn-fast-int8: params.sha256 differs"
    assert first.differs_from(other_norm) == "expr-cnn-fast-int8: mean differs"
    # Without a recorded hash the path is all that names the file: it counts.
    no_hash = FeatureSpec("onnx", 8, {"params": {"model": "/a/m.onnx"}})
    assert no_hash.differs_from(FeatureSpec("onnx", 8, {"params": {"model": "/b/m.onnx"}})) == "onnx: params.model differs"
