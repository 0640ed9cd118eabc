"""What `extract` writes, and what it never replaces: a crop grid only over its own grid, crops only in folders
it made, and features of one configuration never read as another's after `--overwrite` rewrote the spec."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from affectstream.cli.main import main
from affectstream.core.features.store import FeatureSpec, FeatureStore, FeatureStoreError, VideoFeatures
from affectstream.core.faces.crops import CROPS_MARKER
from tests.media import face_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """Five frames of the shared one-face video."""
    return face_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", 5)


def extract(*args) -> int:
    return main(["extract", *map(str, args), "--extractors", "blendshapes", "--workers", "1", "--no-progress"])


def test_a_crop_grid_replaces_only_a_crop_grid(clip, tmp_path, capsys):
    """--crop-grid notes.txt turned the notes into a PNG; --crop-grid store/blendshapes/x.npz a feature file."""
    notes, photo = tmp_path / "notes.txt", tmp_path / "photo.png"
    notes.write_text("my notes")
    cv2.imwrite(str(photo), np.full((20, 20, 3), 90, np.uint8))
    before = photo.read_bytes()
    store, crops = tmp_path / "store", tmp_path / "crops"
    assert extract(clip, "--out", store, "--save-crops", crops, "--crop-grid", notes) == 2
    assert "--crop-grid" in capsys.readouterr().err and notes.read_text() == "my notes"
    assert extract(clip, "--out", store, "--save-crops", crops, "--crop-grid", store / "blendshapes" / "g.png") == 2
    assert "lies in the feature store" in capsys.readouterr().err
    assert extract(clip, "--out", store, "--save-crops", crops, "--crop-grid", photo) == 2
    assert "is not a crop grid extract wrote; pass --overwrite" in capsys.readouterr().err
    assert photo.read_bytes() == before and not store.exists()  # refused before anything was made
    grid = tmp_path / "grid.png"
    assert extract(clip, "--out", store, "--save-crops", crops, "--crop-grid", grid) == 0
    assert extract(clip, "--out", store, "--save-crops", crops, "--crop-grid", grid) == 0  # its own grid again
    assert extract(clip, "--out", store, "--save-crops", crops, "--crop-grid", photo, "--overwrite") == 0
    assert cv2.imread(str(photo)).shape[0] > 20


def test_crops_go_only_into_folders_extract_made(clip, tmp_path, capsys):
    """--save-crops over an s-Aff-Wild2 cropped_aligned/ tree replaced and deleted the user's aligned faces."""
    theirs = tmp_path / "cropped_aligned" / "clip"
    theirs.mkdir(parents=True)
    for n in range(1, 9):
        cv2.imwrite(str(theirs / f"{n:05d}.jpg"), np.full((112, 112, 3), n, np.uint8))
    before = {p.name: p.read_bytes() for p in theirs.iterdir()}
    assert extract(clip, "--out", tmp_path / "store", "--save-crops", theirs.parent) == 2
    assert "already holds files extract did not write (00001.jpg and 7 more" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in theirs.iterdir()} == before
    crops = tmp_path / "crops"
    assert extract(clip, "--out", tmp_path / "store", "--save-crops", crops) == 0
    assert (crops / "clip" / CROPS_MARKER).is_file() and len(list((crops / "clip").glob("*.jpg"))) == 5
    assert extract(clip, "--out", tmp_path / "store2", "--save-crops", crops) == 0  # its own folder: redone


def spec(scale: float) -> FeatureSpec:
    return FeatureSpec("onnx", 3, {"params": {"scale": scale}})


def test_features_written_under_another_configuration_are_never_read_as_the_new_one(tmp_path):
    """extract --overwrite of one video with other options rewrote spec.json; the other videos' files, made
    under the old options, were then read (and skipped as done) as the new ones."""
    store = FeatureStore(tmp_path)
    store.write_spec(spec(1.0))
    features = VideoFeatures(np.arange(1, 4), np.ones((3, 3), np.float32), np.ones(3, bool))
    store.write("onnx", "a", features)
    store.write("onnx", "b", features)
    store.write_spec(spec(2.0))  # what --overwrite does, then it writes "a" again
    store.write("onnx", "a", features)
    assert store.is_readable("onnx", "a") and not store.is_readable("onnx", "b")
    with pytest.raises(FeatureStoreError, match=r"b\.npz: features of another configuration of 'onnx'"):
        store.read("onnx", "b")
