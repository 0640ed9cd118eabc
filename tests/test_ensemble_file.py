"""Ensemble files: member paths that move with the file, and clear errors for bad ones (issue 13, C)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from affectstream.core.temporal.checkpoint import ModelMeta, save_checkpoint
from affectstream.core.errors import UserInputError
from affectstream.core.features.store import FeatureSpec
from affectstream.core.temporal.config import GRUConfig, ModelConfig
from affectstream.core.temporal.multitask import MultiTaskModel
from affectstream.training.evaluation import load_ensemble, load_models, save_ensemble


def tiny_checkpoint(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    config = ModelConfig(input_dim=4, encoder=GRUConfig(hidden_size=8), head_hidden=(8,))
    meta = ModelMeta(f"tiny-{seed}", config, [FeatureSpec("a", 4)], seq_len=10)
    return save_checkpoint(path, MultiTaskModel(config).eval(), meta)


@pytest.fixture
def ensemble_dir(tmp_path) -> Path:
    folder = tmp_path / "release"
    members = [tiny_checkpoint(folder / "members" / f"m{i}.safetensors", i) for i in range(2)]
    save_ensemble(folder / "ensemble.json", load_models(members), {"note": "test"})
    return folder


def rewrite(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_members_are_stored_relative_and_a_moved_folder_still_loads(ensemble_dir, tmp_path):
    data = json.loads((ensemble_dir / "ensemble.json").read_text())
    assert data["members"] == ["members/m0.safetensors", "members/m1.safetensors"]
    moved = tmp_path / "elsewhere" / "copied"
    shutil.copytree(ensemble_dir, moved)
    shutil.rmtree(ensemble_dir)
    ensemble = load_ensemble(moved / "ensemble.json")
    assert [m.meta.name for m in ensemble.members] == ["tiny-0", "tiny-1"]
    assert [Path(m.path) for m in ensemble.members] == [moved / "members" / "m0.safetensors",
                                                        moved / "members" / "m1.safetensors"]


def test_old_absolute_member_paths_still_load(ensemble_dir):
    path = ensemble_dir / "ensemble.json"
    rewrite(path, members=[str((ensemble_dir / "members" / "m1.safetensors").resolve())], member_sha256=None)
    assert [m.meta.name for m in load_ensemble(path).members] == ["tiny-1"]


def test_a_member_retrained_in_place_is_refused_not_run_with_thresholds_tuned_for_another(ensemble_dir):
    """The ensemble file named members by path only: a model retrained at that path (even of another size)
    ran silently with the thresholds and window tuned for its predecessor."""
    path = ensemble_dir / "ensemble.json"
    assert len(load_ensemble(path).members) == 2
    tiny_checkpoint(ensemble_dir / "members" / "m1.safetensors", seed=7)
    with pytest.raises(UserInputError, match=r"m1.safetensors has changed since the ensemble was tuned for it"):
        load_ensemble(path)
    rewrite(path, member_sha256=["x"])
    with pytest.raises(UserInputError, match="one digest per member"):
        load_ensemble(path)


def test_members_outside_the_folder_are_stored_relative_too(tmp_path):
    member = tiny_checkpoint(tmp_path / "runs" / "gru" / "best.safetensors", 0)
    path = save_ensemble(tmp_path / "ensembles" / "e.json", load_models([member, member]), {})
    assert json.loads(path.read_text())["members"] == ["../runs/gru/best.safetensors"] * 2
    assert len(load_ensemble(path).members) == 2


@pytest.mark.parametrize("changes, words", [
    ({"members": []}, "'members' must be a non-empty list"),
    ({"members": "members/m0.safetensors"}, "'members' must be a non-empty list"),
    ({"members": [3]}, "'members' must be a non-empty list"),
    ({"members": ["members/gone.safetensors"]}, "member checkpoint 'members/gone.safetensors' not found"),
    ({"au_thresholds": [0.5] * 11}, "'au_thresholds' must be 12 finite numbers"),
    ({"au_thresholds": [0.5] * 11 + [1.0]}, r"'au_thresholds' \(AU26\) must be a finite number in \(0, 1\)"),
    ({"au_thresholds": [float("nan")] * 12}, "'au_thresholds'"),
    ({"offline_window": 4}, "'offline_window' must be an odd integer"),
    ({"offline_window": 0}, "'offline_window' must be an odd integer"),
    ({"offline_window": "5"}, "'offline_window' must be an odd integer"),
])
def test_malformed_ensemble_is_a_clear_error_naming_the_file(ensemble_dir, changes, words):
    path = ensemble_dir / "ensemble.json"
    rewrite(path, **changes)
    with pytest.raises(UserInputError, match=words) as caught:
        load_ensemble(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_not_an_object_is_refused(tmp_path):
    path = tmp_path / "e.json"
    path.write_text("[1, 2]")
    with pytest.raises(UserInputError, match="not an AffectStream ensemble file"):
        load_ensemble(path)


def test_thresholds_and_window_survive_the_round_trip(ensemble_dir):
    ensemble = load_ensemble(ensemble_dir / "ensemble.json")
    assert ensemble.au_thresholds.shape == (12,) and np.allclose(ensemble.au_thresholds, 0.5)
    assert ensemble.offline_window == 1
