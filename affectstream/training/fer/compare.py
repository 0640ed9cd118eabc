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


def compare_models(ours, peer, images_u8: np.ndarray, labels: np.ndarray, timing_calls: int = 500) -> list[ComparisonRow]:
    """ours: affectstream.features.expression_cnn.ExpressionCNN; peer: affectstream.training.fer.peer.FerPeer."""
    ours_probs = ours.probs_fer(images_u8)
    peer_probs = peer.predict(images_u8)
    m_ours = fer_metrics(labels, ours_probs.argmax(1))
    m_peer = fer_metrics(labels, peer_probs.argmax(1))
    # Interleave nothing: each model is timed on its own, same faces, same thread count.
    t_ours = time_per_face(lambda f: ours.predict(f), images_u8, calls=timing_calls)
    t_peer = time_per_face(peer.predict_one, images_u8, calls=timing_calls)
    return [
        ComparisonRow(f"expr-cnn (ours, {ours.path.name})", f"48x48 grey, centre 44x44, {passes_text(ours)}",
                      m_ours.accuracy, m_ours.macro_f1, t_ours.median_ms, t_ours.p90_ms, f"onnxruntime, {ours.precision}"),
        ComparisonRow(PEER_NAME, "48x48 resized to 64x64 grey, 1 pass",
                      m_peer.accuracy, m_peer.macro_f1, t_peer.median_ms, t_peer.p90_ms, "ai-edge-litert"),
    ]


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
