"""Per-frame results as CSV: one row per face, or one row with success = 0 for a frame without one.

Columns: frame (1-based, the ABAW convention), timestamp_ms (from 0 at the
video's first frame), face_id, success, confidence, the box (x0, y0, x1, y1),
valence/arousal raw and smoothed, the 8 expression probabilities
(``p_<Expression>``, ABAW order) and the label, the 12 AU probabilities
(``p_<AU>``) and on/off (``<AU>``, 0/1), then three columns saying what made
the row: ``model`` (its name), ``model_sha256`` (the first 16 hex digits of the
checkpoint file's SHA-256) and ``settings`` (the options that change results).
Values a faceless row cannot have are left empty (read as NaN by pandas and
numpy.genfromtxt). Every row carries its maker, so tables of several videos or
models concatenated in pandas stay unambiguous; CSVs written before these
columns existed are still read.

Reading one back is ``affectstream.core.results.csv_read``'s job: the one reader, which checks every value.
``iter_rows`` here only walks the rows as text, checking their shape (to peek at the first row).

``ResultsCsvWriter`` streams rows to a temporary file beside the target, so
memory does not grow with the video, and moves it into place only when asked
(``commit``); ``replace_va`` rewrites the smoothed valence/arousal of chosen
rows on the way (centred smoothing needs the whole track first).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

import numpy as np

from affectstream.core.atomic import atomic_write, named_after_output, writable_target, write_text_atomic
from affectstream.core.errors import UserInputError
from affectstream.core.labels import ACTION_UNITS, EXPRESSIONS
from affectstream.core.results.types import FaceAffect, FrameAffect

COLUMNS: tuple[str, ...] = (
    "frame", "timestamp_ms", "face_id", "success", "confidence", "x0", "y0", "x1", "y1",
    "valence_raw", "arousal_raw", "valence", "arousal",
    *[f"p_{name}" for name in EXPRESSIONS], "expression",
    *[f"p_{au}" for au in ACTION_UNITS], *ACTION_UNITS,
)
METADATA_COLUMNS: tuple[str, ...] = ("model", "model_sha256", "settings")
HEADER: tuple[str, ...] = COLUMNS + METADATA_COLUMNS
_VALENCE, _AROUSAL = COLUMNS.index("valence"), COLUMNS.index("arousal")


class ResultsCsvError(UserInputError):
    """A file that is not a readable AffectStream results CSV; the message names the file and line."""


@dataclass(frozen=True)
class RowMaker:
    """What made the rows: written into the metadata columns of every row."""

    model: str = ""
    model_sha256: str = ""  # the checkpoint's SHA-256 (hex); the CSV keeps its first 16 digits
    settings: str = ""  # e.g. "smoothing=centred(11);max_faces=1"

    def cells(self) -> list[str]:
        return [self.model, self.model_sha256[:16], self.settings]


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


def write_results_csv(path: str | Path, results: Iterable[FrameAffect], maker: RowMaker | None = None) -> int:
    """Write all rows atomically; returns the number of data rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    count = 0
    for result in results:
        cells = (maker or RowMaker(model=result.model)).cells()
        for row in frame_rows(result):
            writer.writerow(row + cells)
            count += 1
    write_text_atomic(path, buffer.getvalue())
    return count


class ResultsCsvWriter:
    """Rows streamed to a temporary file beside ``path``; ``commit`` moves them into place atomically.

    Nothing appears at ``path`` before ``commit``; ``close`` without it removes the
    temporary file. Use as a context manager.
    """

    def __init__(self, path: str | Path, maker: RowMaker) -> None:
        self.path = writable_target(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with named_after_output(self.path):
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".rows.tmp", dir=self.path.parent)
        self._tmp = Path(tmp)
        self._handle = os.fdopen(fd, "w", newline="")
        self._writer = csv.writer(self._handle, lineterminator="\n")
        self._writer.writerow(HEADER)
        self._cells = maker.cells()
        self.rows = 0

    def write(self, result: FrameAffect) -> list[int]:
        """Append the frame's rows; returns their row numbers (0-based, header excluded)."""
        first = self.rows
        for row in frame_rows(result):
            self._writer.writerow(row + self._cells)
            self.rows += 1
        return list(range(first, self.rows))

    def commit(self, va: np.ndarray | None = None) -> int:
        """Move the rows into place; ``va`` (rows, 2) rewrites the smoothed valence/arousal (NaN: keep)."""
        with named_after_output(self.path):
            return self._commit(va)

    def _commit(self, va: np.ndarray | None) -> int:
        self._handle.close()
        if va is not None:
            with open(self._tmp, newline="") as source, atomic_write(self.path, "w") as handle:
                reader, writer = csv.reader(source), csv.writer(handle, lineterminator="\n")
                writer.writerow(next(reader))
                for index, row in enumerate(reader):
                    if not np.isnan(va[index, 0]):
                        row[_VALENCE], row[_AROUSAL] = _number(va[index, 0]), _number(va[index, 1])
                    writer.writerow(row)
            self._tmp.unlink()
        else:
            with open(self._tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.chmod(self._tmp, 0o644)
            os.replace(self._tmp, self.path)
        return self.rows

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()

    def __enter__(self) -> "ResultsCsvWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_header(path: str | Path, header: Sequence[str] | None) -> tuple[str, ...]:
    """The header of a results CSV (this version's, or the one before the metadata columns)."""
    if header is None:
        raise ResultsCsvError(f"{path}: empty file, not an AffectStream results CSV")
    header = tuple(header)
    if header not in (HEADER, COLUMNS):
        shown = ",".join(header)
        shown = shown if len(shown) <= 80 else shown[:79] + "…"
        raise ResultsCsvError(f"{path}:1: not an AffectStream results CSV (line 1 is '{shown}', "
                              "expected the header written by `affectstream annotate`)")
    return header


def is_results_csv(path: str | Path) -> bool:
    """Whether ``path`` starts with the header `annotate` writes (read as ``iter_rows`` reads it)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            check_header(path, next(csv.reader(handle), None))
    except (OSError, UnicodeDecodeError, csv.Error, ResultsCsvError):
        return False
    return True


def iter_rows(path: str | Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row as strings) of each data row, after checking the header, the number of fields,
    frame order and the success flag; unreadable files raise ResultsCsvError naming file and line."""
    line = 1
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:  # -sig: a spreadsheet's BOM
            reader = csv.reader(handle)
            header = check_header(path, next(reader, None))
            previous = None
            for fields in reader:
                line = reader.line_num
                if not fields:
                    continue  # a blank line (e.g. an editor's extra newline at the end)
                if len(fields) != len(header):
                    raise ResultsCsvError(f"{path}:{line}: {len(fields)} fields instead of {len(header)} "
                                          "(the file is cut short or the row was edited)")
                row = dict(zip(header, fields))
                frame = whole_number(path, line, row, "frame")
                whole_number(path, line, row, "timestamp_ms")
                if previous is not None and frame < previous:
                    raise ResultsCsvError(f"{path}:{line}: frame {frame} after frame {previous} "
                                          "(rows must be in frame order)")
                if row["success"] not in ("0", "1"):
                    raise ResultsCsvError(f"{path}:{line}: success is '{row['success']}', not 0 or 1")
                previous = frame
                yield line, row
    except UnicodeDecodeError as exc:
        raise ResultsCsvError(f"{path}: not a text file ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise ResultsCsvError(f"{path}:{line}: {exc}") from None
    except OSError as exc:
        raise ResultsCsvError(f"{path}: cannot read it ({exc.strerror or exc})") from None


def whole_number(path: str | Path, line: int, row: Mapping[str, str], key: str) -> int:
    try:
        return int(row[key])
    except ValueError:
        raise ResultsCsvError(f"{path}:{line}: {key} is '{row[key]}', not a whole number") from None


def read_results_csv(path: str | Path) -> list[dict[str, str]]:
    """The rows as dicts of strings (for tests and tools), after the checks of ``csv_read.read_results_table``."""
    from affectstream.core.results.csv_read import read_results_table  # it builds on this module

    read_results_table(path)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return [dict(zip(header, fields)) for fields in reader if len(fields) == len(header)]  # blank lines: no


def column_values(rows: Sequence[dict[str, str]], column: str) -> list[float]:
    """A numeric column as floats, NaN where empty."""
    return [float(r[column]) if r[column] != "" else float("nan") for r in rows]
