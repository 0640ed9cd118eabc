"""The shipped default model (assets/affect-gru-mixed): what it learned from, what it reads in a real video,
and that it reproduces its card's figures on the real test labels."""

from __future__ import annotations

import json

import numpy as np
import pytest

from affectstream.core.temporal.checkpoint import read_meta
from affectstream.core.default_model import ASSET_DIR, DEFAULT_FEATURES, default_model_path, resolve_model
from affectstream.core.engine import AffectEngine
from affectstream.core.errors import UserInputError
from affectstream.core.labels import ACTION_UNITS, EXPRESSIONS
from affectstream.core.sources.pacing import run_fast
from affectstream.core.sources.readers import VideoFileSource
from tests.media import shared_file
from affectstream.cli.main import main

FIGURES = ASSET_DIR / "real_labels.json"


def test_default_model_learned_every_task_from_real_labels_and_says_from_which():
    meta = read_meta(default_model_path())
    # One CNN per face (the soup backbone, int8 but its first convolution, with its mirror image) keeps live at
    # 30 fps; imports extract these features unless told otherwise.
    assert meta.feature_names == list(DEFAULT_FEATURES) == ["blendshapes", "expr-cnn-soup-mixed"]
    assert meta.model_config.encoder_kind == "gru" and meta.carry_state
    assert meta.name == "affect-gru-mixed"
    # The method's last step: an ensemble, here of two seeds' GRUs computed as one network.
    assert [m["model"] for m in meta.provenance["merged_from"]] == ["runs/gru-cvx-r/best.safetensors",
                                                                     "runs/gru-cvx1-r/best.safetensors"]
    note = meta.provenance["labels"]
    assert note == ("valence/arousal real (diffusionfer-va); expression real (fer2013, diffusionfer-va); "
                    "action units real (ckplus-au)") and "weak" not in note.lower()
    data = meta.provenance["data"]
    assert data["weak_labels"] is False
    terms = {s["name"]: s["terms"] for s in data["sets"]}
    assert "non-commercial" in terms["ckplus-au"] and terms["diffusionfer-va"] == "CC0 1.0"
    # Its AU thresholds: out of fold over the CK+ folds, capped so that faces raters labelled neutral
    # (FER2013 PublicTest, DiffusionFER val) keep each AU off where any threshold can.
    cv = meta.provenance["au_cross_validation"]
    assert cv["neutral_cap"] == 0.2 and set(cv["neutral_frames"]) == {"fer2013", "diffusionfer-va"}
    assert np.allclose(meta.au_thresholds, [cv["thresholds"][a] for a in ACTION_UNITS])
    # The balancing chosen on validation is recorded with the model.
    assert {s["name"]: s["repeats_in_train"] for s in data["sets"]}["ckplus-au"] > 1
    # Smoothing that smooths: a real window and a live filter that is not the identity.
    assert meta.post.offline_window > 1 and meta.post.causal != {"kind": "ema", "alpha": 1.0}
    assert meta.provenance["smoothing"]["rule"].startswith("strongest filter")
    card = (ASSET_DIR / "MODEL_CARD.md").read_text()
    for must in ("CK+", "non-commercial", "DiffusionFER", "CC0", "FER2013", "not trained on", "spontaneous",
                 "affectstream import-stills", "affectstream train", "affectstream bench labels", "lag"):
        assert must in card, must


def test_resolve_model_prefers_an_explicit_path(tmp_path):
    assert resolve_model(tmp_path / "x.safetensors") == tmp_path / "x.safetensors"
    assert resolve_model(None) == default_model_path()


def test_missing_default_model_is_a_clear_error(monkeypatch, tmp_path):
    import affectstream.core.default_model as dm

    monkeypatch.setattr(dm, "ASSET_DIR", tmp_path)
    with pytest.raises(UserInputError, match="default model not found"):
        dm.default_model_path()


def test_the_retired_first_default_keeps_its_figures_and_weak_labels_named_in_the_default_card():
    card = (ASSET_DIR / "MODEL_CARD.md").read_text()
    earlier = card[card.index("## Earlier models"):]
    assert "`affect-gru-fer2013`" in earlier and "weak rule-made" in earlier
    # Its own metrics.json figures, read before the asset was deleted.
    for figure in ("0.689", "0.664", "0.581", "0.848 / 0.616", "0.910"):
        assert figure in earlier
    assert not (ASSET_DIR.parent / "affect-gru").exists()


def test_the_smile_in_single_face_reads_as_happiness_with_positive_valence_and_smile_aus():
    video = shared_file("videos", "single_face.mp4")
    with AffectEngine.from_checkpoint(default_model_path()) as engine, VideoFileSource(video) as source:
        results = list(run_fast(engine.process, source))
    assert all(len(r.faces) == 1 and r.model == engine.model_name for r in results)
    faces = {r.frame_index: r.faces[0] for r in results}
    # Frames 1-16 (1-based) are neutral, 29-61 a broad smile (looked at frame by frame).
    neutral = [faces[i] for i in range(3, 17)]
    smile = [faces[i] for i in range(29, 62)]
    assert np.mean([f.expression == "Happiness" for f in smile]) >= 0.9
    assert np.mean([f.expression == "Happiness" for f in neutral]) <= 0.2
    assert np.mean([f.valence for f in smile]) > np.mean([f.valence for f in neutral]) + 0.3
    on = lambda group, au: np.mean([f.au_on[ACTION_UNITS.index(au)] for f in group])  # noqa: E731
    # A Duchenne smile with parted lips: cheek raiser, lip-corner puller and lips part on through the smile.
    for au in ("AU6", "AU12", "AU25"):
        assert on(smile, au) >= 0.8, au
    # Brow actions stay off in both; a face at rest switches no AU on (CK+ shows the model no neutral face:
    # its thresholds were capped on faces raters labelled neutral).
    for au in ("AU1", "AU2", "AU4"):
        assert on(smile, au) <= 0.2, au
    for au in ACTION_UNITS:
        assert on(neutral, au) <= 0.2, au


def test_the_shipped_model_reproduces_its_cards_real_label_figures(tmp_path, capsys):
    """The test splits of all three sets through the live path, then the shipped model: the card's figures."""
    for parts in (("fer2013", "fer2013.npz"), ("ckplus-au", "labels.csv"), ("diffusionfer-va", "labels.csv")):
        shared_file(*parts)
    from affectstream.bench.labels import compare

    card = json.loads(FIGURES.read_text())
    out = tmp_path / "stills"
    # The extractors of the import the card was measured on, in its order (the default chain): each extractor's
    # per-frame noise is drawn after the ones before it, so the same chain gives the same frames.
    chain = list(DEFAULT_FEATURES)
    assert main(["import-stills", "--out", str(out), "--splits", "test", "--workers", "2", "--no-progress",
                 "--extractors", *chain]) == 0
    capsys.readouterr()
    result = compare(out, [default_model_path()], "test", progress=False)
    for set_name, entry in card["sets"].items():
        want, got = entry["scores"][0], result["sets"][set_name]["scores"][0]
        for key in ("au_f1_mean", "ccc_valence", "ccc_arousal", "ccc_mean", "expr_accuracy", "expr_macro_f1",
                    "au_on_neutral_mean"):
            if key in want:
                assert got[key] == pytest.approx(want[key], abs=2e-3), (set_name, key)
    assert card["models"][0]["name"] == "affect-gru-mixed"
    # What the card says: ahead of the previous model (weak VA/AU labels) on real AU and VA labels,
    # VA CCC at least 0.85, and the same figures in its text.
    ours = {name: entry["scores"][0] for name, entry in card["sets"].items()}
    previous = {name: entry["scores"][1] for name, entry in card["sets"].items()}
    assert card["models"][1]["name"] == "affect-gru-fer2013"
    assert ours["ckplus-au"]["au_f1_mean"] > previous["ckplus-au"]["au_f1_mean"] + 0.1
    assert ours["diffusionfer-va"]["ccc_mean"] >= 0.85 > previous["diffusionfer-va"]["ccc_mean"]
    assert set(ours["fer2013"]["expr_recall"]) == set(EXPRESSIONS) - {"Other"}
    # Beside the model it replaced (the same frames): its expression figures are no worse.
    replaced = {name: entry["scores"][2] for name, entry in card["sets"].items()}
    assert card["models"][2]["name"] == "affect-gru-soup"
    for set_name in ("fer2013", "diffusionfer-va"):
        assert ours[set_name]["expr_accuracy"] >= replaced[set_name]["expr_accuracy"], set_name
    text = (ASSET_DIR / "MODEL_CARD.md").read_text()
    for value in (ours["ckplus-au"]["au_f1_mean"], ours["diffusionfer-va"]["ccc_mean"],
                  ours["fer2013"]["expr_accuracy"], previous["fer2013"]["expr_accuracy"],
                  ours["fer2013"]["au_on_neutral_mean"], ours["diffusionfer-va"]["au_on_neutral_mean"]):
        assert f"{value:.3f}" in text
