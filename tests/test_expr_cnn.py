"""expr-cnn at run time: class mapping, FER framing, the shipped weights, the registered extractor."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectstream.core.features.expression_cnn import (
    DEFAULT_MODEL,
    FER_CLASSES,
    FER_TEMPLATE_48,
    SOUP_INT8_MODEL,
    SOUP_MIXED_MODEL,
    ExpressionCNN,
    ExpressionModelError,
    fer_crop_from_aligned,
    fer_crop_from_points,
    fer_to_abaw_probs,
)
from affectstream.core.faces.alignment import whole_image_as_aligned
from affectstream.core.features.registry import ExtractorError, create_extractor, extractor_config, list_extractors
from affectstream.core.labels import EXPRESSIONS
from tests.media import shared_file

REPO = Path(__file__).resolve().parents[1]
# Each shipped variant: its extractor name, asset folder, networks averaged, whether it adds mirror images, precision.
SHIPPED = {"expr-cnn-soup-int8": (SOUP_INT8_MODEL, 1, True, "int8"),
           "expr-cnn-soup-mixed": (SOUP_MIXED_MODEL, 1, True, "int8 with 1 float node")}


def test_only_the_kept_expr_cnn_models_are_registered_and_the_default_is_the_default_models_backbone():
    from affectstream.core.default_model import DEFAULT_FEATURES

    assert sorted(n for n in list_extractors() if n.startswith("expr-cnn")) == sorted(SHIPPED)
    assert DEFAULT_MODEL == SOUP_MIXED_MODEL and SOUP_MIXED_MODEL.parent.name in DEFAULT_FEATURES
    with pytest.raises(ExtractorError):
        create_extractor("expr-cnn-fast")  # retired: its figures are in the kept cards, not its extractor


def _shipped_model(name: str = "expr-cnn-soup-mixed") -> Path:
    path = SHIPPED[name][0]
    assert path.is_file(), f"the shipped model {path} is missing"
    return path


def test_fer_to_abaw_mapping_is_explicit_and_other_is_zero():
    expected = {"angry": "Anger", "disgust": "Disgust", "fear": "Fear", "happy": "Happiness", "sad": "Sadness",
                "surprise": "Surprise", "neutral": "Neutral"}
    for i, name in enumerate(FER_CLASSES):
        onehot = np.eye(7, dtype=np.float32)[i]
        abaw = fer_to_abaw_probs(onehot)
        assert abaw.shape == (8,) and EXPRESSIONS[int(abaw.argmax())] == expected[name]
    probs = np.random.default_rng(0).dirichlet(np.ones(7), size=5).astype(np.float32)
    mapped = fer_to_abaw_probs(probs)
    assert np.allclose(mapped.sum(1), 1.0) and np.all(mapped[:, EXPRESSIONS.index("Other")] == 0)
    with pytest.raises(ValueError):
        fer_to_abaw_probs(np.ones(8))


@pytest.mark.parametrize("scale", [1.3, 6.0])  # a small face, and a large one (area-filtered path)
def test_fer_crop_puts_the_five_points_on_the_template(scale):
    angle = np.deg2rad(12)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = (FER_TEMPLATE_48 - 24) @ rot.T * scale + np.array([320.0, 240.0])
    frame = np.zeros((480, 640, 3), np.uint8)
    nose = points[2]
    cv2.circle(frame, (int(round(nose[0])), int(round(nose[1]))), int(max(2, scale * 1.5)), (255, 255, 255), -1)
    crop = fer_crop_from_points(frame, points)
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    ys, xs = np.nonzero(crop > 100)
    assert abs(xs.mean() - FER_TEMPLATE_48[2, 0]) < 1.0 and abs(ys.mean() - FER_TEMPLATE_48[2, 1]) < 1.0


def test_fer_crop_from_an_aligned_crop():
    aligned = whole_image_as_aligned(np.full((112, 112, 3), 90, np.uint8), 112, grey=True)
    crop = fer_crop_from_aligned(aligned)
    assert crop.shape == (48, 48) and np.all(crop == 90)  # border repeated, not black


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ExpressionModelError, match="not found.*train-fer"):
        ExpressionCNN(tmp_path / "none.onnx")
    with pytest.raises(ExtractorError, match="not found"):
        create_extractor("expr-cnn-soup-mixed", model=tmp_path / "none.onnx")


def _shipped_weights(name: str):
    from affectstream.training.fer.loop import load_weights

    return load_weights(_shipped_model(name).parent / "expr_cnn.safetensors")


def _float_graph(net, name: str, folder: Path) -> Path:
    """Shipped weights exported afresh as a float graph (what an int8 graph was quantized from)."""
    from affectstream.training.fer.export import export_onnx

    return export_onnx(net, folder / "float32.onnx", flip_tta=SHIPPED[name][2])


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_onnx_agrees_with_shipped_torch_weights(name, tmp_path):
    from affectstream.training.fer.export import check_onnx

    path, members, flip_tta, precision = SHIPPED[name]
    net = _shipped_weights(name)
    session = ExpressionCNN(path)
    assert (session.members, session.flip_tta, session.precision) == (members, flip_tta, precision)
    assert len(getattr(net, "members", [net])) == members
    faces = np.random.default_rng(0).integers(0, 256, (24, 48, 48)).astype(np.uint8)
    faces[:12] = np.stack([cv2.GaussianBlur(f, (0, 0), 3) for f in faces[:12]])  # smoother, more face-like inputs
    # A float graph must equal torch; an int8 one is compared with its float graph on real faces (next test).
    graph = path if precision == "float32" else _float_graph(net, name, tmp_path)
    check = check_onnx(net, graph, faces, flip_tta=flip_tta)
    assert check.ok, check


@pytest.mark.parametrize("name", [n for n in sorted(SHIPPED) if SHIPPED[n][3].startswith("int8")])
def test_shipped_int8_graph_agrees_with_the_float_graph_of_its_weights(name, tmp_path):
    """On 600 real PrivateTest faces: the class the float graph gives, almost always, and close probabilities."""
    from affectstream.training.fer.data import load_fer2013
    from affectstream.training.fer.quantize import check_int8

    faces = load_fer2013(shared_file("fer2013", "fer2013.npz"))["PrivateTest"].images.numpy()[:600]
    check = check_int8(_float_graph(_shipped_weights(name), name, tmp_path), _shipped_model(name), faces)
    assert check.ok and check.argmax_agreement >= 0.97, check
    assert check.mean_abs_diff_probs < 0.01, check


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_weights_reproduce_the_cards_privatetest_accuracy(name):
    """On the card's fixed sample (1,000 PrivateTest faces, seed 0): the shipped ONNX gives the card's figure."""
    from affectstream.training.fer.data import load_fer2013

    test = load_fer2013(shared_file("fer2013", "fer2013.npz"))["PrivateTest"]
    assets = _shipped_model(name).parent
    metrics = json.loads((assets / "metrics.json").read_text())
    sample = metrics["runtime_path"]["sample"]
    indices = np.sort(np.random.default_rng(0).choice(len(test), sample, replace=False))
    model = ExpressionCNN(_shipped_model(name), threads=2)
    images, labels = test.images.numpy()[indices], test.labels.numpy()[indices]
    probs = np.concatenate([model.predict(images[i : i + 500]).probs_fer for i in range(0, len(images), 500)])
    accuracy = float((probs.argmax(1) == labels).mean())
    assert metrics["private_test"]["n"] == len(test) == 3589 and sample == 1000
    assert accuracy == pytest.approx(metrics["runtime_path"]["accuracy_direct_whole_sample"], abs=0.002)
    # The sample stands for the whole split: within sampling error of the full-split figure.
    assert accuracy == pytest.approx(metrics["private_test"]["accuracy"], abs=0.03)
    card = (assets / "MODEL_CARD.md").read_text()
    assert card.startswith(f"# {name}:") and f"{100 * metrics['private_test']['accuracy']:.2f}%" in card
    assert metrics.get("precision", "float32") == model.precision == SHIPPED[name][3]
    if name == "expr-cnn-soup-mixed":  # the 72% target, on the whole split (speed: `bench fer`)
        assert metrics["private_test"]["accuracy"] >= 0.72


def test_the_mixed_graph_keeps_exactly_its_recorded_nodes_in_float():
    import onnx

    path = _shipped_model("expr-cnn-soup-mixed")
    recorded = json.loads((path.parent / "metrics.json").read_text())["quantization"]["float_nodes"]
    graph = onnx.load(str(path)).graph
    # Read from the graph here rather than through quantize.float_nodes_of, the check that made it.
    made_by = {out: n.op_type for n in graph.node for out in n.output}
    float_nodes = [n.name for n in graph.node if n.op_type in ("Conv", "Gemm") and n.input[1] not in made_by]
    assert float_nodes == recorded == ["/stem/stem.0/Conv"]


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_extractor_is_registered_and_gives_embedding_plus_abaw_probs(name):
    assert name in list_extractors()
    with create_extractor(name) as ext:
        embedding = ExpressionCNN(_shipped_model(name)).embedding_dim
        assert embedding == 256 * SHIPPED[name][1]  # the members' embeddings side by side
        assert ext.dim == embedding + 8 == extractor_config(name).dim
        assert ext.config.params["model"] == str(_shipped_model(name))
        assert ext.config.input == "aligned" and ext.config.grey
        rng = np.random.default_rng(1)
        crops = [whole_image_as_aligned(cv2.GaussianBlur(rng.integers(0, 256, (112, 112)).astype(np.uint8), (0, 0), 2),
                                        112, grey=True) for _ in range(3)]
        one = ext.extract(None, None, crops[0])
        batch = ext.extract_batch([None] * 3, [None] * 3, crops)
        assert one.shape == (embedding + 8,) and one.dtype == np.float32
        assert np.allclose(batch[0], one, atol=1e-5)
        probs = batch[:, embedding:]
        assert np.allclose(probs.sum(1), 1.0, atol=1e-5) and np.all(probs[:, EXPRESSIONS.index("Other")] == 0)
        assert ext.config.params["sha256"] and ext.config.params["layout"][0] == f"embedding[{embedding}]"
        assert ext.config.params["layout"][1:] == [f"p({e})" for e in EXPRESSIONS]


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_a_real_smiling_face_through_the_live_path_is_happiness(name):
    image = cv2.imread(str(shared_file("images", "0-f15-hao-ph.jpg")))
    from affectstream.core.faces.landmarker import FaceAnalyzer

    with FaceAnalyzer.create(tile_search=0) as analyzer:
        face = analyzer.analyze(image).largest()
    assert face is not None
    with create_extractor(name) as ext:
        features = ext.extract(image, face, None)
    assert EXPRESSIONS[int(features[-8:].argmax())] == "Happiness"


def test_a_card_below_the_accuracy_target_does_not_credit_flip_tta_with_reaching_it():
    from affectstream.training.fer.card import render_card

    folder = REPO / "affectstream" / "assets" / "expr-cnn-soup-int8"  # 71.97%: below the 72% target
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["shipped_flip_tta"] and metrics["private_test"]["accuracy"] < 0.72
    card = render_card(folder)
    assert "takes this model to the accuracy target" not in card
    assert "Neither graph reaches the accuracy target" in card
    assert "PublicTest, the selection split" in card  # the mirror image was chosen on PublicTest


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_the_shipped_card_is_what_its_json_files_render(name):
    """Cards are rendered from the measured JSON files and notes.md, never edited by hand: a change to the renderer,
    the notes or the figures shows here until `train-fer card` writes the card again."""
    from affectstream.training.fer.card import render_card

    folder = _shipped_model(name).parent
    assert render_card(folder) == (folder / "MODEL_CARD.md").read_text()
