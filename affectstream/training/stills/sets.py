"""Labelled still-image sets, read into one form: images, real labels with missing codes, splits.

Every set says which of the three ABAW tasks it has real labels for; the others
carry the missing codes (-5 valence/arousal, -1 expression and AUs), never a
made-up value. Readers:

* ``fer2013``: FER2013 (``fer2013.npz``): expression; official splits.
* ``ckplus-au``: CK+ frames with FACS occurrence codes: the 12 ABAW AUs; split by subject.
* ``diffusionfer-va``: DiffusionFER: human valence/arousal and expression; its own split column.
* a labelled CSV of your own (``read_labelled_csv``), layout below.

The labelled CSV layout (one row per image; an empty cell is a missing label)::

    file,valence,arousal,expression,AU1,AU2,AU4,AU6,AU7,AU10,AU12,AU15,AU23,AU24,AU25,AU26[,split][,subject]

``file`` is relative to the CSV's folder; valence and arousal in [-1, 1];
expression an ABAW index 0..7 or its name (Neutral, Anger, Disgust, Fear,
Happiness, Sadness, Surprise, Other); each AU 0 or 1. ``split`` (train/val/test)
fixes the split; without it, images are split by ``subject`` (or, without that
either, each image is its own subject) with a fixed seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from affectstream.core.errors import UserInputError
from affectstream.core.labels import ACTION_UNITS, AU_MISSING, EXPR_MISSING, EXPRESSIONS, NUM_AUS, VA_MISSING
from affectstream.training.stills.framing import SMALL_CROP, Framing
from affectstream.training.stills.splits import SPLITS, GroupSplit, split_by_group

TASK_NAMES = {"va": "valence/arousal", "expr": "expression", "au": "action units"}


class StillSetError(UserInputError):
    """A labelled still set that cannot be read; the message names the file (and line)."""


@dataclass(frozen=True)
class StillLabels:
    """Per still: VA (-5 missing), ABAW expression (-1 missing), 12 AUs (-1 missing)."""

    va: np.ndarray  # (N, 2) float32
    expr: np.ndarray  # (N,) int64
    au: np.ndarray  # (N, 12) int8

    @staticmethod
    def missing(n: int) -> "StillLabels":
        return StillLabels(np.full((n, 2), VA_MISSING, np.float32), np.full(n, EXPR_MISSING, np.int64),
                           np.full((n, NUM_AUS), AU_MISSING, np.int8))

    def take(self, index: np.ndarray) -> "StillLabels":
        return StillLabels(self.va[index], self.expr[index], self.au[index])

    def joined(self, other: "StillLabels") -> "StillLabels":
        return StillLabels(np.concatenate([self.va, other.va]), np.concatenate([self.expr, other.expr]),
                           np.concatenate([self.au, other.au]))

    def __len__(self) -> int:
        return len(self.expr)


@dataclass(frozen=True)
class StillSet:
    """One labelled still set; images either in memory (``images``) or as files (``paths``)."""

    name: str
    ids: tuple[str, ...]  # one per still: a file name, or an index for in-memory sets
    labels: StillLabels
    split: np.ndarray  # (N,) "train" / "val" / "test"
    tasks: tuple[str, ...]  # the tasks with real labels: some of "va", "expr", "au"
    framing: Framing
    description: str  # what it is and where its labels come from
    terms: str  # licence / terms of use
    split_rule: dict[str, Any]  # how the split was made, recorded with the data
    images: np.ndarray | None = None  # (N, H, W[, 3]) uint8
    paths: tuple[Path, ...] | None = None
    groups: np.ndarray | None = field(default=None)  # (N,) person / subject per still, where known
    label_rules: dict[str, Any] = field(default_factory=dict)  # how labels were read where a choice was made

    def __post_init__(self) -> None:
        n = len(self.ids)
        if len(self.labels) != n or len(self.split) != n or (self.images is None) == (self.paths is None):
            raise ValueError(f"{self.name}: ids, labels, splits and images disagree in length or source")
        bad = sorted(set(np.unique(self.split)) - set(SPLITS))
        if bad:
            raise StillSetError(f"{self.name}: unknown split name(s) {bad}; use {', '.join(SPLITS)}")

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, index: np.ndarray) -> "StillSet":
        """The stills at ``index``, everything else kept."""
        index = np.asarray(index, dtype=np.int64)
        return replace(
            self, ids=tuple(self.ids[i] for i in index), labels=self.labels.take(index), split=self.split[index],
            images=None if self.images is None else self.images[index],
            paths=None if self.paths is None else tuple(self.paths[i] for i in index),
            groups=None if self.groups is None else self.groups[index])

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "terms": self.terms,
                "real_labels": [TASK_NAMES[t] for t in self.tasks], "framing": self.framing.to_json(),
                "split_rule": self.split_rule, "label_rules": self.label_rules,
                "stills": {s: int(np.sum(self.split == s)) for s in SPLITS}}


# ---------------------------------------------------------------------------
# The sets in ../shared/data
# ---------------------------------------------------------------------------

FER_SPLITS = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}


def read_fer2013(npz: str | Path) -> StillSet:
    from affectstream.core.features.expression_cnn import FER_TO_ABAW
    from affectstream.training.fer.data import load_fer2013

    splits = load_fer2013(npz)
    images = np.concatenate([part.images.numpy() for part in splits.values()])
    fer_labels = np.concatenate([part.labels.numpy() for part in splits.values()])
    labels = StillLabels.missing(len(fer_labels))
    labels.expr[:] = np.asarray(FER_TO_ABAW)[fer_labels]
    ids = tuple(f"{name}-{k:05d}" for name, part in splits.items() for k in range(len(part)))
    split = np.concatenate([np.full(len(part), FER_SPLITS[name]) for name, part in splits.items()])
    return StillSet(
        name="fer2013", ids=ids, labels=labels, split=split, tasks=("expr",), framing=SMALL_CROP, images=images,
        description="FER2013: 48x48 grey web faces, one crowd expression label each (7 classes, no Other)",
        terms="distributed for research use",
        split_rule={"rule": "official FER2013 usage: Training (train) / PublicTest (val) / PrivateTest (test)"},
    )


# How a CK+ frame coded AU27 (mouth stretch) counts for AU26 (jaw drop). FACS scores the two as
# alternatives for one opening of the jaw (CK+ never codes both), so AU27's "AU26 = 0" is not an observation
# that the jaw did not drop: "au26-missing" leaves it unlabelled; "au26-negative" keeps the code as given.
AU27_RULES = ("au26-negative", "au26-missing")


def read_ckplus_au(folder: str | Path, split: GroupSplit = GroupSplit(), au27: str = "au26-negative") -> StillSet:
    """CK+ frames with their sequence's FACS occurrence codes; split by subject, stratified by AU.

    ``au27``: one of ``AU27_RULES``. The split is stratified on the codes as given, so it does not depend on it.
    """
    import pandas as pd

    if au27 not in AU27_RULES:
        raise ValueError(f"au27 must be one of {AU27_RULES}, not {au27!r}")
    folder = Path(folder)
    path = folder / "labels.csv"
    table = _read_table(path)
    _require_columns(path, table, ("file", "sequence", "subject", *ACTION_UNITS))
    au = np.stack([_binary(path, table, name) for name in ACTION_UNITS], axis=1)
    if (au < 0).any():
        row = int(np.argwhere(au < 0)[0, 0])
        raise StillSetError(f"{path}:{_line(table, row)}: a FACS code is empty; CK+ codes every AU of every frame")
    subjects = table["subject"].to_numpy(dtype=str)
    assigned = split_by_group(subjects, au, split)
    rules: dict[str, Any] = {"au27": au27}
    if au27 == "au26-missing":
        if "AU27" not in table.columns:
            raise StillSetError(f"{path}:1: no AU27 column, which the AU27 rule {au27!r} reads")
        mouth_stretch = _binary(path, table, "AU27") == 1
        au[mouth_stretch, ACTION_UNITS.index("AU26")] = AU_MISSING
        rules["au26_unlabelled_frames"] = int(mouth_stretch.sum())
    labels = StillLabels.missing(len(table))
    labels.au[:] = au
    per_split = {s: sorted(pd.unique(subjects[assigned == s]).tolist()) for s in SPLITS}
    return StillSet(
        name="ckplus-au", ids=tuple(table["file"]), labels=labels, split=assigned, tasks=("au",),
        framing=SMALL_CROP, paths=_files(path, folder, table["file"]), groups=subjects,
        description="CK+ (Lucey et al. 2010): posed, frontal, lab-lit 48x48 grey frames, the last three of "
                    "each sequence, with the sequence's FACS AU occurrence code",
        terms="non-commercial research use only; no redistribution",
        split_rule={"rule": "by subject, stratified by AU (no subject in two splits)",
                    "fractions": list(split.fractions), "seed": split.seed, "subjects": per_split},
        label_rules=rules,
    )


def read_diffusionfer_va(folder: str | Path) -> StillSet:
    """DiffusionFER: human valence/arousal and an expression label per synthetic face."""
    folder = Path(folder)
    path = folder / "labels.csv"
    table = _read_table(path)
    _require_columns(path, table, ("file", "valence", "arousal", "expression", "split"))
    labels = StillLabels.missing(len(table))
    labels.va[:] = np.stack([_va(path, table, "valence"), _va(path, table, "arousal")], axis=1)
    labels.expr[:] = _expression(path, table)
    return StillSet(
        name="diffusionfer-va", ids=tuple(table["file"]), labels=labels, split=_split_column(path, table),
        tasks=("va", "expr"), framing=Framing(pad=0.25, min_side=256), paths=_files(path, folder, table["file"]),
        description="DiffusionFER (DiffusionEmotion_S): 224x224 colour faces generated by Stable Diffusion "
                    "(no real person), human valence/arousal ratings and expression labels",
        terms="CC0 1.0",
        split_rule={"rule": "the data set's own split column (stratified by expression)"},
    )


# ---------------------------------------------------------------------------
# A labelled CSV of one's own
# ---------------------------------------------------------------------------

CSV_COLUMNS: tuple[str, ...] = ("file", "valence", "arousal", "expression", *ACTION_UNITS)
CSV_OPTIONAL: tuple[str, ...] = ("split", "subject")


def read_labelled_csv(path: str | Path, name: str | None = None, framing: Framing = Framing(),
                      split: GroupSplit = GroupSplit()) -> StillSet:
    """A user's labelled stills (layout in the module docstring)."""
    path = Path(path)
    table = _read_table(path)
    unknown = [c for c in table.columns if c not in CSV_COLUMNS + CSV_OPTIONAL]
    if unknown:
        raise StillSetError(f"{path}:1: unknown column(s) {', '.join(unknown)}; "
                            f"expected {','.join(CSV_COLUMNS)}[,split][,subject]")
    _require_columns(path, table, CSV_COLUMNS)
    paths = _files(path, path.parent, table["file"])
    labels = StillLabels(
        va=np.stack([_va(path, table, "valence"), _va(path, table, "arousal")], axis=1),
        expr=_expression(path, table),
        au=np.stack([_binary(path, table, au) for au in ACTION_UNITS], axis=1),
    )
    half_va = (labels.va == VA_MISSING).sum(axis=1) == 1
    if half_va.any():
        raise StillSetError(f"{path}:{_line(table, int(np.flatnonzero(half_va)[0]))}: valence and arousal must be "
                            "given together or both left empty")
    tasks = tuple(t for t, has in (("va", (labels.va != VA_MISSING).any()), ("expr", (labels.expr >= 0).any()),
                                   ("au", (labels.au >= 0).any())) if has)
    if not tasks:
        raise StillSetError(f"{path}: no row has a label")
    if "split" in table.columns:
        assigned, rule = _split_column(path, table), {"rule": "the CSV's split column"}
        groups = table["subject"].to_numpy(dtype=str) if "subject" in table.columns else None
    else:
        by = "subject" if "subject" in table.columns else "file"
        groups = table[by].to_numpy(dtype=str)
        stratify = np.where(labels.au > 0, 1, 0) if "au" in tasks else None
        try:
            assigned = split_by_group(groups, stratify, split)
        except UserInputError as exc:
            raise StillSetError(f"{path}: {exc}; add a split column (train/val/test)") from None
        rule = {"rule": f"by {by} (no {by} in two splits)" + (", stratified by AU" if stratify is not None else ""),
                "fractions": list(split.fractions), "seed": split.seed}
    return StillSet(
        name=name or path.stem, ids=tuple(table["file"]), labels=labels, split=assigned, tasks=tasks,
        # Persons only: file names are no person, and --cv-folds divides by person.
        framing=framing, paths=paths, groups=groups if "subject" in table.columns else None,
        description=f"labelled stills from {path}", terms="as given by the data's owner", split_rule=rule,
    )


# ---------------------------------------------------------------------------
# Reading and checking tables (a table's index is the line each row starts on: ``_line``)
# ---------------------------------------------------------------------------


def _read_table(path: Path):
    import csv

    import pandas as pd

    try:
        lines, fields = _row_lines(path)
        # index_col=False and the header's columns only: an empty field after them (a trailing comma) is no index
        # column shifting the others; _row_lines has refused any such field that is not empty.
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True, encoding="utf-8-sig",
                            index_col=False, usecols=range(fields))
    except FileNotFoundError:
        raise StillSetError(f"{path}: labels file not found") from None
    except (pd.errors.ParserError, csv.Error, UnicodeDecodeError, IsADirectoryError) as exc:
        raise StillSetError(f"{path}: not a readable CSV table ({exc})") from None
    except pd.errors.EmptyDataError:
        raise StillSetError(f"{path}:1: empty file, expected a header") from None
    table.columns = [str(c).strip() for c in table.columns]
    if len(table) == 0:
        raise StillSetError(f"{path}: no rows after the header")
    # Where pandas parted rows otherwise (a quoted blank field), row i is line i + 2, as if no line were blank.
    table.index = lines if len(lines) == len(table) else range(2, len(table) + 2)
    return table.apply(lambda column: column.str.strip())


def _row_lines(path: Path) -> tuple[list[int], int]:
    """The line each row after the header starts on (blank lines skipped, as pandas skips them), and the header's
    field count. A row with fewer fields (pandas would pad it with empty cells: missing labels) or with a field
    after them that is not empty is refused."""
    import csv

    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, skipinitialspace=True)
        header, lines, start = 0, [], 1
        for fields in reader:
            line, start = start, reader.line_num + 1
            if len(fields) <= 1 and not "".join(fields).strip():
                continue
            if not header:  # a trailing comma on the header too is no column
                header = _named_fields(fields)
                continue
            if len(fields) < header:
                raise StillSetError(f"{path}:{line}: {len(fields)} fields, fewer than the header's {header}")
            extra = next((f for f in fields[header:] if f.strip()), None)
            if extra is not None:
                raise StillSetError(f"{path}:{line}: {len(fields)} fields, more than the header's {header} (an extra "
                                    f"field {extra.strip()!r})")
            lines.append(line)
    return lines, max(header, 1)


def _named_fields(header: list[str]) -> int:
    """The header's fields up to its last named one."""
    return max((k + 1 for k, name in enumerate(header) if name.strip()), default=1)


def _line(table, row: int) -> int:
    """The file's line of a table's row."""
    return int(table.index[row])


def _require_columns(path: Path, table, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise StillSetError(f"{path}:1: missing column(s) {', '.join(missing)}")


def _numbers(path: Path, table, column: str) -> np.ndarray:
    """A column as float64, NaN where empty; a non-number names its line."""
    import pandas as pd

    text = table[column]
    values = pd.to_numeric(text.where(text != ""), errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(values) & (text != "").to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise StillSetError(f"{path}:{_line(table, row)}: {column} {text.iloc[row]!r} is not a number")
    return values


def _va(path: Path, table, column: str) -> np.ndarray:
    values = _numbers(path, table, column)
    bad = ~np.isnan(values) & ~((values >= -1) & (values <= 1))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise StillSetError(f"{path}:{_line(table, row)}: {column} {table[column].iloc[row]} is outside [-1, 1]")
    return np.where(np.isnan(values), VA_MISSING, values).astype(np.float32)


def _binary(path: Path, table, column: str) -> np.ndarray:
    values = _numbers(path, table, column)
    known = ~np.isnan(values)
    bad = known & ~np.isin(values, (0.0, 1.0))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise StillSetError(f"{path}:{_line(table, row)}: {column} {table[column].iloc[row]!r} is not 0, 1 or empty")
    return np.where(known, values, AU_MISSING).astype(np.int8)


def _expression(path: Path, table) -> np.ndarray:
    names = {name.lower(): k for k, name in enumerate(EXPRESSIONS)}
    out = np.full(len(table), EXPR_MISSING, dtype=np.int64)
    for row, text in enumerate(table["expression"]):
        if text == "":
            continue
        key = text.lower()
        if key in names:
            out[row] = names[key]
        elif text.isascii() and text.lstrip("-").isdigit() and 0 <= int(text) < len(EXPRESSIONS):
            out[row] = int(text)
        else:
            raise StillSetError(f"{path}:{_line(table, row)}: expression {text!r} is neither an ABAW index 0..7 nor "
                                f"one of {', '.join(EXPRESSIONS)}")
    return out


def _split_column(path: Path, table) -> np.ndarray:
    split = table["split"].str.lower().to_numpy(dtype=str)
    bad = ~np.isin(split, SPLITS)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise StillSetError(f"{path}:{_line(table, row)}: split {table['split'].iloc[row]!r} is not one of "
                            f"{', '.join(SPLITS)}")
    return split


def _files(path: Path, folder: Path, files) -> tuple[Path, ...]:
    """The image of each row (``files``: the table's file column); one image named twice is refused."""
    out = []
    for line, name in files.items():
        if name == "":
            raise StillSetError(f"{path}:{line}: file is empty")
        out.append(folder / name)
    seen: dict[Path, tuple[int, str]] = {}
    for (line, name), file in zip(files.items(), out):
        # Compared as resolved files: `sub/../x.jpg`, or a link to x.jpg, is x.jpg (in train and test at once).
        resolved = file.resolve()
        if resolved in seen:
            first_line, first_name = seen[resolved]
            also = name if name == first_name else f"{name} (the file {first_name})"
            raise StillSetError(f"{path}:{line}: {also} is also on line {first_line}")
        seen[resolved] = (line, name)
    return tuple(out)
