"""A results table as an ELAN annotation document (.eaf), written with pympi-ling.

Per face (``face<id>`` in every tier name, e.g. ``Expression face0``):

* ``Expression``: segments of one label;
* one tier per AU (``AU12 face0``): segments where the AU is on;
* ``Valence`` and ``Arousal``: segments of one binned value (the bin's centre,
  e.g. ``0.30`` for bin width 0.1). ELAN opens segment tiers everywhere; its
  time-series viewer needs a hand-made .tsconf beside a CSV, which no
  maintained library writes.

A frame lasts from its timestamp to the next frame's (the last one a median
frame interval). Segments never bridge frames where the face was not found.
Runs shorter than ``min_duration_ms`` (flicker) are merged into a neighbour,
shortest first. The video is linked relative to the .eaf, so the pair can be
moved together.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from affectstream.core.errors import UserInputError
from affectstream.core.labels import ACTION_UNITS

VIDEO_MIMES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".avi": "video/x-msvideo",
               ".mpg": "video/mpeg", ".mpeg": "video/mpeg", ".webm": "video/webm", ".mkv": "video/x-matroska"}
TIER_TYPE = "affect-segments"  # the one linguistic type every tier uses: time-aligned, no constraints


@dataclass(frozen=True)
class ElanOptions:
    min_duration_ms: float = 200.0
    va_bin: float = 0.1

    def __post_init__(self) -> None:
        if not (np.isfinite(self.min_duration_ms) and self.min_duration_ms >= 0):
            raise UserInputError(f"minimum duration must be >= 0 ms, got {self.min_duration_ms}")
        if not (np.isfinite(self.va_bin) and 0 < self.va_bin <= 2):
            raise UserInputError(f"valence/arousal bin width must be in (0, 2], got {self.va_bin}")


@dataclass(frozen=True)
class Segment:
    start_ms: int
    end_ms: int
    value: str


def tier_name(task: str, face_id: int) -> str:
    return f"{task} face{face_id}"


def frame_bounds(results: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The video's frame numbers and each frame's start and end in ms (rounded)."""
    frames = results.drop_duplicates("frame")[["frame", "timestamp_ms"]]
    starts = frames["timestamp_ms"].to_numpy(np.float64)
    step = float(np.median(np.diff(starts))) if len(starts) > 1 else 33.3
    ends = np.r_[starts[1:], starts[-1] + step] if len(starts) else starts
    return frames["frame"].to_numpy(), np.round(starts).astype(int), np.round(ends).astype(int)


def runs(values: list[Any], present: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> list[list]:
    """[start_ms, end_ms, value] per run of equal values over consecutive frames where ``present``."""
    out: list[list] = []
    previous_present = False
    for k, (value, here) in enumerate(zip(values, present)):
        if not here:
            previous_present = False
            continue
        if previous_present and out[-1][2] == value:
            out[-1][1] = int(ends[k])
        else:
            out.append([int(starts[k]), int(ends[k]), value])
        previous_present = True
    return out


def merge_flicker(found: list[list], min_ms: float) -> list[list]:
    """Runs shorter than ``min_ms`` taken into the longer touching neighbour, shortest first; a run with no
    touching neighbour (alone between gaps) is kept."""
    found = [list(r) for r in found]
    while True:
        short = [k for k, r in enumerate(found) if r[1] - r[0] < min_ms and _neighbours(found, k)]
        if not short:
            return found
        k = min(short, key=lambda i: found[i][1] - found[i][0])
        into = max(_neighbours(found, k), key=lambda i: found[i][1] - found[i][0])
        low, high = sorted((k, into))
        found[low] = [found[low][0], found[high][1], found[into][2]]
        del found[high]
        # Equal neighbours now touching become one run.
        merged = [found[0]]
        for run in found[1:]:
            if run[0] == merged[-1][1] and run[2] == merged[-1][2]:
                merged[-1][1] = run[1]
            else:
                merged.append(run)
        found = merged


def _neighbours(found: list[list], k: int) -> list[int]:
    near = []
    if k > 0 and found[k - 1][1] == found[k][0]:
        near.append(k - 1)
    if k + 1 < len(found) and found[k + 1][0] == found[k][1]:
        near.append(k + 1)
    return near


def face_segments(results: pd.DataFrame, options: ElanOptions) -> dict[str, list[Segment]]:
    """Tier name -> segments, for every face in the table."""
    frames, starts, ends = frame_bounds(results)
    index = {int(f): k for k, f in enumerate(frames)}
    faces = results[results["success"] == 1]
    tiers: dict[str, list[Segment]] = {}
    for face_id, rows in faces.groupby("face_id", sort=True):
        present = np.zeros(len(frames), bool)
        at = [index[int(f)] for f in rows["frame"]]
        present[at] = True

        def series(column_values) -> list[Any]:
            values: list[Any] = [None] * len(frames)
            for k, v in zip(at, column_values):
                values[k] = v
            return values

        tasks = {"Expression": series(rows["expression"].astype(str))}
        for au in ACTION_UNITS:
            tasks[au] = series(rows[au].astype(int))
        for name, column in (("Valence", "valence"), ("Arousal", "arousal")):
            binned = np.floor(rows[column].to_numpy(np.float64) / options.va_bin)
            tasks[name] = series([f"{(b + 0.5) * options.va_bin:.2f}" for b in binned])
        for task, values in tasks.items():
            merged = merge_flicker(runs(values, present, starts, ends), options.min_duration_ms)
            if task in ACTION_UNITS:
                merged = [[s, e, "on"] for s, e, v in merged if v == 1]
            tiers[tier_name(task, int(face_id))] = [Segment(s, e, str(v)) for s, e, v in merged]
    return tiers


def elan_document(results: pd.DataFrame, video: Path, eaf_path: Path, options: ElanOptions = ElanOptions()):
    """A pympi Eaf: one tier per face and task (see the module docstring), the video linked relative to
    ``eaf_path``."""
    import pympi

    eaf = pympi.Elan.Eaf(author="AffectStream")
    eaf.remove_tier("default")
    eaf.add_linguistic_type(TIER_TYPE, timealignable=True)
    mime = VIDEO_MIMES.get(Path(video).suffix.lower(), "video/*")
    relative = os.path.relpath(Path(video).resolve(), Path(eaf_path).resolve().parent)
    eaf.add_linked_file(Path(video).resolve().as_uri(), relpath=relative, mimetype=mime)
    for name, segments in face_segments(results, options).items():
        eaf.add_tier(name, ling=TIER_TYPE)
        for segment in segments:
            eaf.add_annotation(name, segment.start_ms, segment.end_ms, segment.value)
    _number_slots_in_time_order(eaf)
    return eaf


def _number_slots_in_time_order(eaf) -> None:
    """pympi numbers time slots as annotations are added, tier after tier, and writes them by number: ELAN wants
    the TIME_ORDER in time order, so the slots are renumbered by (time, old number)."""
    def number(slot: str) -> int:
        return int(slot[2:])

    order = sorted(eaf.timeslots, key=lambda slot: (eaf.timeslots[slot], number(slot)))
    renamed = {old: f"ts{k}" for k, old in enumerate(order, start=1)}
    eaf.timeslots = {renamed[old]: eaf.timeslots[old] for old in order}
    for tier in eaf.tiers.values():
        aligned = tier[0]
        for annotation, (begin, end, value, svg) in list(aligned.items()):
            aligned[annotation] = (renamed[begin], renamed[end], value, svg)
    eaf.maxts = len(order)


def write_eaf(eaf, path: Path) -> None:
    """The document as XML, atomically (pympi's own writer renames an existing file to .bak instead)."""
    from xml.etree import ElementTree

    import pympi

    from affectstream.core.atomic import atomic_write

    document = pympi.Elan.to_adocument(eaf, True)
    with atomic_write(path) as handle:
        ElementTree.ElementTree(document).write(handle, xml_declaration=True, encoding="UTF-8")
