"""Damaged feature files: clear errors naming the file, and `extract` redoing them (issue 13, A)."""

from __future__ import annotations

import numpy as np
import pytest

from affectstream.core.errors import UserInputError
from affectstream.core.features.store import FeatureSpec, FeatureStore, FeatureStoreError, VideoFeatures
from affectstream.jobs.extract import is_done


def small_store(tmp_path) -> FeatureStore:
    store = FeatureStore(tmp_path / "store")
    store.write_spec(FeatureSpec("toy", 3))
    frames = np.arange(1, 41)
    store.write("toy", "clip", VideoFeatures(frames, np.ones((40, 3)), np.ones(40, bool)))
    return store


@pytest.mark.parametrize("keep", [0, 10, 200, -40], ids=["zero-byte", "header", "middle", "tail-cut"])
def test_truncated_file_is_a_store_error_naming_the_file(tmp_path, keep):
    store = small_store(tmp_path)
    path = store.video_path("toy", "clip")
    whole = path.read_bytes()
    path.write_bytes(whole[:keep])
    with pytest.raises(FeatureStoreError, match=r"clip\.npz.*re-run `affectstream extract`") as caught:
        store.read("toy", "clip")
    assert isinstance(caught.value, UserInputError)
    assert str(path) in str(caught.value)


def test_corrupted_bytes_are_a_store_error(tmp_path):
    store = small_store(tmp_path)
    path = store.video_path("toy", "clip")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a bad CRC inside the zip
    path.write_bytes(bytes(data))
    with pytest.raises(FeatureStoreError, match="damaged"):
        store.read("toy", "clip")


def test_extract_redoes_a_damaged_file(tmp_path):
    store = small_store(tmp_path)
    assert is_done(store, ["toy"], "clip")
    store.video_path("toy", "clip").write_bytes(b"")
    assert store.has("toy", "clip") and not store.is_readable("toy", "clip")
    assert not is_done(store, ["toy"], "clip")


@pytest.mark.parametrize("frames, words", [([1, 2, 3, 3, 5], "frame 3 is repeated"),
                                           ([1, 2, 4, 3, 5], "frame 3 is out of order")])
def test_repeated_or_unordered_frames_are_an_error_naming_the_file(tmp_path, frames, words):
    store = small_store(tmp_path)
    path = store.video_path("toy", "clip")
    # Written behind the store's back, as an older or foreign tool might have.
    np.savez(path, frames=np.array(frames, np.int64), features=np.zeros((5, 3), np.float32),
             face_found=np.ones(5, bool))
    with pytest.raises(FeatureStoreError, match=words) as caught:
        store.read("toy", "clip")
    assert str(path) in str(caught.value)
    assert not is_done(store, ["toy"], "clip")
    with pytest.raises(FeatureStoreError, match="strictly increasing"):
        store.read_concat(["toy"], "clip")
