"""Plots of a FER2013 run: training curves and the confusion matrix (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from affectstream.core.features.expression_cnn import FER_CLASSES
from affectstream.training.plots import save_png, subplots


def plot_curves(history: Sequence, path: Path) -> None:
    """Train loss, train/PublicTest accuracy and learning rate per epoch."""
    epochs = [h.epoch for h in history]
    fig, (a, b) = subplots(1, 2, figsize=(10, 3.8))
    a.plot(epochs, [h.train_loss for h in history], label="train loss (label-smoothed CE)")
    a.set_xlabel("epoch")
    a.legend(loc="upper right")
    lr = a.twinx()
    lr.plot(epochs, [h.lr for h in history], color="grey", ls=":", label="lr")
    lr.set_ylabel("learning rate (dotted)")
    b.plot(epochs, [h.train_acc for h in history], label="train acc (augmented)")
    b.plot(epochs, [h.val_acc for h in history], label="PublicTest acc (flip TTA)")
    b.set_xlabel("epoch")
    b.grid(alpha=0.3)
    b.legend(loc="lower right")
    fig.suptitle("expr-cnn on FER2013")
    fig.subplots_adjust(wspace=0.45)
    save_png(fig, path)


def plot_confusion(confusion: Sequence[Sequence[int]], path: Path, title: str) -> None:
    """Row-normalised confusion matrix (recall on the diagonal) with counts."""
    cm = np.asarray(confusion, dtype=float)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = subplots(figsize=(6.2, 5.4))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    k = len(FER_CLASSES)
    ax.set_xticks(range(k), FER_CLASSES, rotation=45, ha="right")
    ax.set_yticks(range(k), FER_CLASSES)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{norm[i, j]:.2f}\n{int(cm[i, j])}", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    save_png(fig, path)


def plot_soup(ingredients: Sequence, path: Path) -> None:
    """Each run's PublicTest accuracy alone beside the soup's once that run was tried (greedy, left to right)."""
    names = [Path(i.folder).name for i in ingredients]
    x = np.arange(len(names))
    fig, ax = subplots(figsize=(max(5.0, 1.6 * len(names)), 3.8))
    ax.bar(x - 0.2, [100 * i.public_test_accuracy for i in ingredients], 0.4, label="the run alone")
    ax.bar(x + 0.2, [100 * i.soup_accuracy for i in ingredients], 0.4,
           color=["tab:green" if i.kept else "tab:red" for i in ingredients],
           label="the soup once it was tried (green: kept, red: left out)")
    low = min(min(i.public_test_accuracy, i.soup_accuracy) for i in ingredients)
    high = max(max(i.public_test_accuracy, i.soup_accuracy) for i in ingredients)
    ax.set_ylim(100 * low - 1.0, 100 * high + 1.0)
    ax.set_xticks(x, names, rotation=20, ha="right")
    ax.set_ylabel("PublicTest accuracy, % (flip TTA)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title("greedy weight soup, in the order tried")
    save_png(fig, path)
