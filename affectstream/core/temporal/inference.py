"""Offline inference over whole sequences of features, and ensembles of models.

Recurrent encoders run segment after segment carrying their hidden state, exactly
as in training; the Transformer and the frame-wise MLP see each segment alone.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from affectstream.core.temporal.multitask import MultiTaskModel
from affectstream.core.temporal.predictions import Predictions


def _to_numpy(out) -> Predictions:
    return Predictions(
        va=out.va[0].float().numpy(),
        expr_probs=torch.softmax(out.expr[0].float(), dim=-1).numpy(),
        au_probs=torch.sigmoid(out.au[0].float()).numpy(),
    )


@torch.no_grad()
def predict_sequence(
    model: MultiTaskModel, features: np.ndarray, seq_len: int, carry_state: bool = True
) -> Predictions:
    """Run a model over one video's (N, D) raw features.

    ``carry_state=False`` starts a recurrent encoder from zero at every segment, for
    models trained that way (the ablation of carried state).
    """
    was_training = model.training
    model.eval()
    try:
        x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        n = x.shape[0]
        if n == 0:
            return Predictions(np.zeros((0, 2), np.float32), np.zeros((0, 8), np.float32), np.zeros((0, 12), np.float32))
        parts = []
        if model.is_recurrent and carry_state:
            state = None
            for start in range(0, n, seq_len):
                out = model(x[None, start : start + seq_len], state)
                state = out.state
                parts.append(_to_numpy(out))
        else:
            for start in range(0, n, seq_len):
                parts.append(_to_numpy(model(x[None, start : start + seq_len])))
        return Predictions(
            np.concatenate([p.va for p in parts]),
            np.concatenate([p.expr_probs for p in parts]),
            np.concatenate([p.au_probs for p in parts]),
        )
    finally:
        model.train(was_training)


def average_predictions(members: Sequence[Predictions]) -> Predictions:
    """The ensemble's output: mean VA, mean expression and AU probabilities."""
    if not members:
        raise ValueError("an ensemble needs at least one member")
    return Predictions(
        np.mean([m.va for m in members], axis=0),
        np.mean([m.expr_probs for m in members], axis=0),
        np.mean([m.au_probs for m in members], axis=0),
    )
