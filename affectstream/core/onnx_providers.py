"""Which onnxruntime execution providers to ask for: one rule for the temporal model and a user's ONNX
backbone (expr-cnn asks for the CPU provider alone; see affectstream.core.features.expression_cnn)."""

from __future__ import annotations

from typing import Sequence

from affectstream.core.errors import UserInputError

PROVIDERS = ("auto", "cpu", "cuda")


class RuntimeUnavailable(UserInputError):
    """The runtime asked for cannot run here (onnxruntime missing, export failed, no such provider)."""


def choose_providers(available: Sequence[str], provider: str = "auto") -> list[str]:
    """onnxruntime providers for a preference: ``auto`` (CUDA when offered), ``cpu`` or ``cuda``."""
    if provider not in PROVIDERS:
        raise UserInputError(f"unknown provider {provider!r}; choose from {', '.join(PROVIDERS)}")
    if provider == "cuda" and "CUDAExecutionProvider" not in available:
        raise RuntimeUnavailable("CUDA was asked for but onnxruntime offers only " + ", ".join(available))
    if provider != "cpu" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]
