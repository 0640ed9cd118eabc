"""Fixtures shared by the test files: a tiny synthetic ABAW data set and a tiny trained-shape checkpoint."""

from __future__ import annotations

import pytest

from affectstream.training.synthetic import write_synthetic
from tests.engine_fixtures import write_checkpoint
from tests.media import TINY


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A tiny synthetic data set (read-only: tests that change files copy it)."""
    return write_synthetic(tmp_path_factory.mktemp("tiny"), TINY)


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory):
    """A tiny untrained GRU over blendshapes (real shapes, random weights): the engine's plumbing at little cost."""
    return write_checkpoint(tmp_path_factory.mktemp("checkpoint") / "tiny.safetensors")
