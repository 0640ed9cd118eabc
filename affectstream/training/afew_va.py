"""Reader of the AFEW-VA layout (Kossaifi et al. 2017): film clips with per-frame human valence/arousal.

One folder per clip, its frames as numbered images beside the clip's labels::

    <root>/<clip>/<clip>.json   {"video_id": ..., "actor": ...,
                                 "frames": {"00000": {"valence": v, "arousal": a, "landmarks": [[x, y] * 68]}, ...}}
    <root>/<clip>/00000.png ...

Valence and arousal are ratings on -10..10; they become -1..1 (divided by 10), the
ABAW range. The clip's 68 landmarks are not read: the live path finds its own, so
that training features equal run-time features. Expression and action units are
not in AFEW-VA and stay at the missing code. ``actor`` names the person, so that a
split can keep each person in one part. The import built on it (`import-afew-va`):
affectstream.training.afew_va_import.
"""

from __future__ import annotations

import json
import math
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectstream.core.errors import UserInputError
from affectstream.core.labels import AU_MISSING, EXPR_MISSING, NUM_AUS
from affectstream.core.sources.readers import is_aligned_folder, numbered_images
from affectstream.training.annotations import VideoLabels, is_video_name

# AFEW-VA rates valence and arousal on -10..10; ABAW (and the model) on -1..1.
RATING_SCALE = 10.0


class AfewVaError(UserInputError):
    """A clip that does not follow the AFEW-VA layout; the message names its file and frame key."""


@dataclass(frozen=True)
class AfewVaClip:
    """One clip's labels: frames that have both a rating and an image."""

    name: str  # the folder's name, the video's name in the feature store and annotation files
    folder: Path
    actor: str
    frames: np.ndarray  # (N,) int64 frame numbers, increasing
    va: np.ndarray  # (N, 2) float32 in [-1, 1]
    images: int  # numbered images in the folder (rated or not)
    ratings_without_image: tuple[int, ...]  # rated frame numbers with no image: not usable, reported

    @property
    def person(self) -> str:
        """Who the clip shows, as splits compare persons (see person_key)."""
        return person_key(self.actor)

    def labels(self) -> VideoLabels:
        """The clip in the ABAW layout: real valence/arousal, expression and AUs missing."""
        n = len(self.frames)
        return VideoLabels(self.name, self.frames, self.va, np.full(n, EXPR_MISSING, dtype=np.int64),
                           np.full((n, NUM_AUS), AU_MISSING, dtype=np.int8))


def labels_file(folder: Path) -> Path:
    return folder / f"{folder.name}.json"


def is_clip_folder(folder: Path) -> bool:
    return folder.is_dir() and labels_file(folder).is_file()


def _may_be_clip(folder: Path) -> bool:
    # Frames without their <clip>.json count too: read_clip then says what is missing, instead of the clip
    # vanishing from the import unnoticed.
    return is_clip_folder(folder) or is_aligned_folder(folder)


def find_clip_folders(root: str | Path) -> list[Path]:
    """The clip folders under ``root`` (``root`` itself if it is one), sorted by name."""
    root = Path(root)
    if not root.exists():
        raise AfewVaError(f"{root}: no such folder")
    if not root.is_dir():
        raise AfewVaError(f"{root}: not a folder (give the folder of the clips, or one clip's folder)")
    try:
        if _may_be_clip(root):
            return [root]
        clips = sorted(child for child in root.iterdir() if _may_be_clip(child))
    except OSError as exc:
        raise AfewVaError(f"{root}: cannot be listed ({exc.strerror or exc})") from None
    if not clips:
        raise AfewVaError(f"{root}: no AFEW-VA clip folders (a folder <clip>/ holding <clip>.json and its frames)")
    return clips


def _rating(path: Path, key: str, entry: object, field: str) -> float:
    if not isinstance(entry, dict):
        raise AfewVaError(f"{path}: frames[{key!r}] is not an object with valence and arousal")
    if field not in entry:
        raise AfewVaError(f"{path}: frames[{key!r}] has no {field}")
    value = entry[field]
    # bool is an int in Python; a rating of true is a broken file, not 1.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise AfewVaError(f"{path}: frames[{key!r}].{field} {json.dumps(value)} is not a number")
    if not -RATING_SCALE <= value <= RATING_SCALE:
        raise AfewVaError(f"{path}: frames[{key!r}].{field} {value:g} is outside "
                          f"{-RATING_SCALE:g}..{RATING_SCALE:g}")
    return float(value) / RATING_SCALE


def read_clip(folder: str | Path) -> AfewVaClip:
    """One clip's ratings, checked; raises AfewVaError naming the file and frame key of the first problem."""
    folder = Path(folder)
    path = labels_file(folder)
    if not is_video_name(folder.name):
        raise AfewVaError(f"{folder}: the folder's name cannot name a video in the annotation files "
                          "(a comma, a line break, a slash or surrounding spaces); rename it")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AfewVaError(f"{path}: missing (AFEW-VA keeps a clip's labels in <clip>/<clip>.json)") from None
    except json.JSONDecodeError as exc:
        raise AfewVaError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AfewVaError(f"{path}: cannot be read ({exc})") from None
    if not isinstance(data, dict):
        raise AfewVaError(f"{path}: not a JSON object")
    actor = data.get("actor")
    if actor is None or (isinstance(actor, str) and not actor.strip()):
        raise AfewVaError(f"{path}: no 'actor' (the person's name keeps each person in one split)")
    if not isinstance(actor, str):
        raise AfewVaError(f"{path}: 'actor' {json.dumps(actor)} is not a person's name")
    ratings = data.get("frames")
    if not isinstance(ratings, dict) or not ratings:
        raise AfewVaError(f"{path}: no 'frames' object with per-frame ratings")
    rows: list[tuple[int, float, float]] = []
    for key, entry in ratings.items():
        if not (key.isascii() and key.isdigit()):
            raise AfewVaError(f"{path}: frames key {key!r} is not a frame number")
        rows.append((int(key), _rating(path, key, entry, "valence"), _rating(path, key, entry, "arousal")))
    rows.sort()
    numbers = [r[0] for r in rows]
    for a, b in zip(numbers, numbers[1:]):
        if a == b:
            raise AfewVaError(f"{path}: frame {a} is rated twice (two keys with the same number)")
    try:
        images = {number for number, _ in numbered_images(folder)}
    except UserInputError as exc:
        raise AfewVaError(str(exc)) from None
    except OSError as exc:
        raise AfewVaError(f"{folder}: cannot be listed ({exc.strerror or exc})") from None
    kept = [r for r in rows if r[0] in images]
    if not kept:
        raise AfewVaError(f"{folder}: none of the {len(rows)} rated frames has an image (e.g. {numbers[0]:05d}.png)")
    return AfewVaClip(
        name=folder.name, folder=folder, actor=actor.strip(),
        frames=np.asarray([r[0] for r in kept], dtype=np.int64),
        va=np.asarray([(r[1], r[2]) for r in kept], dtype=np.float32),
        images=len(images),
        ratings_without_image=tuple(r[0] for r in rows if r[0] not in images),
    )


def person_key(actor: str) -> str:
    """One person, however the name is spaced, capitalised or Unicode-composed across clips."""
    return " ".join(unicodedata.normalize("NFKC", actor).split()).casefold()
