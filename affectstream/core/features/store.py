"""The per-frame feature store that `affectstream extract` writes and training reads.

Layout on disk, one folder per backbone::

    <root>/<backbone>/spec.json     {"name", "dim", "config"}
    <root>/<backbone>/<video>.npz   frames (N,) int64, features (N, D) float32,
                                    face_found (N,) bool

``frames`` are the frame numbers a row covers (the ABAW ``<video>/<frame>.jpg``
number). Rows whose ``face_found`` is False hold zeros: the frame was read but no
face was found. Several backbones are concatenated by name in a recorded order.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from affectstream.core.atomic import atomic_write, write_text_atomic
from affectstream.core.errors import UserInputError

SPEC_FILE = "spec.json"
# What np.load and the zip reader raise on a truncated, zero-byte or corrupted .npz
# (EOFError for an empty file, BadZipFile for a cut or bad-CRC one).
_DAMAGED = (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile, zlib.error)


class FeatureStoreError(UserInputError):
    """A feature file is missing, malformed, or does not match what is asked of it."""


@dataclass(frozen=True)
class FeatureSpec:
    """One backbone's features: its registered name, output dimension and config."""

    name: str
    dim: int
    config: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dim": int(self.dim), "config": self.config}

    @staticmethod
    def from_json(data: dict[str, Any]) -> "FeatureSpec":
        return FeatureSpec(name=str(data["name"]), dim=int(data["dim"]), config=dict(data.get("config", {})))

    def identity(self) -> dict[str, Any]:
        """What makes these features what they are, flat (``params.<key>`` for the extractor's
        parameters): the spec without its prose (a reworded description computes the same numbers)
        and, where the model file's hash is recorded, without the path it was read from (another
        checkout or install holds the same file elsewhere)."""
        flat = {"name": self.name, "dim": int(self.dim)}
        flat |= {k: v for k, v in self.config.items() if k not in _PROSE and k != "params"}
        params = self.config.get("params") or {}
        skip = {"model_input"} | ({"model"} if "sha256" in params else set())
        return flat | {f"params.{k}": v for k, v in params.items() if k not in skip}

    def digest(self) -> str:
        """16 hex digits of ``identity``: recorded in each video's file, so that features written under another
        configuration (the spec rewritten since, by ``extract --overwrite``) are never read as these."""
        import hashlib

        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True, default=str).encode()).hexdigest()[:16]

    def differs_from(self, other: "FeatureSpec") -> str | None:
        """The first thing that makes ``other`` compute other features than these, or None."""
        mine, theirs = self.identity(), other.identity()
        key = next((k for k in sorted(mine.keys() | theirs.keys()) if mine.get(k) != theirs.get(k)), None)
        return None if key is None else f"{self.name}: {key} differs"


_PROSE = ("description", "licence")  # spec fields that describe features without changing them


@dataclass
class VideoFeatures:
    """Features of one video: a row per covered frame."""

    frames: np.ndarray  # (N,) int64, strictly increasing
    features: np.ndarray  # (N, D) float32
    face_found: np.ndarray  # (N,) bool

    def __post_init__(self) -> None:
        self.frames = np.asarray(self.frames, dtype=np.int64)
        self.features = np.asarray(self.features, dtype=np.float32)
        self.face_found = np.asarray(self.face_found, dtype=bool)
        n = len(self.frames)
        if self.features.ndim != 2 or self.features.shape[0] != n or self.face_found.shape != (n,):
            raise FeatureStoreError(
                f"inconsistent shapes: frames {self.frames.shape}, features {self.features.shape}, "
                f"face_found {self.face_found.shape}"
            )

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])


def _check_video_name(video: str) -> str:
    if not video or "/" in video or "\\" in video or video in (".", ".."):
        raise FeatureStoreError(f"invalid video name {video!r}")
    return video


def _check_frames(frames: np.ndarray, where: str, hint: str = "") -> None:
    """Frames must be strictly increasing: a repeated frame would be predicted twice
    and its neighbour dropped when backbones are joined by frame number."""
    if frames.ndim != 1:
        raise FeatureStoreError(f"{where}: frame numbers must be a 1-D array, not shape {frames.shape}")
    steps = np.diff(frames)
    if (steps <= 0).any():
        at = int(np.argmax(steps <= 0)) + 1
        kind = "repeated" if steps[at - 1] == 0 else "out of order"
        raise FeatureStoreError(
            f"{where}: frame numbers must be strictly increasing; frame {int(frames[at])} is {kind} "
            f"(row {at}){hint}"
        )


def _check_finite(features: np.ndarray, frames: np.ndarray, face_found: np.ndarray, where: str) -> None:
    bad_rows = ~np.isfinite(features).all(axis=1) & face_found
    if bad_rows.any():
        first = int(frames[np.argmax(bad_rows)])
        raise FeatureStoreError(
            f"{where}: NaN or inf features in {int(bad_rows.sum())} frame(s), first at frame {first}"
        )


@dataclass(frozen=True)
class FeatureStore:
    """A folder of per-backbone, per-video feature files."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    # -- layout -----------------------------------------------------------
    def backbone_dir(self, backbone: str) -> Path:
        return self.root / _check_video_name(backbone)

    def video_path(self, backbone: str, video: str) -> Path:
        return self.backbone_dir(backbone) / f"{_check_video_name(video)}.npz"

    def backbones(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / SPEC_FILE).is_file())

    def videos(self, backbone: str) -> list[str]:
        folder = self.backbone_dir(backbone)
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob("*.npz"))

    def has(self, backbone: str, video: str) -> bool:
        return self.video_path(backbone, video).is_file()

    def is_readable(self, backbone: str, video: str) -> bool:
        """Whether the video's file exists and reads back whole and valid (not truncated, not damaged)."""
        if not self.has(backbone, video):
            return False
        try:
            self.read(backbone, video)
        except FeatureStoreError:
            return False
        return True

    # -- specs ------------------------------------------------------------
    def spec(self, backbone: str) -> FeatureSpec:
        path = self.backbone_dir(backbone) / SPEC_FILE
        if not path.is_file():
            known = ", ".join(self.backbones()) or "none"
            raise FeatureStoreError(f"no features for backbone {backbone!r} in {self.root} (found: {known})")
        try:
            return FeatureSpec.from_json(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError) as exc:
            raise FeatureStoreError(f"{path}: malformed feature spec ({exc})") from exc

    def write_spec(self, spec: FeatureSpec) -> None:
        path = self.backbone_dir(spec.name) / SPEC_FILE
        if path.is_file():
            old = self.spec(spec.name)
            if old.dim != spec.dim:
                raise FeatureStoreError(
                    f"{path}: backbone {spec.name!r} already stored with dimension {old.dim}, not {spec.dim}"
                )
        write_text_atomic(path, json.dumps(spec.to_json(), indent=2, sort_keys=True) + "\n")

    # -- one backbone, one video -----------------------------------------
    def write(self, backbone: str, video: str, data: VideoFeatures, source_kind: str = "",
              source_fingerprint: str = "") -> Path:
        """Write one video's features atomically (the spec must be written first); ``source_kind``, where
        given, records how the video was read (e.g. a folder as "aligned" faces or whole "frames"), and
        ``source_fingerprint`` which file it was (SourceSpec.fingerprint)."""
        spec = self.spec(backbone)
        if data.dim != spec.dim:
            raise FeatureStoreError(
                f"{backbone}/{video}: features have dimension {data.dim}, the spec says {spec.dim}"
            )
        _check_finite(data.features, data.frames, data.face_found, f"{backbone}/{video}")
        _check_frames(data.frames, f"{backbone}/{video}")
        path = self.video_path(backbone, video)
        recorded = {key: np.array(value) for key, value in (("source_kind", source_kind),
                                                            ("source_fingerprint", source_fingerprint),
                                                            ("spec", spec.digest())) if value}
        with atomic_write(path) as handle:
            np.savez(handle, frames=data.frames, features=data.features, face_found=data.face_found, **recorded)
        return path

    def source_kind(self, backbone: str, video: str) -> str:
        """How the video was read when its features were written ("" where that was not recorded: files
        written before the kind was recorded hold videos or aligned folders, never whole frames)."""
        return self._recorded(backbone, video, "source_kind")

    def source_fingerprint(self, backbone: str, video: str) -> str:
        """Which file the video's features came from ("" for folders, and where it was not recorded)."""
        return self._recorded(backbone, video, "source_fingerprint")

    def _recorded(self, backbone: str, video: str, key: str) -> str:
        try:
            with np.load(self.video_path(backbone, video), allow_pickle=False) as npz:
                return str(npz[key]) if key in npz.files else ""
        except _DAMAGED:
            return ""

    def read(self, backbone: str, video: str) -> VideoFeatures:
        spec = self.spec(backbone)
        path = self.video_path(backbone, video)
        if not path.is_file():
            raise FeatureStoreError(
                f"video {video!r}: no feature file for backbone {backbone!r} (expected {path}); "
                "run `affectstream extract` for it"
            )
        try:
            with np.load(path, allow_pickle=False) as npz:
                data = VideoFeatures(npz["frames"], npz["features"], npz["face_found"])
                written_for = str(npz["spec"]) if "spec" in npz.files else ""  # files before it vouch for any
        except _DAMAGED as exc:
            raise FeatureStoreError(
                f"{path}: unreadable or damaged feature file for video {video!r} "
                f"({type(exc).__name__}: {exc}); re-run `affectstream extract` for it"
            ) from exc
        if data.dim != spec.dim:
            raise FeatureStoreError(f"{path}: dimension {data.dim} does not match the spec's {spec.dim}")
        if written_for and written_for != spec.digest():
            raise FeatureStoreError(f"{path}: features of another configuration of {backbone!r} than its spec.json "
                                    "now says (rewritten since, e.g. by extract --overwrite with other options); "
                                    "extract this video again")
        _check_frames(data.frames, str(path), "; re-run `affectstream extract --overwrite` for this video")
        _check_finite(data.features, data.frames, data.face_found, str(path))
        return data

    # -- several backbones --------------------------------------------------
    def specs(self, backbones: Sequence[str]) -> list[FeatureSpec]:
        if not backbones:
            raise FeatureStoreError("no backbones named")
        if len(set(backbones)) != len(backbones):
            raise FeatureStoreError(f"a backbone is named twice in {list(backbones)}")
        return [self.spec(b) for b in backbones]

    def read_concat(self, backbones: Sequence[str], video: str) -> VideoFeatures:
        """Features of several backbones side by side, in the given order.

        Rows are the frames every backbone covers; a face counts as found only
        where every backbone found it.
        """
        parts = [self.read(b, video) for b in backbones]
        frames = parts[0].frames
        for part in parts[1:]:
            frames = np.intersect1d(frames, part.frames, assume_unique=True)
        features, found = [], np.ones(len(frames), dtype=bool)
        for part in parts:
            index = np.searchsorted(part.frames, frames)
            features.append(part.features[index])
            found &= part.face_found[index]
        return VideoFeatures(frames, np.concatenate(features, axis=1), found)


def feature_dim(specs: Sequence[FeatureSpec]) -> int:
    return int(sum(s.dim for s in specs))


def default_store_root() -> Path:
    return Path(os.environ.get("AFFECTSTREAM_FEATURES", "features"))
