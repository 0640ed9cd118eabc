"""The summary PNG of one annotated video: VA over time, an expression timeline, an AU heat map
with a dot where the AU is on (each AU has its own threshold and hysteresis, so its colour alone does not
say so).

Drawn for the video's main face (affectstream.core.faces.tracking.rank_tracks: the
largest summed box area); frames where it is absent are gaps. The arrays come from results in memory (review mode) or
from a results CSV read back (``annotate``, which streams its rows to disk).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import numpy as np

from affectstream.core.atomic import atomic_write
from affectstream.core.faces.tracking import rank_tracks
from affectstream.core.labels import ACTION_UNITS, EXPRESSIONS
from affectstream.core.results.types import FrameAffect


def box_area(box) -> float:
    return max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)


def main_track(results: Sequence[FrameAffect]) -> int | None:
    ranked = rank_tracks((face.track_id, box_area(face.box)) for r in results for face in r.faces)
    return ranked[0] if ranked else None


def summary_arrays(results: Sequence[FrameAffect]) -> dict[str, np.ndarray]:
    """Per frame of the video: time (s) and the main face's values, NaN where it is absent."""
    n = len(results)
    track = main_track(results)
    out = {"time": np.array([r.timestamp_ms / 1000.0 for r in results]),
           "va_raw": np.full((n, 2), np.nan), "va": np.full((n, 2), np.nan),
           "expr": np.full((n, len(EXPRESSIONS)), np.nan), "au": np.full((n, len(ACTION_UNITS)), np.nan),
           "au_on": np.full((n, len(ACTION_UNITS)), np.nan)}
    for i, result in enumerate(results):
        for face in result.faces:
            if face.track_id == track:
                out["va_raw"][i] = (face.valence_raw, face.arousal_raw)
                out["va"][i] = (face.valence, face.arousal)
                out["expr"][i] = face.expr_probs
                out["au"][i] = face.au_probs
                out["au_on"][i] = face.au_on
    return out


MAX_POINTS = 2000  # more columns than the PNG has pixels show nothing more


def summary_arrays_from_csv(path: str | Path, max_points: int = MAX_POINTS) -> dict[str, np.ndarray]:
    """``summary_arrays`` of a results CSV (the same main face), read in chunks and
    averaged into at most ``max_points`` time bins, so that memory does not grow with the video's length.
    The chunks come from the checked reader: a damaged CSV raises ResultsCsvError naming its first bad value."""
    from affectstream.core.results.csv_read import iter_results_chunks  # pandas: only when a plot is drawn

    expr_columns = [f"p_{e}" for e in EXPRESSIONS]
    au_columns = [f"p_{au}" for au in ACTION_UNITS]
    values = ["valence_raw", "arousal_raw", "valence", "arousal", *expr_columns, *au_columns, *ACTION_UNITS]
    totals: list[tuple[int, float]] = []  # per chunk and face: (id, summed area)
    first = last = None
    for chunk in iter_results_chunks(path):
        if chunk.empty:
            continue
        faces = chunk[chunk["success"] == 1]
        area = (faces["x1"] - faces["x0"]).clip(lower=0) * (faces["y1"] - faces["y0"]).clip(lower=0)
        totals += [(int(k), float(v)) for k, v in area.groupby(faces["face_id"]).sum().items()]
        first = int(chunk["frame"].iloc[0]) if first is None else first
        last = int(chunk["frame"].iloc[-1])
    if first is None:
        raise ValueError(f"{path}: no rows")
    ranked = rank_tracks(totals)
    track = ranked[0] if ranked else None
    bins = min(max_points, last - first + 1)
    width = (last - first + 1) / bins
    time_sum, time_n = np.zeros(bins), np.zeros(bins)
    value_sum, value_n = np.zeros((bins, len(values))), np.zeros(bins)
    for chunk in iter_results_chunks(path):
        at = np.minimum(((chunk["frame"].to_numpy() - first) / width).astype(int), bins - 1)
        np.add.at(time_sum, at, chunk["timestamp_ms"].to_numpy() / 1000.0)
        np.add.at(time_n, at, 1)
        mine = chunk["face_id"].eq(track).fillna(False).to_numpy(bool)  # face_id is missing on faceless rows
        np.add.at(value_sum, at[mine], chunk.loc[mine, values].to_numpy(dtype=float))
        np.add.at(value_n, at[mine], 1)
    keep = time_n > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (value_sum / value_n[:, None])[keep]
    mean[value_n[keep] == 0] = np.nan
    return {"time": (time_sum / np.maximum(time_n, 1))[keep], "va_raw": mean[:, 0:2], "va": mean[:, 2:4],
            "expr": mean[:, 4:4 + len(EXPRESSIONS)], "au": mean[:, 4 + len(EXPRESSIONS):-len(ACTION_UNITS)],
            "au_on": mean[:, -len(ACTION_UNITS):]}


def plot_summary(results: Sequence[FrameAffect], path: str | Path, title: str) -> Path:
    return plot_arrays(summary_arrays(results), path, title)


def plot_summary_csv(csv_path: str | Path, path: str | Path, title: str) -> Path:
    return plot_arrays(summary_arrays_from_csv(csv_path), path, title)


def plot_arrays(data: dict[str, np.ndarray], path: str | Path, title: str) -> Path:
    from matplotlib.figure import Figure  # no pyplot: no process-wide backend or figure registry

    t = data["time"]
    # Each heat-map column is centred on its frame's time, like the VA curve's points.
    half = (t[-1] - t[0]) / (len(t) - 1) / 2 if len(t) > 1 else 0.5
    extent = (t[0] - half, t[-1] + half)
    fig = Figure(figsize=(11, 9))
    ax_va, ax_expr, ax_au = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [1.2, 1, 1.2]})
    for k, (name, colour) in enumerate((("valence", "tab:blue"), ("arousal", "tab:orange"))):
        ax_va.plot(t, data["va_raw"][:, k], color=colour, lw=0.8, alpha=0.35)
        ax_va.plot(t, data["va"][:, k], color=colour, lw=2, label=f"{name} (smoothed; faint: raw)")
    ax_va.axhline(0, color="grey", lw=0.5)
    ax_va.set(ylim=(-1.05, 1.05), ylabel="value")
    ax_va.set_title(title, fontsize=10)
    ax_va.legend(loc="upper right", fontsize=8)
    if np.isnan(data["va"]).all():
        ax_va.text(0.5, 0.5, "no face found in any frame", transform=ax_va.transAxes, ha="center", fontsize=14)

    probs = np.ma.masked_invalid(data["expr"].T)
    ax_expr.imshow(probs, aspect="auto", origin="upper", cmap="Greens", vmin=0, vmax=1, interpolation="nearest",
                   extent=(*extent, len(EXPRESSIONS) - 0.5, -0.5))
    labels = np.where(np.isnan(data["expr"]).any(axis=1), np.nan, np.nanargmax(np.nan_to_num(data["expr"], nan=-1),
                                                                                 axis=1))
    ax_expr.plot(t, labels, "k.", ms=3, label="label")
    ax_expr.set(yticks=range(len(EXPRESSIONS)), yticklabels=EXPRESSIONS, title="expression probabilities and label")

    image = ax_au.imshow(np.ma.masked_invalid(data["au"].T), aspect="auto", origin="upper", cmap="magma",
                         vmin=0, vmax=1, interpolation="nearest", extent=(*extent, len(ACTION_UNITS) - 0.5, -0.5))
    on_at, on_au = np.nonzero(np.nan_to_num(data["au_on"], nan=0.0) >= 0.5)  # on in at least half a bin's frames
    ax_au.plot(t[on_at], on_au, ".", color="tab:cyan", ms=3)
    ax_au.set(yticks=range(len(ACTION_UNITS)), yticklabels=ACTION_UNITS, xlabel="time (s)",
              title="action unit probabilities (dots: on, by each AU's own threshold and hysteresis)")
    # An inset colour bar keeps the three time axes the same width.
    fig.colorbar(image, cax=ax_au.inset_axes([1.01, 0.0, 0.012, 1.0]))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    with atomic_write(path) as handle:
        handle.write(buffer.getvalue())
    return Path(path)
