"""Reader and writer of the ABAW MTL annotation files.

``training_set_annotations.txt`` / ``validation_set_annotations.txt``::

    image,valence,arousal,expression,AU1,AU2,AU4,AU6,AU7,AU10,AU12,AU15,AU23,AU24,AU25,AU26
    <video>/<frame>.jpg,v,a,expr,au1,...,au26

One video's lines need not be contiguous; they are grouped and sorted by frame.
Missing labels: -5 for valence/arousal, -1 for the expression and each AU.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from affectstream.core.atomic import write_text_atomic
from affectstream.core.errors import UserInputError
from affectstream.core.labels import ACTION_UNITS, AU_MISSING, EXPR_MISSING, NUM_AUS, NUM_EXPRESSIONS, VA_MISSING, VA_RANGE

HEADER: tuple[str, ...] = ("image", "valence", "arousal", "expression") + ACTION_UNITS
NUM_COLUMNS = len(HEADER)
_VALUE_COLUMNS = HEADER[1:]


class AnnotationError(UserInputError):
    """A malformed annotation file; the message starts with ``<path>:<line>: ``."""


@dataclass
class VideoLabels:
    """The labels of one video, one row per annotated frame."""

    video: str
    frames: np.ndarray  # (N,) int64, strictly increasing
    va: np.ndarray  # (N, 2) float32, -5 = missing
    expr: np.ndarray  # (N,) int64, -1 = missing
    au: np.ndarray  # (N, 12) int8, -1 = missing

    def __post_init__(self) -> None:
        self.frames = np.asarray(self.frames, dtype=np.int64)
        self.va = np.asarray(self.va, dtype=np.float32)
        self.expr = np.asarray(self.expr, dtype=np.int64)
        self.au = np.asarray(self.au, dtype=np.int8)
        n = len(self.frames)
        if (
            self.frames.shape != (n,)
            or self.va.shape != (n, 2)
            or self.expr.shape != (n,)
            or self.au.shape != (n, NUM_AUS)
        ):
            raise ValueError(
                f"video {self.video!r}: inconsistent label shapes frames {self.frames.shape}, va {self.va.shape}, "
                f"expr {self.expr.shape}, au {self.au.shape}"
            )
        if n > 1 and not np.all(np.diff(self.frames) > 0):
            raise ValueError(f"video {self.video!r}: frame numbers must be strictly increasing")

    def __len__(self) -> int:
        return len(self.frames)


def format_image_name(video: str, frame: int) -> str:
    """``<video>/<frame:05d>.jpg``, the ABAW image name of a frame."""
    return f"{video}/{int(frame):05d}.jpg"


def is_video_name(name: str) -> bool:
    """Whether ``name`` can be a video's name in an annotation file (it reads back as itself)."""
    return parse_image_name(format_image_name(name, 0)) == (name, 0) and "," not in name and "\n" not in name


def parse_image_name(field: str) -> tuple[str, int] | None:
    """(video, frame) from ``<video>/<int>.<ext>``, or None if it is not of that form or the frame number is above
    MAX_FRAME."""
    parts = _image_name_parts(field)
    if parts is None or _frame_too_large(parts[1]):
        return None
    return parts[0], int(parts[1])


# The largest frame number taken: over a year of video at 30 fps. A larger one is a typo, and one beyond int64
# (99999999999999999999) would end in an OverflowError where the frame numbers become an array.
MAX_FRAME = 10**9 - 1


def _image_name_parts(field: str) -> tuple[str, str] | None:
    """(video, the frame number's digits) from ``<video>/<digits>.<ext>``, or None if it is not of that form."""
    video, slash, name = field.partition("/")
    stem, dot, ext = name.partition(".")
    if not (slash and dot and video and ext and stem.isascii() and stem.isdigit()):
        return None
    if "/" in name or "." in ext or video != video.strip():
        return None
    return video, stem


def _frame_too_large(digits: str) -> bool:
    # By its length first: int() of thousands of digits is slow, or refused outright.
    digits = digits.lstrip("0")
    return len(digits) > len(str(MAX_FRAME)) or (bool(digits) and int(digits) > MAX_FRAME)


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise AnnotationError(f"{path}: annotation file not found") from None
    except IsADirectoryError:
        raise AnnotationError(f"{path}: is a directory, not an annotation file") from None
    except UnicodeDecodeError as exc:
        raise AnnotationError(f"{path}: not a UTF-8 text file ({exc})") from None
    return text.splitlines()


def _check_header(path: Path, lines: list[str]) -> None:
    expected = ",".join(HEADER)
    if not lines or not lines[0].strip():
        raise AnnotationError(f"{path}:1: missing header; expected {expected!r}")
    got = tuple(f.strip() for f in lines[0].split(","))
    if got != HEADER:
        raise AnnotationError(f"{path}:1: invalid header {lines[0].strip()!r}; expected {expected!r}")


def _find_non_number(path: Path, rests: list[str], line_numbers: list[int]) -> AnnotationError:
    """Locate the field that bulk conversion rejected (slow path, only on error). loadtxt itself judges, as it
    takes other numbers than float() does (not ``1_0``, nor non-ASCII digits): the first line it rejects is found
    by halving, then the field in it."""
    good, bad = 0, len(rests)  # rests[:good] convert; rests[:bad] do not
    while bad - good > 1:
        middle = (good + bad) // 2
        good, bad = (middle, bad) if _converts(rests[good:middle]) else (good, middle)
    row = bad - 1
    line_no = line_numbers[row]
    for column, value in zip(_VALUE_COLUMNS, rests[row].split(",")):
        if not value.strip() or not _converts([value]):  # loadtxt skips a blank line, not a blank field
            return AnnotationError(f"{path}:{line_no}: {column} {value.strip()!r} is not a number")
    return AnnotationError(f"{path}:{line_no}: a value is not a number")  # not reached: a line fails by a field


def _converts(rests: list[str]) -> bool:
    """Whether np.loadtxt converts these comma-joined fields."""
    try:
        np.loadtxt(rests, delimiter=",", comments=None, dtype=np.float64, ndmin=2)
    except ValueError:
        return False
    return True


def _first_bad(
    path: Path,
    bad: np.ndarray,
    line_numbers: np.ndarray,
    values: np.ndarray,
    message: Callable[[int, float], str],
) -> None:
    """Raise for the first row (in file order) where the (N, k) mask ``bad`` is set."""
    rows = np.flatnonzero(bad.any(axis=1))
    if rows.size:
        row = rows[0]
        col = int(np.argmax(bad[row]))
        raise AnnotationError(f"{path}:{line_numbers[row]}: {message(col, values[row, col])}")


def _parse_numbers(path: Path, rests: list[str], line_numbers: list[int]) -> np.ndarray:
    """(N, 15) float64 from the comma-joined numeric fields of each line."""
    if not rests:
        return np.zeros((0, NUM_COLUMNS - 1))
    # numpy's C text parser is several times faster than float() per field; only
    # on failure do we walk the rows again to name the offending line and column.
    try:
        return np.loadtxt(rests, delimiter=",", comments=None, dtype=np.float64, ndmin=2)
    except ValueError:
        raise _find_non_number(path, rests, line_numbers) from None


def _parse_image_field(path: Path, line_no: int, image: str) -> tuple[str, int]:
    """parse_image_name, or an AnnotationError naming the line and what is wrong."""
    parts = _image_name_parts(image)
    if parts is None:
        raise AnnotationError(f"{path}:{line_no}: image {image!r} is not of the form <video>/<frame number>.<ext>")
    if _frame_too_large(parts[1]):
        raise AnnotationError(f"{path}:{line_no}: frame number {_shortened(parts[1])} of video {parts[0]!r} is above "
                              f"the largest taken, {MAX_FRAME}")
    return parts[0], int(parts[1])


def _shortened(digits: str, most: int = 30) -> str:
    return digits if len(digits) <= most else f"{digits[:most]}... ({len(digits)} digits)"


def read_annotations(path: str | Path) -> dict[str, VideoLabels]:
    """Read an ABAW MTL annotation file into per-video labels, keys sorted by video."""
    path = Path(path)
    lines = _read_lines(path)
    _check_header(path, lines)

    video_ids: dict[str, int] = {}
    video_index: list[int] = []
    frames: list[int] = []
    line_numbers: list[int] = []
    rests: list[str] = []  # the 15 numeric fields of a line, still joined
    for line_no, line in enumerate(lines[1:], start=2):
        if not line or line.isspace():
            continue
        if line.count(",") != NUM_COLUMNS - 1:
            raise AnnotationError(
                f"{path}:{line_no}: expected {NUM_COLUMNS} columns, found {line.count(',') + 1}"
            )
        image, _, rest = line.partition(",")
        parsed = _parse_image_field(path, line_no, image.strip())
        video_index.append(video_ids.setdefault(parsed[0], len(video_ids)))
        frames.append(parsed[1])
        line_numbers.append(line_no)
        rests.append(rest)

    values = _parse_numbers(path, rests, line_numbers)
    lines_arr = np.asarray(line_numbers, dtype=np.int64)
    _validate_values(path, values, lines_arr)

    # Renumber videos in name order so that sorting rows by id sorts them by name.
    names = sorted(video_ids)
    rank = np.empty(len(names), dtype=np.int64)
    rank[[video_ids[name] for name in names]] = np.arange(len(names))
    video_index = rank[np.asarray(video_index, dtype=np.int64)]
    frame_arr = np.asarray(frames, dtype=np.int64)
    order = np.lexsort((lines_arr, frame_arr, video_index))  # by video, frame, then file order
    _check_duplicates(path, video_index[order], frame_arr[order], lines_arr[order], names)

    result: dict[str, VideoLabels] = {}
    starts = np.searchsorted(video_index[order], np.arange(len(names) + 1))
    for k, name in enumerate(names):
        rows_k = order[starts[k] : starts[k + 1]]
        v = values[rows_k]
        result[str(name)] = VideoLabels(
            video=str(name),
            frames=frame_arr[rows_k],
            va=v[:, 0:2],
            expr=v[:, 2].astype(np.int64),
            au=v[:, 3:].astype(np.int8),
        )
    return result


def _validate_values(path: Path, values: np.ndarray, line_numbers: np.ndarray) -> None:
    va, expr, au = values[:, 0:2], values[:, 2:3], values[:, 3:]
    lo, hi = VA_RANGE
    # NaN fails every comparison, so it is caught as out of range too.
    va_bad = ~((va == VA_MISSING) | ((va >= lo) & (va <= hi)))
    _first_bad(
        path, va_bad, line_numbers, va,
        lambda c, x: f"{_VALUE_COLUMNS[c]} {x:g} is outside [{lo:g}, {hi:g}] (and not the missing code {VA_MISSING:g})",
    )
    # The loss and the scores take valence and arousal together: one missing would silently drop the other.
    half = (va == VA_MISSING) & ((va == VA_MISSING).sum(axis=1, keepdims=True) == 1)
    _first_bad(
        path, half, line_numbers, va,
        lambda c, x: f"{_VALUE_COLUMNS[c]} is the missing code {VA_MISSING:g} but {_VALUE_COLUMNS[1 - c]} is "
                     f"labelled; a frame's valence and arousal are labelled together (both {VA_MISSING:g} when missing)",
    )
    expr_bad = ~((expr >= EXPR_MISSING) & (expr <= NUM_EXPRESSIONS - 1) & (expr == np.floor(expr)))
    _first_bad(
        path, expr_bad, line_numbers, expr,
        lambda c, x: f"expression {x:g} is not an integer in {EXPR_MISSING}..{NUM_EXPRESSIONS - 1}",
    )
    au_bad = ~((au == AU_MISSING) | (au == 0) | (au == 1))
    _first_bad(
        path, au_bad, line_numbers, au,
        lambda c, x: f"{ACTION_UNITS[c]} {x:g} is not one of {AU_MISSING}, 0, 1",
    )


def _check_duplicates(
    path: Path, video_index: np.ndarray, frames: np.ndarray, line_numbers: np.ndarray, names: np.ndarray
) -> None:
    """Rows are sorted by (video, frame, line): a duplicate sits right after its first line."""
    same = (np.diff(video_index) == 0) & (np.diff(frames) == 0)
    if not same.any():
        return
    dups = np.flatnonzero(same)
    # Report the duplicate whose second occurrence comes first in the file.
    k = dups[np.argmin(line_numbers[dups + 1])]
    first, second = int(line_numbers[k]), int(line_numbers[k + 1])
    raise AnnotationError(
        f"{path}:{second}: frame {int(frames[k])} of video {names[video_index[k]]!r} "
        f"is also on line {first} (duplicated frame)"
    )


def _format_va(x: float) -> str:
    # str() of a float32 is its shortest round-tripping decimal ("0.1", not 0.100000001...).
    return "-5" if x == VA_MISSING else str(np.float32(x))


def write_annotations(path: str | Path, labels: Mapping[str, VideoLabels]) -> None:
    """Write labels in the ABAW format (videos sorted by name, frames as 5-digit .jpg), atomically."""
    out = [",".join(HEADER)]
    for name in sorted(labels):
        item = labels[name]
        if not is_video_name(name):
            raise ValueError(f"video name {name!r} cannot be written as an ABAW image name")
        for i in range(len(item.frames)):
            out.append(
                ",".join(
                    (
                        format_image_name(name, int(item.frames[i])),
                        _format_va(float(item.va[i, 0])),
                        _format_va(float(item.va[i, 1])),
                        str(int(item.expr[i])),
                        *(str(int(a)) for a in item.au[i]),
                    )
                )
            )
    write_text_atomic(path, "\n".join(out) + "\n")
