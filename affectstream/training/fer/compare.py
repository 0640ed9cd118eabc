"""Side-by-side figures of expr-cnn and the peer on the same faces."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from affectstream.training.fer.evaluate import fer_metrics
from affectstream.training.fer.peer import PEER_NAME
from affectstream.training.fer.timing import time_per_face


@dataclass(frozen=True)
class ComparisonRow:
    model: str
    input: str
    accuracy: float
    macro_f1: float
    ms_per_face: float  # median, one face per call
    p90_ms: float
    params_note: str

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DomainRow:
    """Accuracy of one model on another domain's faces (no timing: the faces differ, the cost does not)."""

    model: str
    accuracy: float
    macro_f1: float

    def to_json(self) -> dict:
        return asdict(self)


def compare_models(ours, peer, images_u8: np.ndarray, labels: np.ndarray, timing_calls: int = 500) -> list[ComparisonRow]:
    """ours: one or several affectstream.core.features.expression_cnn.ExpressionCNN; peer: a FerPeer. Peer last."""
    models = _as_list(ours)
    *scores, peer_scores = _scores(models, peer, images_u8, labels)
    rows = []
    for model, m in zip(models, scores):
        # Interleave nothing: each model is timed on its own, same faces, same thread count.
        t = time_per_face(lambda f: model.predict(f), images_u8, calls=timing_calls)
        rows.append(ComparisonRow(model_name(model), f"48x48 grey, centre 44x44, {passes_text(model)}",
                                  m.accuracy, m.macro_f1, t.median_ms, t.p90_ms, f"onnxruntime, {model.precision}"))
    t_peer = time_per_face(peer.predict_one, images_u8, calls=timing_calls)
    rows.append(ComparisonRow(PEER_NAME, "48x48 resized to 64x64 grey, 1 pass",
                              peer_scores.accuracy, peer_scores.macro_f1, t_peer.median_ms, t_peer.p90_ms, "ai-edge-litert"))
    return rows


def domain_rows(ours, peer, images_u8: np.ndarray, labels: np.ndarray) -> list[DomainRow]:
    """Every model's accuracy and macro-F1 on the same crops of another domain; the peer last."""
    models = _as_list(ours)
    names = [model_name(m) for m in models] + [PEER_NAME]
    return [DomainRow(n, m.accuracy, m.macro_f1) for n, m in zip(names, _scores(models, peer, images_u8, labels))]


def _scores(models: list, peer, images_u8: np.ndarray, labels: np.ndarray) -> list:
    """FER metrics of each model, then of the peer, on the same faces."""
    probs = [m.probs_fer(images_u8) for m in models] + [peer.predict(images_u8)]
    return [fer_metrics(labels, p.argmax(1)) for p in probs]


def model_name(model) -> str:
    return f"expr-cnn (ours, {model.path.parent.name}/{model.path.name})"


def _as_list(ours) -> list:
    return list(ours) if isinstance(ours, (list, tuple)) else [ours]


def passes_text(model) -> str:
    """What one call of an ExpressionCNN runs, e.g. '1 pass' or '2 passes (2 networks)'."""
    passes = model.members * (2 if model.flip_tta else 1)
    what = [f"{model.members} networks"] if model.members > 1 else []
    what += ["mirror image added"] if model.flip_tta else []
    return f"{passes} pass{'es' if passes > 1 else ''}" + (f" ({', '.join(what)})" if what else "")


def format_table(rows: list[ComparisonRow], split_name: str, n: int) -> str:
    lines = [
        f"FER2013 {split_name}, {n} images, one face per call",
        "",
        "| model | input | accuracy | macro-F1 | ms/face (median) | ms/face (p90) | runtime |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(f"| {r.model} | {r.input} | {r.accuracy:.4f} | {r.macro_f1:.4f} | {r.ms_per_face:.2f} | "
                     f"{r.p90_ms:.2f} | {r.params_note} |")
    return "\n".join(lines)


def format_domain_table(rows: list[DomainRow], domain: dict) -> str:
    lines = [
        f"{domain['name']}: {domain['faces_found']} of {domain['stills']} faces found, run-time path crops "
        "(padded, Face Landmarker, five points, FER framing), human labels, 7 classes",
        "",
        "| model | accuracy | macro-F1 |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| {r.model} | {r.accuracy:.4f} | {r.macro_f1:.4f} |" for r in rows]
    return "\n".join(lines)
