"""The app's settings: what the user chose, kept between runs in QSettings, and the engine they ask for.

Smoothing is spelled as everywhere else (affectstream.core.post.modes), live only: ``causal`` or ``none``
(raw outputs). ``smoothing_strength`` tunes ``causal``: ``None`` keeps the filter tuned on validation and
stored in the checkpoint; s in (0, 1) replaces it with an exponential moving average of weight 1 - s on
the newest frame (valence/arousal and expression probabilities alike), so larger is smoother.

The settings file keeps the one key it always had, ``smoothing``, with the values it always held:
``model`` (causal, the model's filter), ``0`` (none) or the strength (causal at that strength); a
hand-written ``causal`` or ``none`` is read too.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QSettings

from affectstream.core.default_model import resolve_model
from affectstream.core.errors import UserInputError
from affectstream.core.engine import EngineFaces, EngineOptions, EnginePost, EngineRuntime
from affectstream.core.faces.types import MAX_FACES
from affectstream.core.post.modes import LIVE_SMOOTHING

ORGANISATION = "AffectStream"
APPLICATION = "AffectStream"
MAX_SMOOTHING = 0.95  # an EMA weight of 0.05 on the newest frame: about a second of memory at 30 fps
MAX_THRESHOLD_OFFSET = 0.4
MAX_CAMERA_INDEX = 255  # far above any real /dev/videoN; bigger is a typo
PROVIDERS = ("cpu", "cuda")
NOT_REGULAR_FILE = "not a regular file (a FIFO, device or socket)"


@dataclass(frozen=True)
class AppSettings:
    model_path: str = ""  # empty: the shipped default model
    smoothing: str = "causal"  # "causal" or "none" (see the module docstring)
    smoothing_strength: float | None = None  # None: the model's tuned causal filter; else an EMA's strength
    au_threshold_offset: float = 0.0
    provider: str = "cpu"  # "cpu" or "cuda" (the temporal model's onnxruntime provider)
    camera_index: int = 0
    max_faces: int = 6  # a group in front of the camera (affectstream.core.faces.group searches for every face)
    show_landmarks: bool = False
    loop_video: bool = False

    def __post_init__(self) -> None:
        # Built from the dialog, a script or the settings file: an unusable number becomes the default
        # (NaN, infinity, not a number) or is clamped, rather than raise at start-up or reach the engine.
        # read_settings reports what it replaced in the file, and why.
        default = {f.name: f.default for f in fields(self)}
        if self.smoothing not in LIVE_SMOOTHING:  # centred needs frames to come: not live
            object.__setattr__(self, "smoothing", default["smoothing"])
        if self.smoothing_strength is not None:  # an unusable strength: the model's own filter (the default)
            object.__setattr__(self, "smoothing_strength", _clamped(self.smoothing_strength, 0.0, MAX_SMOOTHING, None))
        if self.smoothing == "none" or self.smoothing_strength == 0.0:
            # Raw values have no strength, and a strength of 0 is raw values: one spelling of each choice.
            object.__setattr__(self, "smoothing", "none")
            object.__setattr__(self, "smoothing_strength", None)
        object.__setattr__(self, "au_threshold_offset", _clamped(
            self.au_threshold_offset, -MAX_THRESHOLD_OFFSET, MAX_THRESHOLD_OFFSET, default["au_threshold_offset"]))
        object.__setattr__(self, "provider", self.provider if self.provider in PROVIDERS else "cpu")
        object.__setattr__(self, "camera_index",
                           int(_clamped(self.camera_index, 0, MAX_CAMERA_INDEX, default["camera_index"])))
        object.__setattr__(self, "max_faces", int(_clamped(self.max_faces, 1, MAX_FACES, default["max_faces"])))


def _finite(value: object) -> float | None:
    """``value`` as a finite float, or None (NaN, infinity, not a number at all)."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _clamped(value: object, low: float, high: float, default: float | None) -> float | None:
    number = _finite(value)
    return default if number is None else min(max(number, low), high)


@dataclass(frozen=True)
class EngineConfig:
    """Everything needed to build an engine; equal configs can share one."""

    model_path: Path
    options: EngineOptions


def engine_options(settings: AppSettings) -> EngineOptions:
    smooth: dict[str, Any] = dict(smoothing=settings.smoothing)
    if settings.smoothing_strength is not None:
        alpha = 1.0 - settings.smoothing_strength
        smooth.update(expr_alpha=alpha, va_filter={"kind": "ema", "alpha": alpha})
    return EngineOptions(EngineRuntime(provider=settings.provider), EngineFaces(max_faces=settings.max_faces),
                         EnginePost(au_threshold_offset=settings.au_threshold_offset, **smooth))


def engine_config(settings: AppSettings) -> EngineConfig:
    """The engine the settings ask for; a missing default model raises UserInputError with its message."""
    return EngineConfig(resolve_model(settings.model_path or None), engine_options(settings))


def open_store(path: str | Path | None = None) -> QSettings:
    """The user's settings, or an INI file at ``path`` (tests and scripts use one of their own), checked
    first (check_settings_file)."""
    if path is not None:
        check_settings_file(Path(path))
        return QSettings(str(path), QSettings.Format.IniFormat)
    return QSettings(ORGANISATION, APPLICATION)


def check_settings_file(path: Path) -> None:
    """Refuse (UserInputError) a settings file that is a FIFO or device (Qt's read would wait for a writer,
    maybe for ever), a folder, or in a folder that does not exist (Qt would make it, and the folders above,
    for a path that may be a typo)."""
    if path.is_dir():
        raise UserInputError(f"--settings {path}: a folder, not an INI file")
    if path.exists() and not path.is_file():
        raise UserInputError(f"--settings {path}: {NOT_REGULAR_FILE}")
    if not path.parent.is_dir():
        raise UserInputError(f"--settings {path}: its folder {path.parent} does not exist; make it first or "
                             "choose another file")


def load_settings(store: QSettings) -> AppSettings:
    """The settings in ``store``; unusable values are replaced by defaults (read_settings says which)."""
    return read_settings(store)[0]


def read_settings(store: QSettings) -> tuple[AppSettings, list[str]]:
    """The settings in ``store`` and one warning per value replaced by its default.

    The file is edited by hand at times: a value that is not a number, not finite or out of range must
    neither crash start-up nor reach the engine, and the warning names the file and the key to fix.
    """
    defaults = AppSettings()
    where = store.fileName()
    warnings = []
    if store.status() != QSettings.Status.NoError:
        warnings.append(f"{where}: cannot be read ({store.status().name}); using the default settings")
    values: dict[str, Any] = {}
    for key, parse in _PARSERS.items():
        if not store.contains(key):
            continue
        raw = store.value(key)
        value, problem = parse(raw)
        if problem:
            shown = _stored(key, defaults)
            warnings.append(f"{where}: {key}={_shown(raw)} is {problem}; using the default {shown}")
            continue
        values.update(value if key == SMOOTHING_KEY else {key: value})
    return replace(defaults, **values), warnings


def report_settings_warnings(warnings: list[str]) -> None:
    """Settings problems go to stderr too: the status bar line is gone after a few seconds."""
    for warning in warnings:
        print(f"affectstream app: warning: {warning}", file=sys.stderr)


def _shown(raw: Any) -> str:
    """A raw value as the file spells it (a QStringList comes back for ``a, b``)."""
    return ", ".join(map(str, raw)) if isinstance(raw, (list, tuple)) else str(raw)


def _number(raw: Any) -> float | None:
    """A finite number from the file, or None; booleans and lists are not numbers."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        return None
    return _finite(raw.strip() if isinstance(raw, str) else raw)


def _float_in(low: float, high: float) -> Callable[[Any], tuple[Any, str]]:
    def parse(raw: Any) -> tuple[Any, str]:
        number = _number(raw)
        if number is None or not low <= number <= high:
            return None, f"not a number from {low:g} to {high:g}"
        return number, ""
    return parse


def _int_in(low: int, high: int) -> Callable[[Any], tuple[Any, str]]:
    def parse(raw: Any) -> tuple[Any, str]:
        number = _number(raw)
        if number is None or number != int(number) or not low <= number <= high:
            return None, f"not a whole number from {low} to {high}"
        return int(number), ""
    return parse


def _smoothing(raw: Any) -> tuple[Any, str]:
    """The file's smoothing value as the two settings it stands for (see the module docstring)."""
    text = raw.strip() if isinstance(raw, str) else None
    if raw is None or text in ("", "model", "causal"):
        return dict(smoothing="causal", smoothing_strength=None), ""  # the model's own filter
    if text == "none":
        return dict(smoothing="none", smoothing_strength=None), ""
    value, problem = _float_in(0.0, MAX_SMOOTHING)(raw)
    if problem:
        return None, f"{problem} (or model, or none)"
    return dict(smoothing="none" if value == 0.0 else "causal", smoothing_strength=value or None), ""


def _stored_smoothing(settings: AppSettings) -> str | float:
    """The file's one value for both smoothing settings, as it always held them."""
    if settings.smoothing == "none":
        return 0.0
    return "model" if settings.smoothing_strength is None else settings.smoothing_strength


def _stored(key: str, settings: AppSettings) -> Any:
    return _stored_smoothing(settings) if key == SMOOTHING_KEY else getattr(settings, key)


def _flag(raw: Any) -> tuple[Any, str]:
    if isinstance(raw, bool):
        return raw, ""
    text = str(raw).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True, ""
    if text in ("false", "0", "no", "off"):
        return False, ""
    return None, "not true or false"


def _provider(raw: Any) -> tuple[Any, str]:
    text = str(raw).strip().lower()
    return (text, "") if text in PROVIDERS else (None, f"not one of {', '.join(PROVIDERS)}")


def _text(raw: Any) -> tuple[Any, str]:
    """A path: text as written (an unquoted ``a, b`` comes back as a list of text); a number, a mapping or
    binary value is not one, and is not turned into one."""
    if raw is None:
        return "", ""
    text = isinstance(raw, str) or (isinstance(raw, (list, tuple)) and all(isinstance(r, str) for r in raw))
    return (_shown(raw), "") if text else (None, "not a path")


SMOOTHING_KEY = "smoothing"  # the file's key for smoothing and smoothing_strength together
# How each key of the file is read: (value, "") or (None, what is wrong with it); the smoothing key's value
# is a dict of the settings it fills.
_PARSERS: dict[str, Callable[[Any], tuple[Any, str]]] = {
    "model_path": _text,
    "smoothing": _smoothing,
    "au_threshold_offset": _float_in(-MAX_THRESHOLD_OFFSET, MAX_THRESHOLD_OFFSET),
    "provider": _provider,
    "camera_index": _int_in(0, MAX_CAMERA_INDEX),
    "max_faces": _int_in(1, MAX_FACES),
    "show_landmarks": _flag,
    "loop_video": _flag,
}


def save_settings(store: QSettings, settings: AppSettings) -> str:
    """Write the settings to ``store``; "" when they are saved, else why not (the file or its folder cannot
    be written): QSettings says so only in its status, which the caller must show. (A FormatError is the
    file as it was read, said by read_settings; the write replaces it.)"""
    for key in _PARSERS:
        store.setValue(key, _stored(key, settings))
    store.sync()
    if store.status() != QSettings.Status.AccessError:
        return ""
    return f"settings not saved: {store.fileName()} cannot be written (AccessError); they last until the app closes"
