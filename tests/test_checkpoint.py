"""Checkpoints: a safe round trip, everything needed to run them, and refusal of bad files."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from affectstream.core.filter_config import ChosenSmoothing
from affectstream.core.temporal.checkpoint import CheckpointError, ModelMeta, load_checkpoint, read_meta, save_checkpoint
from affectstream.core.errors import UserInputError
from affectstream.core.features.store import FeatureSpec
from affectstream.core.temporal.config import GRUConfig, ModelConfig
from affectstream.core.temporal.multitask import MultiTaskModel


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
        post=ChosenSmoothing(offline_window=7, causal={"kind": "ema", "alpha": 0.4}, fps=25.0),
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
    from affectstream.cli.main import main

    out = tmp_path / "run"
    args = ["train", "--train", str(tiny_data.train_annotations), "--val", str(tiny_data.val_annotations),
            "--features", str(tiny_data.features), "--backbones", "synth-a", "synth-b", "--out", str(out),
            "--hidden", "8", "--seq-len", "24", "--epochs", "1", "--no-progress"]
    assert main(args) == 0
    marker = tmp_path / "pwned"
    with open(out / "last.pt", "wb") as handle:
        pickle.dump({"model": _Payload(marker)}, handle)
    args[args.index("--epochs") + 1] = "2"
    from affectstream.training.loop import _load_last

    with pytest.raises(UserInputError, match="cannot resume"):
        _load_last(out / "last.pt")
    assert main(args) == 2
    assert not marker.exists()


# -- untrusted metadata and weights are checked before anything is built (issue 13, B) -------------

def _crafted(tmp_path, edit=None, tensors_edit=None):
    """A small valid checkpoint rewritten with its metadata (and maybe weights) changed."""
    model, meta = _model()
    tensors = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    data = meta.to_json()
    if edit:
        edit(data)
    if tensors_edit:
        tensors_edit(tensors)
    path = tmp_path / "crafted.safetensors"
    save_file(tensors, str(path), metadata={"affectstream": json.dumps(data)})
    return path


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def edit(data):
        for key in keys[:-1]:
            data = data[key]
        data[keys[-1]] = value
    return edit


BAD_METADATA = [
    (_set("model_config", "encoder", "hidden_size", 10_000_000), r"hidden_size must be at most 8192"),
    (_set("model_config", "encoder", "num_layers", 10_000), r"num_layers must be at most 64"),
    (_set("model_config", "input_dim", 0), r"input_dim must be a positive integer"),
    (_set("model_config", "input_dim", 10**9), r"input_dim must be at most 100000"),
    (_set("model_config", "head_hidden", [512, 10**8]), r"head_hidden\[1\] must be at most"),
    (_set("model_config", "top_layers", 500), r"top_layers must be at most 64"),
    (_set("seq_len", 0), r"seq_len must be an integer"),
    (_set("post", "offline_window", 4), r"post\.offline_window must be an odd integer"),
    (_set("post", "offline_window", 0), r"post\.offline_window"),
    (_set("post", "offline_window", 3.0), r"post\.offline_window"),
    (_set("post", "offline_window", 100_001), r"post\.offline_window"),
    (_set("post", "fps", float("nan")), r"post\.fps must be a finite number > 0"),
    (_set("post", "fps", float("inf")), r"post\.fps"),
    (_set("post", "fps", 0), r"post\.fps"),
    (_set("post", "causal", {"kind": "box"}), r"post\.causal"),
    (_set("post", "causal", {"kind": "ema", "alpha": 2.0}), r"post\.causal"),
    (_set("post", "causal", {"kind": "ema", "alpha": "fast"}), r"post\.causal"),
    (_set("post", "causal", None), r"post\.causal"),
    (_set("post", "causal", {"kind": "one_euro", "min_cutoff": float("inf")}), r"post\.causal"),
    (_set("au_thresholds", [0.5] * 11), r"au_thresholds must be 12 finite numbers"),
    (_set("au_thresholds", [0.5] * 11 + [1.0]), r"au_thresholds \(AU26\) must be a finite number in \(0, 1\)"),
    (_set("au_thresholds", [0.0] + [0.5] * 11), r"au_thresholds \(AU1\)"),
    (_set("au_thresholds", [0.5] * 5 + [float("nan")] + [0.5] * 6), r"au_thresholds \(AU10\)"),
    (_set("au_thresholds", ["0.5"] * 12), r"au_thresholds \(AU1\)"),
]


@pytest.mark.parametrize("edit, words", BAD_METADATA, ids=[w for _, w in BAD_METADATA])
def test_absurd_or_malformed_metadata_is_refused_naming_file_and_key(tmp_path, edit, words):
    path = _crafted(tmp_path, edit)
    with pytest.raises(CheckpointError, match=r"crafted\.safetensors.*" + words):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match=words):
        read_meta(path)


def test_non_finite_weights_are_refused_naming_the_tensor(tmp_path):
    def poison(tensors):
        key = next(k for k in tensors if k.startswith("heads.va"))
        tensors[key].view(-1)[0] = float("nan")
        poison.key = key

    path = _crafted(tmp_path, tensors_edit=poison)
    with pytest.raises(CheckpointError, match=rf"crafted\.safetensors: tensor '{poison.key}' holds NaN or inf"):
        load_checkpoint(path)
    inf_path = _crafted(tmp_path, tensors_edit=lambda t: t["feature_std"].fill_(float("inf")))
    with pytest.raises(CheckpointError, match="'feature_std' holds NaN or inf"):
        load_checkpoint(inf_path)


def test_a_config_bigger_than_its_weights_fails_before_reading_or_building(tmp_path, monkeypatch):
    import affectstream.core.temporal.checkpoint as checkpoint

    # Within the bounds, yet hundreds of MB if built: the header's shapes must refuse it first.
    path = _crafted(tmp_path, _set("model_config", "encoder", "hidden_size", 4096))

    def no_reading(*args, **kwargs):
        raise AssertionError("the weights were read before the shapes were checked")

    monkeypatch.setattr(checkpoint, "load_safetensors_bytes", no_reading)
    with pytest.raises(CheckpointError, match=r"crafted\.safetensors: weights do not match.*wrong shape"):
        load_checkpoint(path)


def test_the_shipped_model_passes_the_checks():
    from pathlib import Path

    shipped = (Path(__file__).resolve().parents[1] / "affectstream" / "assets" / "affect-gru-mixed"
               / "affect_gru_mixed.safetensors")
    if not shipped.is_file():
        pytest.skip(f"{shipped} is absent")
    loaded = load_checkpoint(shipped)
    assert loaded.meta.model_config.encoder.hidden_size == 512  # two GRUs of 256 side by side (merge-models)
