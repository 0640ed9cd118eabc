"""Where the shipped default multi-task model lives (assets/affect-gru-mixed/, see its MODEL_CARD.md; the
figures of the models it replaced are kept there)."""

from __future__ import annotations

from pathlib import Path

from affectstream.core.errors import UserInputError

ASSETS = Path(__file__).resolve().parents[1] / "assets"
ASSET_DIR = ASSETS / "affect-gru-mixed"
DEFAULT_MODEL_FILE = "affect_gru_mixed.safetensors"
# The default model's features, in order: what `import-stills` extracts unless told otherwise, so that
# a model trained on its output runs like the default one (one CNN per face, int8 but for its first
# convolution, keeps live at its frame rate).
DEFAULT_FEATURES = ("blendshapes", "expr-cnn-soup-mixed")


def default_model_path() -> Path:
    """The default checkpoint, or a clear error when it is missing."""
    path = ASSET_DIR / DEFAULT_MODEL_FILE
    if not path.is_file():
        raise UserInputError(
            f"default model not found at {path}; pass a checkpoint explicitly "
            "(train one with `affectstream train`, see assets/affect-gru-mixed/MODEL_CARD.md)")
    return path


def resolve_model(path: str | Path | None) -> Path:
    """An explicit checkpoint path as given, else the default model."""
    return Path(path) if path is not None else default_model_path()
