"""A (corrected) results CSV of a video as training labels: each frame's row of one face, as the table says.

The frame's expression label, AU on/off columns and smoothed valence/arousal become its labels; a frame without
that face's row (or with success 0) is missing for every task. The CSV must be of this video: a frame number
past the video's end is refused, naming the file and the frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affectstream.core.labels import ACTION_UNITS, AU_MISSING, EXPR_MISSING, EXPRESSIONS, VA_MISSING
from affectstream.training.annotations import VideoLabels
from affectstream.training.elan_import import AnnotationImportError


def labels_from_results(path: Path, video: str, frames: np.ndarray, face: int) -> VideoLabels:
    from affectstream.core.results.csv_read import read_results_table

    table = read_results_table(path)
    rows = table[(table["success"] == 1) & (table["face_id"] == face)]
    last = int(frames[-1]) if len(frames) else 0
    if len(table) and int(table["frame"].max()) > last:
        raise AnnotationImportError(f"{path}: frame {int(table['frame'].max())} is past the video's last frame "
                                    f"({last}): is it this video's CSV?")
    if rows.empty:
        raise AnnotationImportError(f"{path}: no row of face {face}")
    n = len(frames)
    at = np.searchsorted(frames, rows["frame"].to_numpy(np.int64))
    expr = np.full(n, EXPR_MISSING, np.int64)
    expr[at] = [EXPRESSIONS.index(e) for e in rows["expression"]]
    au = np.full((n, len(ACTION_UNITS)), AU_MISSING, np.int8)
    au[at] = rows[list(ACTION_UNITS)].to_numpy(np.int8)
    va = np.full((n, 2), VA_MISSING, np.float32)
    va[at] = rows[["valence", "arousal"]].to_numpy(np.float32)
    return VideoLabels(video, np.asarray(frames, np.int64), va, expr, au)
