"""Model checkpoints: weights in safetensors, everything needed to run them in its header.

A checkpoint holds the model config, the feature spec (names, order, dimensions),
the normalisation (as buffers in the weights), AU thresholds, smoothing parameters
and provenance. safetensors stores only tensors and strings, so loading a
stranger's checkpoint cannot run code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors import safe_open
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from affectstream.core.atomic import atomic_write
from affectstream.core.errors import UserInputError, is_finite_number, is_whole_number
from affectstream.core.features.store import FeatureSpec
from affectstream.core.labels import ACTION_UNITS, EXPRESSIONS, NUM_AUS
from affectstream.core.temporal.config import MAX_SEQ_LEN, ModelConfig, ModelConfigError
from affectstream.core.temporal.multitask import MultiTaskModel
from affectstream.core.filter_config import ChosenSmoothing, SmoothingConfigError, causal_config_from_json, causal_config_to_json

FORMAT = "affectstream-model"
FORMAT_VERSION = 1
METADATA_KEY = "affectstream"
# In the provenance of a model saved while its training ran: why it is not finished yet (its smoothing, chosen last,
# is missing). Removed when the training finishes.
UNFINISHED_KEY = "unfinished"
UNFINISHED_NOTE = ("its training stopped before smoothing was chosen (no valence/arousal smoothing): run its train "
                   "command again to finish it (the smoothing options may differ)")


def unfinished_warning(path: str | Path, provenance: dict[str, Any]) -> str:
    """The line to show for a model saved mid-training ("" for a finished one): it runs, without the smoothing
    its training would have chosen."""
    return f"warning: {path}: {provenance[UNFINISHED_KEY]}" if UNFINISHED_KEY in provenance else ""


# The widest centred smoothing window accepted: training picks from 1..51; beyond
# about half a minute at 30 fps a "smoothed" curve is flat and the value is a typo.
MAX_OFFLINE_WINDOW = 1001


class CheckpointError(UserInputError):
    """A checkpoint that cannot be read or does not fit the features it is given."""


# -- metadata checks (the header is untrusted: check before building anything) ------------

def _check_seq_len(value: Any, where: str) -> None:
    if not is_whole_number(value) or not 1 <= value <= MAX_SEQ_LEN:
        raise CheckpointError(f"{where}: seq_len must be an integer in 1..{MAX_SEQ_LEN}, got {value!r}")


def check_au_thresholds(values: Any, where: str) -> None:
    """12 finite numbers strictly inside (0, 1): 0 or 1 would pin an AU on or off. ``where`` names the value."""
    if not isinstance(values, list) or len(values) != NUM_AUS:
        raise CheckpointError(f"{where} must be {NUM_AUS} finite numbers in (0, 1), got {values!r}")
    for name, value in zip(ACTION_UNITS, values):
        if not is_finite_number(value) or not 0.0 < value < 1.0:
            raise CheckpointError(f"{where} ({name}) must be a finite number in (0, 1), got {value!r}")


def check_offline_window(window: Any, where: str) -> None:
    if not is_whole_number(window) or not 1 <= window <= MAX_OFFLINE_WINDOW or window % 2 == 0:
        raise CheckpointError(f"{where} must be an odd integer in 1..{MAX_OFFLINE_WINDOW}, got {window!r}")


def _check_post(post: Any, where: str) -> None:
    if not isinstance(post, dict):
        raise CheckpointError(f"{where}: post must be a JSON object, got {post!r}")
    check_offline_window(post.get("offline_window"), f"{where}: post.offline_window")
    fps = post.get("fps", 30.0)
    if not is_finite_number(fps) or fps <= 0:
        raise CheckpointError(f"{where}: post.fps must be a finite number > 0, got {fps!r}")
    try:
        causal = causal_config_to_json(causal_config_from_json(post.get("causal")))
    except SmoothingConfigError as exc:
        raise CheckpointError(f"{where}: post.causal: {exc}") from exc
    # The filter configs check signs but let inf through, which would freeze the output.
    if not all(is_finite_number(v) for k, v in causal.items() if k != "kind"):
        raise CheckpointError(f"{where}: post.causal holds a non-finite parameter: {post.get('causal')!r}")


def _check_raw_meta(data: dict[str, Any], where: str) -> None:
    """Ranges of the values outside model_config (which ModelConfig checks itself)."""
    _check_seq_len(data.get("seq_len"), where)
    check_au_thresholds(data.get("au_thresholds"), f"{where}: au_thresholds")
    _check_post(data.get("post"), where)


@dataclass
class ModelMeta:
    """Everything besides the weights that running a checkpoint needs."""

    name: str
    model_config: ModelConfig
    features: list[FeatureSpec]
    seq_len: int = 250
    carry_state: bool = True  # recurrent state carried across segments (else reset at each)
    au_thresholds: np.ndarray = field(default_factory=lambda: np.full(NUM_AUS, 0.5, dtype=np.float32))
    post: ChosenSmoothing = field(default_factory=ChosenSmoothing)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def feature_dim(self) -> int:
        return int(sum(f.dim for f in self.features))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "model_config": self.model_config.to_json(),
            "features": [f.to_json() for f in self.features],
            "seq_len": int(self.seq_len),
            "carry_state": bool(self.carry_state),
            "au_thresholds": [float(t) for t in self.au_thresholds],
            "post": self.post.to_json(),
            "labels": {"expressions": list(EXPRESSIONS), "action_units": list(ACTION_UNITS)},
            "provenance": self.provenance,
        }

    @staticmethod
    def from_json(data: dict[str, Any], where: str = "checkpoint") -> "ModelMeta":
        if data.get("format") != FORMAT:
            raise CheckpointError(f"{where}: not an AffectStream model (format {data.get('format')!r})")
        if int(data.get("format_version", 0)) > FORMAT_VERSION:
            raise CheckpointError(f"{where}: written by a newer AffectStream (format {data['format_version']})")
        labels = data.get("labels", {})
        if labels and (labels.get("expressions") != list(EXPRESSIONS) or labels.get("action_units") != list(ACTION_UNITS)):
            raise CheckpointError(f"{where}: label order differs from this version's ABAW schema")
        if "model_config" not in data:
            raise CheckpointError(f"{where}: malformed metadata (no 'model_config')")
        try:
            model_config = ModelConfig.from_json(data["model_config"])
        except ModelConfigError as exc:
            raise CheckpointError(f"{where}: model_config: {exc}") from exc
        _check_raw_meta(data, where)
        try:
            return ModelMeta(
                name=str(data["name"]),
                model_config=model_config,
                features=[FeatureSpec.from_json(f) for f in data["features"]],
                seq_len=int(data["seq_len"]),
                carry_state=bool(data.get("carry_state", True)),
                au_thresholds=np.asarray(data["au_thresholds"], dtype=np.float32),
                post=ChosenSmoothing.from_json(data["post"]),
                provenance=dict(data.get("provenance", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{where}: malformed metadata ({exc})") from exc


@dataclass
class LoadedModel:
    model: MultiTaskModel
    meta: ModelMeta
    path: Path | None = None


def save_checkpoint(path: str | Path, model: MultiTaskModel, meta: ModelMeta) -> Path:
    """Write weights and metadata to one safetensors file, atomically."""
    if meta.model_config != model.config:
        raise ValueError("metadata model_config differs from the model's own config")
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    blob = save_safetensors_bytes(tensors, metadata={METADATA_KEY: json.dumps(meta.to_json())})
    path = Path(path)
    with atomic_write(path) as handle:
        handle.write(blob)
    return path


def read_meta(path: str | Path) -> ModelMeta:
    """Read only the metadata (cheap: the header)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} is a folder, not a model file" if path.is_dir()
                              else f"checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a safetensors checkpoint ({exc})") from exc
    if METADATA_KEY not in metadata:
        raise CheckpointError(f"{path}: safetensors file without AffectStream metadata")
    try:
        data = json.loads(metadata[METADATA_KEY])
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: metadata is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: metadata must be a JSON object")
    return ModelMeta.from_json(data, where=str(path))


def _stored_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in the file, from the header alone."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable weights ({exc})") from exc


def _check_shapes(config: ModelConfig, stored: dict[str, tuple[int, ...]], path: Path) -> None:
    """The config's tensors must be the file's, compared on the meta device (nothing is allocated):
    a header claiming a huge model fails here instead of after building it."""
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in MultiTaskModel(config).state_dict().items()}
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    wrong = sorted(k for k in set(expected) & set(stored) if expected[k] != stored[k])
    if missing or unexpected or wrong:
        parts = [f"{label}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
                 for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
                 if keys]
        raise CheckpointError(f"{path}: weights do not match the model config ({'; '.join(parts)})")


def _check_finite_weights(tensors: dict[str, torch.Tensor], path: Path) -> None:
    for key, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{path}: tensor {key!r} holds NaN or inf values")


def load_checkpoint(path: str | Path) -> LoadedModel:
    """Build the model from a checkpoint, in eval mode on the CPU."""
    path = Path(path)
    meta = read_meta(path)
    _check_shapes(meta.model_config, _stored_shapes(path), path)
    try:
        tensors = load_safetensors_bytes(path.read_bytes())
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable weights ({exc})") from exc
    _check_finite_weights(tensors, path)
    model = MultiTaskModel(meta.model_config)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not match the model config ({exc})") from exc
    model.eval()
    return LoadedModel(model, meta, path)


def check_features(meta: ModelMeta, specs: Sequence[FeatureSpec], where: str = "checkpoint") -> None:
    """The features given must be the checkpoint's, by name, order and dimension."""
    want = [(f.name, f.dim) for f in meta.features]
    have = [(f.name, f.dim) for f in specs]
    if want != have:
        fmt = lambda pairs: ", ".join(f"{n}({d})" for n, d in pairs) or "none"  # noqa: E731
        raise CheckpointError(f"{where} expects features [{fmt(want)}] but got [{fmt(have)}]")


def check_input_dim(meta: ModelMeta, dim: int, where: str = "checkpoint") -> None:
    if dim != meta.feature_dim:
        raise CheckpointError(
            f"{where} expects {meta.feature_dim} feature dimensions "
            f"({', '.join(f'{f.name}({f.dim})' for f in meta.features)}), got {dim}"
        )

