"""Per-frame results as CSV: one row per face, or one row with success = 0 for a frame without one.

Columns: frame, timestamp_ms, face_id, success, confidence, the box (x0, y0, x1,
y1), valence/arousal raw and smoothed, the 8 expression probabilities
(``p_<Expression>``, ABAW order) and the label, the 12 AU probabilities
(``p_<AU>``) and on/off (``<AU>``, 0/1). Values a faceless row cannot have are
left empty (read as NaN by pandas and numpy.genfromtxt).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterable, Sequence

from core.atomic import write_text_atomic
from core.labels import ACTION_UNITS, EXPRESSIONS
from core.results import FaceAffect, FrameAffect

COLUMNS: tuple[str, ...] = (
    "frame", "timestamp_ms", "face_id", "success", "confidence", "x0", "y0", "x1", "y1",
    "valence_raw", "arousal_raw", "valence", "arousal",
    *[f"p_{name}" for name in EXPRESSIONS], "expression",
    *[f"p_{au}" for au in ACTION_UNITS], *ACTION_UNITS,
)


def _number(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}f}"


def face_row(face: FaceAffect) -> list[str]:
    return [
        str(face.frame_index), str(face.timestamp_ms), str(face.track_id), "1", _number(face.confidence, 3),
        *[_number(v, 1) for v in face.box],
        *[_number(v) for v in (face.valence_raw, face.arousal_raw, face.valence, face.arousal)],
        *[_number(float(p)) for p in face.expr_probs], face.expression,
        *[_number(float(p)) for p in face.au_probs], *["1" if on else "0" for on in face.au_on],
    ]


def frame_rows(result: FrameAffect) -> list[list[str]]:
    if not result.faces:
        return [[str(result.frame_index), str(result.timestamp_ms), "", "0"] + [""] * (len(COLUMNS) - 4)]
    return [face_row(face) for face in result.faces]


def write_results_csv(path: str | Path, results: Iterable[FrameAffect]) -> int:
    """Write all rows atomically; returns the number of data rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for result in results:
        for row in frame_rows(result):
            writer.writerow(row)
            count += 1
    write_text_atomic(path, buffer.getvalue())
    return count


def read_results_csv(path: str | Path) -> list[dict[str, str]]:
    """The rows as dicts of strings (for tests and tools); checks the header."""
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ValueError(f"{path}: not an AffectStream results CSV (header {reader.fieldnames})")
        return list(reader)


def column_values(rows: Sequence[dict[str, str]], column: str) -> list[float]:
    """A numeric column as floats, NaN where empty."""
    return [float(r[column]) if r[column] != "" else float("nan") for r in rows]
