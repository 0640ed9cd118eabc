"""Model configuration: one frozen dataclass per temporal encoder and one for the whole model.

Every config round-trips through JSON (it is stored in checkpoints), and a config
that cannot build a model raises :class:`ModelConfigError` when it is made, not
halfway through building.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Union

from affectstream.core.errors import UserInputError
from affectstream.core.labels import TASKS


class ModelConfigError(UserInputError):
    """A model configuration names an unknown option or holds an impossible value."""


# Upper bounds on sizes. A checkpoint's header is untrusted: without them a typo or
# a hostile file (hidden_size 1e7) allocates gigabytes before anything fails. They
# sit far above any real model (the paper's GRU is 1024 wide, its transformer 512
# with 4 layers; the shipped affect-gru-mixed is two 256-wide GRUs merged into one 512 wide) and stay in
# reach of wide ONNX embeddings concatenated with landmarks.
MAX_WIDTH = 8192  # hidden_size, d_model, head layer widths
MAX_FF_DIM = 4 * MAX_WIDTH  # the transformer's feed-forward width, conventionally 4 x d_model
MAX_LAYERS = 64  # num_layers, top_layers, head layers
MAX_INPUT_DIM = 100_000  # concatenated feature dimensions
MAX_SEQ_LEN = 100_000  # frames in a segment (about an hour at 30 fps)


def _check_positive(owner: str, upper: int | None = None, **values: int) -> None:
    """Each value must be an integer >= 1 (and <= ``upper`` when given)."""
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ModelConfigError(f"{owner}.{name} must be a positive integer, got {value!r}")
        if upper is not None and value > upper:
            raise ModelConfigError(f"{owner}.{name} must be at most {upper}, got {value!r}")


def _check_size(owner: str, hidden_size: int, num_layers: int) -> None:
    _check_positive(owner, MAX_WIDTH, hidden_size=hidden_size)
    _check_positive(owner, MAX_LAYERS, num_layers=num_layers)


def _check_dropout(owner: str, value: float) -> None:
    if not 0.0 <= float(value) < 1.0:
        raise ModelConfigError(f"{owner}.dropout must be in [0, 1), got {value!r}")


@dataclass(frozen=True)
class GRUConfig:
    """Unidirectional GRU; its hidden state is carried between segments."""

    hidden_size: int = 1024
    num_layers: int = 1
    dropout: float = 0.3

    def __post_init__(self) -> None:
        _check_size("gru", self.hidden_size, self.num_layers)
        _check_dropout("gru", self.dropout)


@dataclass(frozen=True)
class LSTMConfig:
    """Unidirectional LSTM; its hidden and cell states are carried between segments."""

    hidden_size: int = 1024
    num_layers: int = 1
    dropout: float = 0.3

    def __post_init__(self) -> None:
        _check_size("lstm", self.hidden_size, self.num_layers)
        _check_dropout("lstm", self.dropout)


@dataclass(frozen=True)
class TransformerConfig:
    """Transformer encoder over a segment: linear input projection + sinusoidal positions.

    ``max_len`` is the segment length the model is meant for (and the sliding
    window of the streaming app); longer sequences still work because the
    positional encoding is computed for whatever length arrives.
    """

    d_model: int = 512
    num_layers: int = 4
    num_heads: int = 4
    ff_dim: int = 1024
    dropout: float = 0.3
    max_len: int = 250

    def __post_init__(self) -> None:
        _check_size("transformer", self.d_model, self.num_layers)
        _check_positive("transformer", self.d_model, num_heads=self.num_heads)
        _check_positive("transformer", MAX_FF_DIM, ff_dim=self.ff_dim)
        _check_positive("transformer", MAX_SEQ_LEN, max_len=self.max_len)
        _check_dropout("transformer", self.dropout)
        if self.d_model % self.num_heads:
            raise ModelConfigError(
                f"transformer.d_model ({self.d_model}) must be divisible by num_heads ({self.num_heads})"
            )
        if self.d_model % 2:
            raise ModelConfigError(f"transformer.d_model must be even for sinusoidal positions, got {self.d_model}")

    @property
    def hidden_size(self) -> int:
        return self.d_model


@dataclass(frozen=True)
class MLPConfig:
    """Frame-wise baseline: no temporal context at all."""

    hidden_size: int = 1024
    num_layers: int = 2
    dropout: float = 0.3

    def __post_init__(self) -> None:
        _check_size("mlp", self.hidden_size, self.num_layers)
        _check_dropout("mlp", self.dropout)


EncoderConfig = Union[GRUConfig, LSTMConfig, TransformerConfig, MLPConfig]
ENCODER_KINDS: dict[str, type] = {
    "gru": GRUConfig,
    "lstm": LSTMConfig,
    "transformer": TransformerConfig,
    "mlp": MLPConfig,
}
RECURRENT_KINDS: tuple[str, ...] = ("gru", "lstm")
FRAMEWORKS: tuple[str, ...] = ("basic", "share-bottom", "feedback")
# How the AU logits are read: "head" is an MLP on the AU task's encoder output, as for the other tasks; "linear"
# is one linear layer on that output and the frame's normalised input features together, fitted on AU-labelled
# frames after the encoder is trained (training.au_readout): a direct path from the frame to the AU logits.
AU_READOUTS: tuple[str, ...] = ("head", "linear")


def encoder_kind(cfg: EncoderConfig) -> str:
    for kind, cls in ENCODER_KINDS.items():
        if type(cfg) is cls:
            return kind
    raise ModelConfigError(f"not an encoder config: {cfg!r}")


def make_encoder_config(kind: str, **overrides: Any) -> EncoderConfig:
    """The config of encoder ``kind`` with some fields changed; unknown kinds or fields raise."""
    if kind not in ENCODER_KINDS:
        raise ModelConfigError(f"unknown encoder kind {kind!r}; choose from {', '.join(ENCODER_KINDS)}")
    cls = ENCODER_KINDS[kind]
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ModelConfigError(f"{kind} encoder has no option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    try:
        return cls(**overrides)
    except TypeError as exc:
        raise ModelConfigError(f"{kind} encoder: {exc}") from exc


def _encoder_to_json(cfg: EncoderConfig) -> dict[str, Any]:
    return {"kind": encoder_kind(cfg), **asdict(cfg)}


def _encoder_from_json(data: Any) -> EncoderConfig:
    if not isinstance(data, dict) or "kind" not in data:
        raise ModelConfigError(f"encoder config must be an object with a 'kind', got {data!r}")
    options = {k: v for k, v in data.items() if k != "kind"}
    return make_encoder_config(str(data["kind"]), **options)


@dataclass(frozen=True)
class ModelConfig:
    """The whole multi-task model.

    ``basic``: one shared encoder of ``encoder.num_layers`` layers feeds all heads.
    ``share-bottom``: the shared bottom encoder is followed by one top encoder of
    ``top_layers`` layers (same kind) per task.
    ``feedback``: as share-bottom, and the source task's top output (detached)
    is appended to the target task's top-encoder input.
    """

    input_dim: int
    encoder: EncoderConfig = GRUConfig()
    framework: str = "basic"
    top_layers: int = 1
    feedback_source: str = "au"
    feedback_target: str = "expr"
    head_hidden: tuple[int, ...] = (512, 256)
    head_dropout: float = 0.3
    # Dropout on the normalised input features while training: small labelled sets (a few hundred stills)
    # are otherwise memorised feature by feature.
    input_dropout: float = 0.0
    au_readout: str = "head"

    def __post_init__(self) -> None:
        _check_positive("model", MAX_INPUT_DIM, input_dim=self.input_dim)
        if self.au_readout not in AU_READOUTS:
            raise ModelConfigError(f"unknown au_readout {self.au_readout!r}; choose from {', '.join(AU_READOUTS)}")
        if self.au_readout == "linear" and self.framework != "basic":
            raise ModelConfigError("a linear AU readout reads the shared encoder: basic framework only, "
                                   f"not {self.framework!r}")
        if not 0.0 <= float(self.input_dropout) < 1.0:
            raise ModelConfigError(f"input_dropout must be in [0, 1), got {self.input_dropout!r}")
        _check_positive("model", MAX_LAYERS, top_layers=self.top_layers)
        encoder_kind(self.encoder)  # raises on a foreign object
        if self.framework not in FRAMEWORKS:
            raise ModelConfigError(f"unknown framework {self.framework!r}; choose from {', '.join(FRAMEWORKS)}")
        for name in ("feedback_source", "feedback_target"):
            if getattr(self, name) not in TASKS:
                raise ModelConfigError(f"{name} must be one of {', '.join(TASKS)}, got {getattr(self, name)!r}")
        if self.feedback_source == self.feedback_target:
            raise ModelConfigError(f"feedback source and target are both {self.feedback_source!r}")
        hidden = tuple(self.head_hidden)
        if not hidden:
            raise ModelConfigError("head_hidden must name at least one layer width")
        if len(hidden) > MAX_LAYERS:
            raise ModelConfigError(f"head_hidden names {len(hidden)} layers, at most {MAX_LAYERS} are allowed")
        _check_positive("model", MAX_WIDTH, **{f"head_hidden[{i}]": h for i, h in enumerate(hidden)})
        object.__setattr__(self, "head_hidden", hidden)
        if not 0.0 <= float(self.head_dropout) < 1.0:
            raise ModelConfigError(f"head_dropout must be in [0, 1), got {self.head_dropout!r}")

    @property
    def encoder_kind(self) -> str:
        return encoder_kind(self.encoder)

    def to_json(self) -> dict[str, Any]:
        return {
            "input_dim": self.input_dim,
            "encoder": _encoder_to_json(self.encoder),
            "framework": self.framework,
            "top_layers": self.top_layers,
            "feedback_source": self.feedback_source,
            "feedback_target": self.feedback_target,
            "head_hidden": list(self.head_hidden),
            "head_dropout": self.head_dropout,
            "input_dropout": self.input_dropout,
            "au_readout": self.au_readout,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> "ModelConfig":
        if not isinstance(data, dict):
            raise ModelConfigError(f"model config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(ModelConfig)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelConfigError(f"model config has unknown key(s) {', '.join(unknown)}")
        if "input_dim" not in data:
            raise ModelConfigError("model config lacks 'input_dim'")
        options = dict(data)
        if "encoder" in options:
            options["encoder"] = _encoder_from_json(options["encoder"])
        if "head_hidden" in options:
            hidden = options["head_hidden"]
            if not isinstance(hidden, (list, tuple)):
                raise ModelConfigError(f"head_hidden must be a list of widths, got {hidden!r}")
            options["head_hidden"] = tuple(hidden)
        return ModelConfig(**options)
