"""Multi-task temporal models: encoder configs, encoders, heads and the full model; streaming and tracks step
it frame by frame, per face track, at run time."""

from affectstream.core.temporal.config import (
    ENCODER_KINDS,
    FRAMEWORKS,
    EncoderConfig,
    GRUConfig,
    LSTMConfig,
    MLPConfig,
    ModelConfig,
    ModelConfigError,
    TransformerConfig,
    encoder_kind,
    make_encoder_config,
)
from affectstream.core.temporal.multitask import MultiTaskModel, MultiTaskOutput

__all__ = [
    "ENCODER_KINDS",
    "FRAMEWORKS",
    "EncoderConfig",
    "GRUConfig",
    "LSTMConfig",
    "MLPConfig",
    "ModelConfig",
    "ModelConfigError",
    "MultiTaskModel",
    "MultiTaskOutput",
    "TransformerConfig",
    "encoder_kind",
    "make_encoder_config",
]
