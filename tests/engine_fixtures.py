"""Small checkpoints over real extractors, for engine and annotate tests (random weights: plumbing only)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from affectstream.core.filter_config import ChosenSmoothing
from affectstream.core.temporal.checkpoint import ModelMeta, save_checkpoint
from affectstream.core.temporal import ModelConfig, MultiTaskModel, make_encoder_config

SEQ_LEN = 20  # short segments, so a 72-frame video crosses several


def write_checkpoint(path: Path, extractors: Sequence[str] = ("blendshapes",), kind: str = "gru",
                     seq_len: int = SEQ_LEN, offline_window: int = 5, seed: int = 0) -> Path:
    from affectstream.core.features.extractors import ExtractorChain

    with ExtractorChain.from_names(list(extractors)) as chain:
        specs = chain.specs()
    torch.manual_seed(seed)
    encoder = make_encoder_config(kind, hidden_size=16, dropout=0.0)
    config = ModelConfig(input_dim=sum(s.dim for s in specs), encoder=encoder, head_hidden=(16,), head_dropout=0.0)
    model = MultiTaskModel(config)
    # Inputs in [0, 1] (blendshapes) spread out by the normalisation, so outputs move with the face.
    model.set_normalization(np.full(config.input_dim, 0.2), np.full(config.input_dim, 0.1))
    meta = ModelMeta("tiny-test-gru", config, specs, seq_len=seq_len,
                     post=ChosenSmoothing(offline_window, {"kind": "ema", "alpha": 0.5}, 30.0))
    return save_checkpoint(path, model.eval(), meta)
