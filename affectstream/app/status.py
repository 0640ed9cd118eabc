"""Status-bar text: stream figures and the model's name and provenance."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from affectstream.core.temporal.checkpoint import UNFINISHED_KEY


@dataclass(frozen=True)
class StreamStats:
    fps: float = 0.0  # results per second over the last interval
    latency_ms: float | None = None  # median capture-to-result time over the last interval
    engine_dropped: int = 0  # frames the engine skipped while busy
    display_dropped: int = 0  # results the screen never showed (the GUI took a newer one)
    faces: int = 0


def stats_text(stats: StreamStats, paused: bool = False) -> str:
    latency = "-" if stats.latency_ms is None else f"{stats.latency_ms:.0f} ms"
    state = "paused · " if paused else ""
    return (f"{state}{stats.fps:.1f} fps · latency {latency} · dropped {stats.engine_dropped} "
            f"(engine) {stats.display_dropped} (display) · faces {stats.faces}")


LABELS_MAX_CHARS = 100


def describe_provenance(provenance: dict[str, Any]) -> str:
    """One line on where the model comes from: its training data, epoch and validation score."""
    if not provenance:
        return "no provenance recorded"
    parts = []
    labels = provenance.get("labels")
    if isinstance(labels, str) and labels:
        # Which labels were real and which weak matters more than the file name, and the
        # status bar is narrow: details in parentheses go, the tooltip has the whole note.
        labels = re.sub(r"\s*\([^()]*\)", "", labels).strip()
        parts.append(labels if len(labels) <= LABELS_MAX_CHARS else labels[:LABELS_MAX_CHARS - 1] + "…")
    train = provenance.get("train_annotations") or provenance.get("trained_on") or provenance.get("data")
    if isinstance(train, str) and not parts:
        parts.append(f"trained on {Path(train).name or train}")
    if "epoch" in provenance:
        parts.append(f"epoch {provenance['epoch']}")
    metrics = provenance.get("val_metrics_smoothed") or provenance.get("val_metrics_raw")
    if isinstance(metrics, dict) and isinstance(metrics.get("p_mtl"), (int, float)):
        parts.append(f"val P_MTL {metrics['p_mtl']:.3f}")
    if not parts:
        # An unknown layout: its first few plain values.
        plain = [(k, v) for k, v in provenance.items() if isinstance(v, (str, int, float, bool))]
        parts = [f"{k} {v}" for k, v in plain[:3]] or [", ".join(sorted(provenance)[:4])]
    return ", ".join(parts)


def plain_tooltip(text: str) -> str:
    """A tooltip that shows ``text`` as it is: Qt renders tooltips that look like HTML as rich text, and a
    checkpoint's name, path or provenance is whatever its author wrote (``<b>evil</b>`` must stay literal)."""
    return f"<p style='white-space:pre-wrap'>{html.escape(text)}</p>"


def provenance_tooltip(provenance: dict[str, Any]) -> str:
    text = json.dumps(provenance, indent=1, default=str)
    return text if len(text) < 4000 else text[:4000] + "\n…"


def model_text(name: str, runtime: str, provenance: dict[str, Any], fallback: str = "") -> str:
    where = f"{runtime} (fallback: {fallback})" if fallback else runtime
    unfinished = " · training unfinished, no smoothing" if UNFINISHED_KEY in provenance else ""
    return f"model {name} · {describe_provenance(provenance)}{unfinished} · {where}"
