"""Reading a results CSV back: the one checked reader, with fixed column types, for every tool that reads one.

The format is ``csv_file``'s. Every row is checked: frame and timestamp_ms whole numbers >= 0, times that
increase with the frame (the rows of one frame share its time), no face twice in a frame, success 0 or 1; a
row with a face (success=1) has every face value, finite and in range, and a row without one (success=0)
has none. A file that breaks a rule raises ResultsCsvError naming the file, the line and the column of the
first bad value: ``clip.csv:12: valence is '5', not in [-1, 1]``.

A good file is read in two fast passes: ``csv`` counts the fields of each row (pandas would pad a short
row without saying so), then pandas parses each column as its type and the rules run on whole columns.
Only a file that fails is read again, to find the line of the first bad value and its text.

Types, whatever the rows (a header-only file too): frame, timestamp_ms and success int64; face_id and the
AU on/off columns pandas' nullable Int64 (missing on rows without a face); the other numbers float64 (NaN
there); expression text (missing there); model, model_sha256 and settings text, kept as written (an empty
cell is ""). A file written before the metadata columns existed has only ``COLUMNS``.
"""

from __future__ import annotations

import contextlib
import csv
from dataclasses import dataclass
from itertools import islice, repeat
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence, TextIO

import numpy as np
import pandas as pd

from affectstream.core.labels import ACTION_UNITS, EXPRESSIONS
from affectstream.core.results.csv_file import COLUMNS, HEADER, METADATA_COLUMNS, ResultsCsvError, check_header

CHUNK_ROWS = 20_000  # rows per pandas chunk: bounded memory for readers that stream (the summary plot)

INT_COLUMNS: tuple[str, ...] = ("frame", "timestamp_ms", "success")
NULLABLE_INT_COLUMNS: tuple[str, ...] = ("face_id", *ACTION_UNITS)
TEXT_COLUMNS: tuple[str, ...] = ("expression", *METADATA_COLUMNS)
FLOAT_COLUMNS: tuple[str, ...] = tuple(c for c in HEADER if c not in INT_COLUMNS + NULLABLE_INT_COLUMNS + TEXT_COLUMNS)
# A face's values: every one present on a row with success=1, every one empty on a row with success=0.
FACE_COLUMNS: tuple[str, ...] = tuple(c for c in COLUMNS if c not in INT_COLUMNS)
_UNIT, _SIGNED = (0.0, 1.0), (-1.0, 1.0)
# A box may reach past the frame's edge, so its range is wide: a million pixels either way of any frame.
_PIXELS = (-1e6, 1e6)
RANGES: dict[str, tuple[float, float]] = {
    "confidence": _UNIT, **{c: _SIGNED for c in ("valence_raw", "arousal_raw", "valence", "arousal")},
    **{c: _UNIT for c in FLOAT_COLUMNS if c.startswith("p_")}, **{c: _PIXELS for c in ("x0", "y0", "x1", "y1")},
}
BOX_SIDES = (("x0", "x1"), ("y0", "y1"))  # each far edge is at or beyond its near one
_KEYS = ("frame", "timestamp_ms", "face_id", "success")  # what the checks across rows compare
_LARGEST_WHOLE = 2.0 ** 53  # beyond it a float64 no longer holds every whole number


def column_dtypes(header: Sequence[str] = HEADER) -> dict[str, object]:
    """Each column's dtype in the table the reader gives."""
    def dtype(column: str) -> object:
        if column in INT_COLUMNS:
            return "int64"
        if column in NULLABLE_INT_COLUMNS:
            return "Int64"
        return str if column in TEXT_COLUMNS else "float64"  # str: object in pandas 2, "str" in pandas 3
    return {column: dtype(column) for column in header}


def read_results_table(path: str | Path) -> pd.DataFrame:
    """A results CSV as one checked DataFrame (``column_dtypes``); ResultsCsvError names its first bad value."""
    return _whole_table(_file_source(path))


def iter_results_chunks(path: str | Path, rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The same table in checked chunks of ``rows`` rows, for readers whose memory must not grow with the
    video. A bad value raises when its chunk is reached, after the chunks before it were given."""
    return _checked_table(_file_source(path), rows)


def _whole_table(source: _Source) -> pd.DataFrame:
    chunks = list(_checked_table(source, CHUNK_ROWS))
    # pandas gives a header-only file one empty chunk, typed; concat keeps the types of several
    return chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)


# -- where the text comes from --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Source:
    name: str  # how messages name it
    open: Callable[[], TextIO]  # a fresh handle each time: a file that fails is read again


def _file_source(path: str | Path) -> _Source:
    check_regular_file(path)
    # utf-8-sig: a spreadsheet's byte order mark is not part of the first column's name
    return _Source(str(path), lambda: open(path, newline="", encoding="utf-8-sig"))


def check_regular_file(path: str | Path) -> None:
    """A results CSV is a file: a folder is named as one, and a FIFO or device (whose reading would wait for a
    writer, maybe for ever) is refused before it is opened."""
    path = Path(path)
    if not path.exists():
        raise ResultsCsvError(f"{path}: no such results CSV")
    if path.is_dir():
        raise ResultsCsvError(f"{path}: a folder, not a results CSV")
    if not path.is_file():
        raise ResultsCsvError(f"{path}: not a regular file (a FIFO, device or socket)")


@contextlib.contextmanager
def _opened(source: _Source) -> Iterator[TextIO]:
    try:
        with source.open() as handle:
            yield handle
    except UnicodeDecodeError as exc:
        raise ResultsCsvError(f"{source.name}: not a text file ({exc.reason})") from None
    except OSError as exc:
        raise ResultsCsvError(f"{source.name}: cannot read it ({exc.strerror or exc})") from None


@contextlib.contextmanager
def _csv_rows(source: _Source) -> Iterator[tuple[tuple[str, ...], Iterator[list[str]], TextIO]]:
    """(header, the csv reader after it, the handle), the header checked first."""
    with _opened(source) as handle:
        reader = csv.reader(handle)
        try:
            yield check_header(source.name, next(reader, None)), reader, handle
        except csv.Error as exc:
            raise ResultsCsvError(f"{source.name}:{reader.line_num}: {exc}") from None


def _data_rows(reader: Iterator[list[str]]) -> Iterator[list[str]]:
    """The rows pandas takes as data: it skips blank and whitespace-only lines, so these do too."""
    return (fields for fields in reader if len(fields) > 1 or (fields and fields[0].strip()))


# -- the number of fields ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Misfit:
    """A data row with the wrong number of fields."""

    row: int  # 0-based, among the data rows
    line: int
    fields: int


def _header_and_misfit(source: _Source) -> tuple[tuple[str, ...], _Misfit | None]:
    """The header, and the first data row whose number of fields is not the header's (None: every row fits)."""
    with _csv_rows(source) as (header, reader, handle):
        fits = _commas_fit(len(header), handle)
    if fits is None:
        with _csv_rows(source) as (header, reader, handle):
            fits = set(map(len, reader)) <= {0, len(header)}  # 0: a blank line; map and set run in C
    if fits:
        return header, None
    with _csv_rows(source) as (header, reader, handle):
        return header, _first_misfit(len(header), reader)  # None where only whitespace-only lines misled


def _commas_fit(width: int, handle: TextIO) -> bool | None:
    """Whether every non-blank line has ``width - 1`` commas; None when a quote makes commas ambiguous.

    Counted in C over blocks of lines (``str.count`` mapped): ten times faster than tokenising with csv."""
    counts: set[int] = set()
    while lines := handle.readlines(1 << 20):
        if any(map(str.__contains__, lines, repeat('"'))):
            return None
        counts.update(map(str.count, filter(str.strip, lines), repeat(",")))
    return counts <= {width - 1}


def _first_misfit(width: int, reader: Iterator[list[str]]) -> _Misfit | None:
    for row, fields in enumerate(_data_rows(reader)):
        if len(fields) != width:
            return _Misfit(row, reader.line_num, len(fields))
    return None


def _misfit_error(source: _Source, header: Sequence[str], misfit: _Misfit) -> ResultsCsvError:
    return ResultsCsvError(f"{source.name}:{misfit.line}: {misfit.fields} fields instead of {len(header)} "
                           "(the file is cut short or the row was edited)")


def _line_and_fields(source: _Source, row: int) -> tuple[int, list[str]]:
    """The line number and the fields of data row ``row`` (0-based): looked for only to name a bad value."""
    with _csv_rows(source) as (header, reader, handle):
        fields = next(islice(_data_rows(reader), row, None))
        return reader.line_num, fields


# -- parsing ------------------------------------------------------------------------------------------------------
def _parse_options(header: Sequence[str]) -> dict[str, object]:
    # Only an empty cell is missing ("nan", "NA" are not numbers here); metadata cells stay text, "" included.
    missing = {column: [""] for column in header if column not in METADATA_COLUMNS}
    return {"dtype": column_dtypes(header), "keep_default_na": False, "na_values": missing, "index_col": False}


def _typed_chunks(handle: TextIO, header: Sequence[str], rows: int, nrows: int | None) -> Iterator[pd.DataFrame]:
    return pd.read_csv(handle, chunksize=rows, nrows=nrows, **_parse_options(header))


def _text_chunks(handle: TextIO, rows: int, nrows: int | None) -> Iterator[pd.DataFrame]:
    return pd.read_csv(handle, dtype=str, keep_default_na=False, na_filter=False, index_col=False,
                       chunksize=rows, nrows=nrows)


def _from_text(text: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """A chunk read as text, as numbers where it can be, and per column the cells that are not of its type."""
    parsed, wrong = {}, {}
    for column in text.columns:
        cells = text[column]
        if column in TEXT_COLUMNS:
            parsed[column] = cells.where(cells != "") if column == "expression" else cells
            continue
        given = (cells != "").to_numpy()
        numbers = pd.to_numeric(cells.where(given), errors="coerce").to_numpy(dtype=np.float64)
        unreadable = given & np.isnan(numbers)  # "nan" included: a number column holds numbers or nothing
        if column in INT_COLUMNS + NULLABLE_INT_COLUMNS:
            unreadable |= given & ~_whole(numbers)
        parsed[column], wrong[column] = np.where(unreadable, np.nan, numbers), unreadable
    return pd.DataFrame(parsed, index=text.index), wrong


# -- the rules ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Broken:
    """The rows of a chunk where one rule fails, and how to say so of one of them."""

    column: str
    rows: np.ndarray  # bool, one per row of the chunk
    say: Callable[[int, str], str]  # (row in the chunk, the cell's text) -> the message after "file:line: "


def _is(column: str, why: str) -> Callable[[int, str], str]:
    return lambda row, text: f"{column} is '{text}', {why}"


def _numbers(series: pd.Series) -> np.ndarray:
    """A number column as float64, NaN where missing (a float64 column as it is: no copy, no NA scan)."""
    if series.dtype == np.float64:
        return series.to_numpy()
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def _whole(values: np.ndarray) -> np.ndarray:
    return np.isfinite(values) & (np.floor(values) == values) & (np.abs(values) < _LARGEST_WHOLE)


def _unreadable(wrong: dict[str, np.ndarray]) -> Iterator[_Broken]:
    """Cells that are not of their column's type (found only when pandas could not parse the file)."""
    for column, rows in wrong.items():
        if column in FLOAT_COLUMNS:
            why = "not a number"
        elif column in ACTION_UNITS or column == "success":
            why = "not 0 or 1"
        else:
            why = "not a whole number >= 0"
        yield _Broken(column, rows, _is(column, why))


def _cell_rules(chunk: pd.DataFrame) -> Iterator[_Broken]:
    """Each cell against its column's rule, and a face's values against the row's success."""
    success = _numbers(chunk["success"])
    face, faceless = success == 1, success == 0
    for column in ("frame", "timestamp_ms"):
        values = _numbers(chunk[column])
        yield _Broken(column, ~_whole(values) | (values < 0), _is(column, "not a whole number >= 0"))
    yield _Broken("success", ~(face | faceless), _is("success", "not 0 or 1"))
    for column in FACE_COLUMNS:
        if column == "expression":
            cells = chunk[column]
            present = cells.notna().to_numpy()
            named = cells.isin(EXPRESSIONS).to_numpy()
            yield _Broken(column, face & present & ~named, _is(column, f"not one of {', '.join(EXPRESSIONS)}"))
        else:
            values = _numbers(chunk[column])
            present = ~np.isnan(values)
            yield from _number_rules(column, values, face & present)
        yield _Broken(column, face & ~present, _is(column, "missing from a row with a face (success=1)"))
        yield _Broken(column, faceless & present,
                      _is(column, "in a row without a face (success=0), whose face values are empty"))
    for near, far in BOX_SIDES:
        with np.errstate(invalid="ignore"):
            inverted = face & (_numbers(chunk[far]) < _numbers(chunk[near]))
        yield _Broken(far, inverted, _is(far, f"before {near} (a box's far edge is at or beyond its near one)"))


def _number_rules(column: str, values: np.ndarray, checked: np.ndarray) -> Iterator[_Broken]:
    """The rule of one face column's numbers, on the rows ``checked`` (faces' rows where the cell is given)."""
    if column == "face_id":
        yield _Broken(column, checked & ~(_whole(values) & (values >= 0)), _is(column, "not a whole number >= 0"))
    elif column in ACTION_UNITS:
        yield _Broken(column, checked & (values != 0) & (values != 1), _is(column, "not 0 or 1"))
    else:
        yield _Broken(column, checked & ~np.isfinite(values), _is(column, "not a finite number"))
        if column in RANGES:
            low, high = RANGES[column]
            with np.errstate(invalid="ignore"):
                outside = (values < low) | (values > high)
            yield _Broken(column, checked & outside, _is(column, f"not in [{low:g}, {high:g}]"))


def _order_rules(keys: dict[str, np.ndarray], carried: int) -> Iterator[_Broken]:
    """Each row against the one before: frame order, times, one row per face (or one faceless row) per frame.

    ``keys`` starts with the ``carried`` rows of the previous chunk's last frame, so that a frame split
    between chunks is checked as a whole; the masks given cover the chunk's own rows only."""
    frame, stamp, face_id, success = (keys[k] for k in _KEYS)
    before = {k: np.concatenate(([np.nan], v))[:-1] for k, v in keys.items()}  # the row before (NaN: none)
    same = frame == before["frame"]
    later = frame > before["frame"]

    def at(row: int, key: str) -> int:
        return int(before[key][carried + row])

    mine = slice(carried, None)
    yield _Broken("frame", (frame < before["frame"])[mine],
                  lambda row, text: f"frame {text} after frame {at(row, 'frame')} (rows must be in frame order)")
    yield _Broken("timestamp_ms", (same & (stamp != before["timestamp_ms"]))[mine],
                  lambda row, text: f"timestamp_ms is '{text}', not the {at(row, 'timestamp_ms')} of the row before "
                                    f"(the rows of frame {at(row, 'frame')} share its time)")
    yield _Broken("timestamp_ms", (later & (stamp <= before["timestamp_ms"]))[mine],
                  lambda row, text: f"timestamp_ms is '{text}', not after frame {at(row, 'frame')}'s "
                                    f"{at(row, 'timestamp_ms')} (a later frame has a later time)")
    yield _Broken("success", (same & ((success == 0) | (before["success"] == 0)))[mine],
                  lambda row, text: f"success is '{text}', in a second row of frame {at(row, 'frame')}, which has a "
                                    "row without a face (a frame without faces has that one row only)")
    faces = pd.DataFrame({"frame": frame, "face_id": face_id})[success == 1]
    twice = np.zeros(len(frame), bool)
    twice[np.flatnonzero(success == 1)[faces.duplicated().to_numpy()]] = True
    yield _Broken("face_id", twice[mine],
                  lambda row, text: f"face_id is '{text}', a second row of face {text} in frame {at(row, 'frame')}")


def _first_broken(brokens: Iterable[_Broken], header: Sequence[str]) -> tuple[int, _Broken] | None:
    """The first failure in file order: the earliest row, then the leftmost column, then the rule listed first."""
    first = None
    for rank, broken in enumerate(brokens):
        if broken.rows.any():
            key = (int(broken.rows.argmax()), header.index(broken.column), rank)
            first = (key, broken) if first is None or key < first[0] else first
    return None if first is None else (first[0][0], first[1])


# -- reading, chunk by chunk ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Checked:
    """How far the checks got: the data rows before the next chunk, and the keys of the last frame's rows
    (carried, so that a frame split between two chunks is checked as a whole)."""

    rows: int = 0
    tail: dict[str, np.ndarray] | None = None

    def keys(self, chunk: pd.DataFrame) -> dict[str, np.ndarray]:
        """The chunk's keys, the carried rows first."""
        mine = {k: _numbers(chunk[k]) for k in _KEYS}
        return mine if self.tail is None else {k: np.concatenate((self.tail[k], mine[k])) for k in _KEYS}

    @property
    def carried(self) -> int:
        return 0 if self.tail is None else len(self.tail["frame"])

    def after(self, chunk: pd.DataFrame, keys: dict[str, np.ndarray]) -> "_Checked":
        last = keys["frame"] == keys["frame"][-1] if len(chunk) else np.zeros(len(keys["frame"]), bool)
        return _Checked(self.rows + len(chunk), {k: v[last] for k, v in keys.items()})


def _check_chunk(source: _Source, header: Sequence[str], chunk: pd.DataFrame, checked: _Checked,
                 wrong: dict[str, np.ndarray] | None = None) -> _Checked:
    """Raises ResultsCsvError at the chunk's first bad value; else how far the checks got after it."""
    keys = checked.keys(chunk)
    brokens = [*_unreadable(wrong or {}), *_cell_rules(chunk), *_order_rules(keys, checked.carried)]
    found = _first_broken(brokens, header)
    if found is not None:
        row, broken = found
        line, fields = _line_and_fields(source, checked.rows + row)
        raise ResultsCsvError(f"{source.name}:{line}: {broken.say(row, fields[header.index(broken.column)])}")
    return checked.after(chunk, keys)


def _checked_table(source: _Source, rows: int) -> Iterator[pd.DataFrame]:
    header, misfit = _header_and_misfit(source)
    if misfit is not None:
        for _ in _checked_chunks(source, header, rows, nrows=misfit.row):
            pass  # a bad value before the misfit comes first, in file order
        raise _misfit_error(source, header, misfit)
    yield from _checked_chunks(source, header, rows, nrows=None)


def _checked_chunks(source: _Source, header: Sequence[str], rows: int, nrows: int | None) -> Iterator[pd.DataFrame]:
    if nrows == 0:
        return
    checked = _Checked()
    with _opened(source) as handle:
        chunks = _typed_chunks(handle, header, rows, nrows)
        while True:
            try:
                chunk = next(chunks, None)
            except (ValueError, OverflowError) as exc:  # a cell pandas cannot parse as its column's type
                _raise_first_problem_in_text(source, header, rows, nrows, exc)
            if chunk is None:
                return
            checked = _check_chunk(source, header, chunk, checked)
            yield chunk


def _raise_first_problem_in_text(source: _Source, header: Sequence[str], rows: int, nrows: int | None,
                                 exc: Exception) -> None:
    """Reads the file again as text, to name the cell pandas could not parse (or a bad value before it)."""
    checked = _Checked()
    with _opened(source) as handle:
        for text in _text_chunks(handle, rows, nrows):
            chunk, wrong = _from_text(text)
            checked = _check_chunk(source, header, chunk, checked, wrong)
    raise ResultsCsvError(f"{source.name}: not a readable results CSV ({exc})") from None
