"""Predictions with horizontal-flip test-time augmentation, and the FER2013 metrics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import confusion_matrix, f1_score

from affectstream.core.features.expression_cnn import FER_CLASSES
from affectstream.training.fer.augment import centre_crop


@torch.no_grad()
def predict_probs(model: torch.nn.Module, images_u8: torch.Tensor, device: torch.device | str = "cpu",
                  batch_size: int = 512, flip_tta: bool = True) -> np.ndarray:
    """(N, 48, 48) uint8 -> (N, 7) softmax probabilities in FER order (mean over flips)."""
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, images_u8.shape[0], batch_size):
        x = centre_crop(images_u8[start : start + batch_size]).to(device)
        p = torch.softmax(model(x).float(), 1)
        if flip_tta:
            p = 0.5 * (p + torch.softmax(model(torch.flip(x, dims=[3])).float(), 1))
        out.append(p.cpu())
    model.train(was_training)
    return torch.cat(out).numpy()


@dataclass(frozen=True)
class FerMetrics:
    n: int
    accuracy: float
    macro_f1: float
    per_class_recall: dict[str, float]
    confusion: tuple[tuple[int, ...], ...]  # rows: true class, columns: predicted, FER order

    def to_json(self) -> dict:
        return {
            "n": self.n, "accuracy": self.accuracy, "macro_f1": self.macro_f1,
            "per_class_recall": self.per_class_recall, "confusion": [list(r) for r in self.confusion],
            "classes": list(FER_CLASSES),
        }


def fer_metrics(labels: np.ndarray, predicted: np.ndarray) -> FerMetrics:
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    k = len(FER_CLASSES)
    cm = confusion_matrix(labels, predicted, labels=list(range(k)))
    support = cm.sum(1)
    recall = {c: float(cm[i, i] / support[i]) if support[i] else float("nan") for i, c in enumerate(FER_CLASSES)}
    return FerMetrics(
        n=int(len(labels)),
        accuracy=float((labels == predicted).mean()),
        macro_f1=float(f1_score(labels, predicted, labels=list(range(k)), average="macro", zero_division=0)),
        per_class_recall=recall,
        confusion=tuple(tuple(int(v) for v in row) for row in cm),
    )
