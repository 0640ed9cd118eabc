"""The shipped default model (assets/affect-gru): what it is, and what it reads in a real video."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.checkpoint import read_meta
from core.default_model import ASSET_DIR, default_model_path, resolve_model
from core.engine import AffectEngine
from core.errors import UserInputError
from core.labels import EXPRESSIONS
from core.live import run_fast
from core.sources import VideoFileSource
from tests.conftest import shared_file


def test_default_model_is_a_carried_gru_on_blendshapes_and_expr_cnn_fast_with_its_labels_named():
    meta = read_meta(default_model_path())
    assert meta.feature_names == ["blendshapes", "expr-cnn-fast"]  # the fast variant keeps live at 30 fps
    assert meta.model_config.encoder_kind == "gru" and meta.carry_state
    assert meta.name.startswith("affect-gru")
    # The app shows where the labels came from: expression real, VA and AUs weak.
    note = meta.provenance["labels"]
    assert "FER2013" in note and "weak" in note
    card = (ASSET_DIR / "MODEL_CARD.md").read_text()
    for must in ("weak", "PrivateTest", "affectstream train", "affectstream fer-sequences", "not trained on"):
        assert must in card


def test_resolve_model_prefers_an_explicit_path(tmp_path):
    assert resolve_model(tmp_path / "x.safetensors") == tmp_path / "x.safetensors"
    assert resolve_model(None) == default_model_path()


def test_missing_default_model_is_a_clear_error(monkeypatch, tmp_path):
    import core.default_model as dm

    monkeypatch.setattr(dm, "ASSET_DIR", tmp_path)
    with pytest.raises(UserInputError, match="default model not found"):
        dm.default_model_path()


def test_the_smile_in_single_face_reads_as_happiness_with_positive_valence():
    video = shared_file("videos", "single_face.mp4")
    with AffectEngine.from_checkpoint(default_model_path()) as engine, VideoFileSource(video) as source:
        results = list(run_fast(engine.process, source))
    assert all(len(r.faces) == 1 and r.model == engine.model_name for r in results)
    faces = {r.frame_index: r.faces[0] for r in results}
    # Frames 1-16 (1-based) are neutral, 29-61 a broad smile (looked at frame by frame).
    neutral = [faces[i] for i in range(3, 17)]
    smile = [faces[i] for i in range(29, 62)]
    happiness = EXPRESSIONS.index("Happiness")
    assert np.mean([f.expression == "Happiness" for f in smile]) >= 0.9
    assert np.mean([f.expression == "Happiness" for f in neutral]) <= 0.2
    assert min(f.valence for f in smile) > 0.2
    assert np.mean([f.valence for f in smile]) > np.mean([f.valence for f in neutral]) + 0.3
    assert np.mean([f.expr_probs[happiness] for f in smile]) > 0.7
    # AU12 (lip corner puller) is on through the smile and mostly off before it.
    assert np.mean([f.au_on[6] for f in smile]) >= 0.9 and np.mean([f.au_on[6] for f in neutral]) <= 0.2


def test_model_card_metrics_file_matches_the_shipped_model():
    metrics = json.loads((ASSET_DIR / "metrics.json").read_text())
    meta = read_meta(default_model_path())
    assert metrics["model"] == meta.name
    assert metrics["annotations"].endswith("test_set_annotations.txt")  # PrivateTest pseudo-videos
    # Real labels: expression only. Reported, so it must be there and plausible for FER2013.
    test = metrics["metrics_smoothed"]["expr_labelled_classes"]
    assert 0.5 < test["accuracy"] < 0.9 and set(test["recall"]) == set(EXPRESSIONS) - {"Other"}
    assert metrics["baseline"]["backbone"] == "expr-cnn-fast"
