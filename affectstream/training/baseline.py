"""A backbone on its own: the argmax of the expression probabilities it already puts in its features.

A temporal model on top of an expression backbone (expr-cnn) should beat that
backbone read frame by frame; this scores the backbone alone on the same frames.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from affectstream.core.errors import UserInputError
from affectstream.core.features.store import FeatureSpec, FeatureStore
from affectstream.core.labels import EXPRESSIONS
from affectstream.training.metrics import confusion_matrix, expr_macro_f1, labelled_class_scores
from affectstream.training.annotations import VideoLabels


def expression_columns(spec: FeatureSpec) -> np.ndarray:
    """Feature columns of p(Neutral) ... p(Other), from the extractor's recorded layout.

    The layout lists blocks in order: ``embedding[256]`` is 256 columns, ``p(Anger)`` one.
    """
    layout = spec.config.get("params", {}).get("layout")
    if not layout:
        raise UserInputError(f"backbone {spec.name!r} records no feature layout: it has no expression probabilities")
    position, found = 0, {}
    for block in layout:
        width = int(block[block.index("[") + 1:-1]) if block.endswith("]") else 1
        if block.startswith("p(") and block.endswith(")"):
            found[block[2:-1]] = position
        position += width
    missing = [e for e in EXPRESSIONS if e not in found]
    if missing or position != spec.dim:
        raise UserInputError(f"backbone {spec.name!r}: its layout has no probability for {missing}"
                             if missing else f"backbone {spec.name!r}: layout covers {position} of {spec.dim} columns")
    return np.array([found[e] for e in EXPRESSIONS])


def backbone_expression_scores(store: FeatureStore, backbone: str, labels: Mapping[str, VideoLabels]) -> dict:
    """Accuracy and macro-F1 of the backbone's own argmax on the labelled frames (with a face)."""
    columns = expression_columns(store.spec(backbone))
    preds, truths = [], []
    for video, lab in labels.items():
        data = store.read(backbone, video)
        row_of = {int(f): k for k, f in enumerate(data.frames)}
        rows = np.array([row_of.get(int(f), -1) for f in lab.frames])
        usable = (rows >= 0) & (lab.expr >= 0)
        usable[usable] &= data.face_found[rows[usable]]
        preds.append(data.features[rows[usable]][:, columns].argmax(axis=1))
        truths.append(lab.expr[usable])
    pred, truth = np.concatenate(preds), np.concatenate(truths)
    cm = confusion_matrix(pred, truth)
    return {"backbone": backbone, "frames": int(len(truth)), "expr_f1": expr_macro_f1(pred, truth),
            "confusion": cm.tolist(), **labelled_class_scores(cm)}
