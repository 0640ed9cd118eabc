"""Where the shipped default multi-task model lives (assets/affect-gru/, see its MODEL_CARD.md)."""

from __future__ import annotations

from pathlib import Path

from core.errors import UserInputError

ASSET_DIR = Path(__file__).resolve().parents[1] / "assets" / "affect-gru"
DEFAULT_MODEL_FILE = "affect_gru.safetensors"


def default_model_path() -> Path:
    """The default checkpoint, or a clear error when it is missing."""
    path = ASSET_DIR / DEFAULT_MODEL_FILE
    if not path.is_file():
        raise UserInputError(
            f"default model not found at {path}; pass a checkpoint explicitly "
            "(train one with `affectstream train`, see assets/affect-gru/MODEL_CARD.md)")
    return path


def resolve_model(path: str | Path | None) -> Path:
    """An explicit checkpoint path as given, else the default model."""
    return Path(path) if path is not None else default_model_path()
