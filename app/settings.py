"""The app's settings: what the user chose, kept between runs in QSettings, and the engine they ask for.

Smoothing strength: ``None`` keeps the causal filter tuned on validation and
stored in the checkpoint; 0 shows raw outputs; s in (0, 1) replaces it with an
exponential moving average of weight 1 - s on the newest frame (valence/arousal
and expression probabilities alike), so larger is smoother.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

from PySide6.QtCore import QSettings

from core.default_model import resolve_model
from core.engine import EngineOptions

ORGANISATION = "AffectStream"
APPLICATION = "AffectStream"
MAX_SMOOTHING = 0.95  # an EMA weight of 0.05 on the newest frame: about a second of memory at 30 fps
MAX_THRESHOLD_OFFSET = 0.4


@dataclass(frozen=True)
class AppSettings:
    model_path: str = ""  # empty: the shipped default model
    smoothing: float | None = None  # None: the model's tuned filter (see the module docstring)
    au_threshold_offset: float = 0.0
    provider: str = "cpu"  # "cpu" or "cuda" (the temporal model's onnxruntime provider)
    camera_index: int = 0
    max_faces: int = 4
    show_landmarks: bool = False
    loop_video: bool = False

    def __post_init__(self) -> None:
        # Values come from a file the user can edit: clamp instead of refusing to start.
        if self.smoothing is not None:
            object.__setattr__(self, "smoothing", min(max(float(self.smoothing), 0.0), MAX_SMOOTHING))
        offset = min(max(float(self.au_threshold_offset), -MAX_THRESHOLD_OFFSET), MAX_THRESHOLD_OFFSET)
        object.__setattr__(self, "au_threshold_offset", offset)
        object.__setattr__(self, "provider", self.provider if self.provider in ("cpu", "cuda") else "cpu")
        object.__setattr__(self, "camera_index", max(int(self.camera_index), 0))
        object.__setattr__(self, "max_faces", min(max(int(self.max_faces), 1), 10))


@dataclass(frozen=True)
class EngineConfig:
    """Everything needed to build an engine; equal configs can share one."""

    model_path: Path
    options: EngineOptions


def engine_options(settings: AppSettings) -> EngineOptions:
    if settings.smoothing is None:
        smooth = dict(smooth=True)
    elif settings.smoothing == 0.0:
        smooth = dict(smooth=False)
    else:
        alpha = 1.0 - settings.smoothing
        smooth = dict(smooth=True, expr_alpha=alpha, va_filter={"kind": "ema", "alpha": alpha})
    return EngineOptions(runtime="auto", provider=settings.provider, max_faces=settings.max_faces,
                         au_threshold_offset=settings.au_threshold_offset, **smooth)


def engine_config(settings: AppSettings) -> EngineConfig:
    """The engine the settings ask for; a missing default model raises UserInputError with its message."""
    return EngineConfig(resolve_model(settings.model_path or None), engine_options(settings))


def open_store(path: str | Path | None = None) -> QSettings:
    """The user's settings, or an INI file at ``path`` (tests and scripts use one of their own)."""
    if path is not None:
        return QSettings(str(path), QSettings.Format.IniFormat)
    return QSettings(ORGANISATION, APPLICATION)


def load_settings(store: QSettings) -> AppSettings:
    defaults = AppSettings()
    values = {}
    for f in fields(AppSettings):
        if not store.contains(f.name):
            continue
        raw = store.value(f.name)
        default = getattr(defaults, f.name)
        try:
            if f.name == "smoothing":
                values[f.name] = None if raw in ("", "model", None) else float(raw)
            elif isinstance(default, bool):
                values[f.name] = raw if isinstance(raw, bool) else str(raw).lower() == "true"
            elif isinstance(default, (int, float)):
                values[f.name] = type(default)(float(raw))
            else:
                values[f.name] = str(raw)
        except (TypeError, ValueError):
            continue  # a value mangled by hand: keep the default
    return replace(defaults, **values)


def save_settings(store: QSettings, settings: AppSettings) -> None:
    for f in fields(AppSettings):
        value = getattr(settings, f.name)
        store.setValue(f.name, "model" if f.name == "smoothing" and value is None else value)
    store.sync()
