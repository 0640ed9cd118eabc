"""PNG plots of training curves, confusion matrices and per-AU F1 (matplotlib, no display)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from affectstream.core.atomic import atomic_write
from affectstream.core.labels import ACTION_UNITS, EXPRESSIONS


def subplots(*args, **kwargs):
    """(figure, axes) like pyplot.subplots, but a free-standing Figure: no backend is chosen and no
    figure registry is touched, so plotting here changes nothing for the rest of the process."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=kwargs.pop("figsize", None))
    return fig, fig.subplots(*args, **kwargs)


def save_png(fig, path: Path, dpi: int = 110) -> Path:
    """Write a figure as PNG atomically (a free-standing Figure needs no closing)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    with atomic_write(path) as handle:
        handle.write(buffer.getvalue())
    return path


def plot_training_curves(history: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Train loss terms and validation scores per epoch."""
    epochs = [h["epoch"] for h in history]
    fig, (left, right) = subplots(1, 2, figsize=(11, 4))
    for key, label in (("train_loss", "total"), ("train_valence", "valence"), ("train_arousal", "arousal"),
                       ("train_expr", "expression"), ("train_au", "AU")):
        left.plot(epochs, [h[key] for h in history], label=label, lw=2 if key == "train_loss" else 1)
    left.set(xlabel="epoch", ylabel="training loss", title="training loss")
    left.legend(fontsize=8)
    for key, label in (("val_p_mtl", "P_MTL"), ("val_ccc", "mean VA CCC"), ("val_expr_f1", "expression F1"),
                       ("val_au_f1", "mean AU F1")):
        right.plot(epochs, [h[key] for h in history], label=label, lw=2 if key == "val_p_mtl" else 1)
    best = int(np.nanargmax([h["val_p_mtl"] for h in history]))
    right.axvline(epochs[best], color="grey", ls=":", label=f"best (epoch {epochs[best]})")
    right.set(xlabel="epoch", ylabel="validation score", title="validation")
    right.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_png(fig, Path(path))


def plot_evaluation(confusion: np.ndarray, au_f1: Sequence[float], path: str | Path, title: str = "") -> Path:
    """Row-normalised expression confusion matrix beside per-AU F1 bars."""
    fig, (left, right) = subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [1.1, 1]})
    counts = np.asarray(confusion, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    norm = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    left.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    left.set_xticks(range(len(EXPRESSIONS)), EXPRESSIONS, rotation=45, ha="right", fontsize=8)
    left.set_yticks(range(len(EXPRESSIONS)), EXPRESSIONS, fontsize=8)
    for i in range(norm.shape[0]):
        for j in range(norm.shape[1]):
            left.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=6,
                      color="white" if norm[i, j] > 0.5 else "black")
    left.set(xlabel="predicted", ylabel="true", title="expression confusion (row-normalised colour, counts)")
    values = np.nan_to_num(np.asarray(au_f1, dtype=float))
    right.bar(range(len(ACTION_UNITS)), values, color="tab:orange")
    right.set_xticks(range(len(ACTION_UNITS)), ACTION_UNITS, rotation=45, fontsize=8)
    right.set(ylim=(0, 1), ylabel="F1", title=f"AU F1 (mean {np.nanmean(au_f1):.3f})")
    if title:
        fig.suptitle(title)
    return save_png(fig, Path(path))
