"""Checkpoints: a safe round trip, everything needed to run them, and refusal of bad files."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from core.checkpoint import CheckpointError, ModelMeta, PostProcessing, load_checkpoint, read_meta, save_checkpoint
from core.errors import UserInputError
from core.features.store import FeatureSpec
from core.models.config import GRUConfig, ModelConfig
from core.models.multitask import MultiTaskModel


def _model() -> tuple[MultiTaskModel, ModelMeta]:
    torch.manual_seed(0)
    config = ModelConfig(input_dim=5, encoder=GRUConfig(hidden_size=8), framework="feedback")
    model = MultiTaskModel(config)
    model.set_normalization(np.arange(5, dtype=np.float32), np.full(5, 2.0, np.float32))
    meta = ModelMeta(
        name="test-model",
        model_config=config,
        features=[FeatureSpec("a", 3, {"k": 1}), FeatureSpec("b", 2)],
        seq_len=17,
        au_thresholds=np.linspace(0.1, 0.9, 12).astype(np.float32),
        post=PostProcessing(offline_window=7, causal={"kind": "ema", "alpha": 0.4}, fps=25.0),
        provenance={"data": "synthetic"},
    )
    return model, meta


def test_round_trip_gives_identical_outputs_and_metadata(tmp_path):
    model, meta = _model()
    path = save_checkpoint(tmp_path / "m.safetensors", model, meta)
    loaded = load_checkpoint(path)
    x = torch.randn(2, 9, 5)
    model.eval()
    a, b = model(x), loaded.model(x)
    for key in ("va", "expr", "au"):
        torch.testing.assert_close(getattr(a, key), getattr(b, key), rtol=0, atol=0)
    m = loaded.meta
    assert m.name == "test-model" and m.seq_len == 17 and m.model_config == meta.model_config
    assert [f.name for f in m.features] == ["a", "b"] and m.features[0].config == {"k": 1}
    np.testing.assert_allclose(m.au_thresholds, meta.au_thresholds)
    assert m.post == meta.post and m.provenance == {"data": "synthetic"}
    assert read_meta(path).feature_dim == 5


def test_file_without_our_metadata_is_refused(tmp_path):
    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="without AffectStream metadata"):
        load_checkpoint(path)


def test_weights_that_do_not_match_the_config_are_refused(tmp_path):
    model, meta = _model()
    path = save_checkpoint(tmp_path / "m.safetensors", model, meta)
    tensors = {k: v.clone() for k, v in model.state_dict().items()}
    data = meta.to_json()
    data["model_config"]["encoder"]["hidden_size"] = 16  # claims a bigger GRU than the weights hold
    save_file(tensors, str(path), metadata={"affectstream": json.dumps(data)})
    with pytest.raises(CheckpointError, match="do not match the model config"):
        load_checkpoint(path)


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(CheckpointError, match="nothing.safetensors does not exist"):
        load_checkpoint(tmp_path / "nothing.safetensors")


class _Payload:
    """Unpickling this would create a file: the attack a stranger's checkpoint could carry."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_a_resume_file_carrying_code_does_not_run_it(tiny_data, tmp_path):
    from training.cli import main

    out = tmp_path / "run"
    args = ["train", "--train", str(tiny_data.train_annotations), "--val", str(tiny_data.val_annotations),
            "--features", str(tiny_data.features), "--backbones", "synth-a", "synth-b", "--out", str(out),
            "--hidden", "8", "--seq-len", "24", "--epochs", "1", "--no-progress"]
    assert main(args) == 0
    marker = tmp_path / "pwned"
    with open(out / "last.pt", "wb") as handle:
        pickle.dump({"model": _Payload(marker)}, handle)
    args[args.index("--epochs") + 1] = "2"
    from training.train import _load_last

    with pytest.raises(UserInputError, match="cannot resume"):
        _load_last(out / "last.pt")
    assert main(args) == 2
    assert not marker.exists()
