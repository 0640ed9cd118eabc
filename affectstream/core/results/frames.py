"""The results table and the engine's typed results, each turned into the other.

``read_frame_results`` is the one way back from an ``annotate`` CSV to FrameAffect values (review, export,
the summary plot): the file is read and checked by ``csv_read.read_results_table``, then typed here.
``table_from_frames`` is the other direction without a file: the rows ``csv_file`` would write, with the
columns, dtypes and values ``read_results_table`` would give for them (the live API's ``to_frame``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from affectstream.core.labels import ACTION_UNITS, EXPRESSIONS
from affectstream.core.results.csv_file import HEADER, METADATA_COLUMNS, RowMaker
from affectstream.core.results.csv_read import (FLOAT_COLUMNS, INT_COLUMNS, NULLABLE_INT_COLUMNS, column_dtypes,
                                                read_results_table)
from affectstream.core.results.types import FaceAffect, FrameAffect, StageTimes

_EXPR = [f"p_{e}" for e in EXPRESSIONS]
_AU = [f"p_{au}" for au in ACTION_UNITS]
_BOX = ["x0", "y0", "x1", "y1"]
# Digits the CSV keeps per column (csv_file.face_row): the table rounds as the file does.
_DIGITS = {"confidence": 3, **{c: 1 for c in _BOX}}


def read_frame_results(path: str | Path, source: str | None = None) -> list[FrameAffect]:
    """The FrameAffect values of an ``annotate`` CSV, one per frame (ResultsCsvError naming the file, line and
    column of its first bad value when it is not one). ``source`` names them (default: the file's stem)."""
    path = Path(path)
    return frames_from_table(read_results_table(path), source or path.stem, f"CSV {path.name}")


def frames_from_table(table: pd.DataFrame, source: str, model: str) -> list[FrameAffect]:
    """A checked results table as FrameAffect values (landmarks, stage times and track lengths are not in it)."""
    faces = _faces(table)
    # Rows come in frame order and the rows of a frame share its time (the reader checked both), so a frame
    # starts where the frame number changes, and its faces are those of its rows with success=1.
    frame = table["frame"].to_numpy()
    starts = np.flatnonzero(np.r_[True, frame[1:] != frame[:-1]]) if len(frame) else np.zeros(0, np.int64)
    faces_before = np.r_[0, np.cumsum(table["success"].to_numpy())]
    bounds = faces_before[np.r_[starts, len(frame)]].tolist()
    times = StageTimes()  # frozen: one for every frame (a table has no stage times)
    stamps = table["timestamp_ms"].to_numpy()[starts].tolist()
    return [FrameAffect(number, stamp, source, model, tuple(faces[first:end]), times)
            for number, stamp, first, end in zip(frame[starts].tolist(), stamps, bounds[:-1], bounds[1:])]


def _faces(table: pd.DataFrame) -> list[FaceAffect]:
    """A FaceAffect per row with a face, in row order."""
    rows = table[table["success"] == 1]
    expr = rows[_EXPR].to_numpy(np.float32)
    au = rows[_AU].to_numpy(np.float32)
    au_on = rows[list(ACTION_UNITS)].to_numpy(np.int64) == 1
    boxes = rows[_BOX].to_numpy(np.float64).tolist()
    # Plain Python values (tolist), as the engine gives them: no numpy scalars in the dataclasses.
    value = {c: rows[c].tolist() for c in ("frame", "timestamp_ms", "face_id", "confidence", "valence_raw",
                                           "arousal_raw", "valence", "arousal", "expression")}
    return [FaceAffect(frame_index=value["frame"][k], timestamp_ms=value["timestamp_ms"][k],
                       track_id=value["face_id"][k], box=tuple(boxes[k]), landmarks=None,
                       confidence=value["confidence"][k], valence_raw=value["valence_raw"][k],
                       arousal_raw=value["arousal_raw"][k], valence=value["valence"][k], arousal=value["arousal"][k],
                       expr_probs=expr[k], expression=value["expression"][k], au_probs=au[k], au_on=au_on[k],
                       track_frames=0)
            for k in range(len(rows))]


def table_from_frames(frames: Iterable[FrameAffect], maker: RowMaker) -> pd.DataFrame:
    """The rows of ``frames`` (one per face, or one faceless row per frame without one) as the table
    ``read_results_table`` gives for the CSV ``csv_file`` writes of them: same columns, dtypes and values."""
    rows = [_row(frame, face) for frame in frames for face in (frame.faces or (None,))]
    cells = dict(zip(METADATA_COLUMNS, maker.cells()))
    columns = {column: [row.get(column) for row in rows] for column in HEADER if column not in METADATA_COLUMNS}
    dtypes = column_dtypes()
    data: dict[str, object] = {}
    for column in HEADER:
        if column in METADATA_COLUMNS:
            data[column] = pd.Series([cells[column]] * len(rows), dtype=dtypes[column])
        elif column in INT_COLUMNS:
            data[column] = np.asarray(columns[column], dtype=np.int64)
        elif column in NULLABLE_INT_COLUMNS:
            data[column] = pd.array(columns[column], dtype="Int64")
        elif column in FLOAT_COLUMNS:
            data[column] = np.asarray([np.nan if v is None else v for v in columns[column]], dtype=np.float64)
        else:  # expression: text, missing on a faceless row
            data[column] = pd.Series([np.nan if v is None else v for v in columns[column]], dtype=dtypes[column])
    return pd.DataFrame(data, index=pd.RangeIndex(len(rows)))


def _rounded(value: float, digits: int = 4) -> float:
    """The value as the CSV writes it (csv_file's fixed digits) and reads it back."""
    return float(f"{float(value):.{digits}f}")


def _row(frame: FrameAffect, face: FaceAffect | None) -> dict[str, object]:
    if face is None:
        return {"frame": frame.frame_index, "timestamp_ms": frame.timestamp_ms, "success": 0}
    row: dict[str, object] = {"frame": face.frame_index, "timestamp_ms": face.timestamp_ms,
                              "face_id": int(face.track_id), "success": 1, "expression": face.expression}
    row["confidence"] = _rounded(face.confidence, _DIGITS["confidence"])
    row.update({c: _rounded(v, _DIGITS[c]) for c, v in zip(_BOX, face.box)})
    for column in ("valence_raw", "arousal_raw", "valence", "arousal"):
        row[column] = _rounded(getattr(face, column))
    row.update({c: _rounded(p) for c, p in zip(_EXPR, face.expr_probs)})
    row.update({c: _rounded(p) for c, p in zip(_AU, face.au_probs)})
    row.update({au: int(bool(on)) for au, on in zip(ACTION_UNITS, face.au_on)})
    return row
