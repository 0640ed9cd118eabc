"""A results table in the layout of OpenFace 2's per-frame CSV, for tools written to read those.

OpenFace 2 writes ``frame, face_id, timestamp, confidence, success`` and then,
per action unit, an intensity ``AUxx_r`` (0-5) and an occurrence ``AUxx_c``
(0/1), with ", " between fields. AffectStream predicts occurrence only, so only
the ``AUxx_c`` columns are written (from the on/off columns, hysteresis
included); an intensity column filled with probabilities would be read as FACS
intensity, which it is not. AU24 is not among OpenFace's AUs but is written as
``AU24_c`` like the others. A frame without a face is one row with success 0,
face_id 0, confidence 0 and every AU 0, as OpenFace writes it.
"""

from __future__ import annotations

import pandas as pd

from affectstream.core.labels import ACTION_UNITS

OPENFACE_SEPARATOR = ", "


def openface_column(au: str) -> str:
    """``AU1`` -> ``AU01_c``: OpenFace names AUs with two digits."""
    return f"AU{int(au[2:]):02d}_c"


def openface_table(results: pd.DataFrame) -> pd.DataFrame:
    """A checked results table (csv_read.read_results_table) as OpenFace 2's columns, row for row."""
    face = results["success"] == 1
    table = pd.DataFrame({
        "frame": results["frame"].astype(int),
        "face_id": results["face_id"].where(face, 0).astype(int),
        "timestamp": (results["timestamp_ms"] / 1000.0).round(3),
        "confidence": results["confidence"].where(face, 0.0).astype(float).round(3),
        "success": results["success"].astype(int),
    })
    for au in ACTION_UNITS:
        table[openface_column(au)] = results[au].where(face, 0).fillna(0).astype(int)
    return table


def openface_text(results: pd.DataFrame) -> str:
    """The CSV text, fields separated by ", " as OpenFace 2 separates them."""
    table = openface_table(results)
    lines = [OPENFACE_SEPARATOR.join(table.columns)]
    for row in table.itertuples(index=False):
        lines.append(OPENFACE_SEPARATOR.join(_field(v) for v in row))
    return "\n".join(lines) + "\n"


def _field(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
