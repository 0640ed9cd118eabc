"""The settings of the live valence/arousal filters, as a model file stores them.

Part of a checkpoint's schema (like the label schema): the temporal model's file
records the causal filter chosen on validation, and the post-processing stage
builds its filters from it (affectstream.core.post.smoothing). Plain frozen
dataclasses and their JSON form; no filtering here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Union

from affectstream.core.errors import UserInputError


class SmoothingConfigError(UserInputError):
    """A stored causal-filter configuration is malformed."""


# -- live: configurations -------------------------------------------------------
@dataclass(frozen=True)
class EMAConfig:
    """Exponential moving average per frame: y_t = alpha x_t + (1 - alpha) y_{t-1}."""

    alpha: float = 0.3

    def __post_init__(self) -> None:
        if not (0.0 < self.alpha <= 1.0):
            raise ValueError(f"EMA alpha must be in (0, 1], got {self.alpha}")


@dataclass(frozen=True)
class OneEuroConfig:
    """One-Euro filter: cutoff (Hz) = min_cutoff + beta * |smoothed speed|."""

    min_cutoff: float = 1.0
    beta: float = 0.0
    d_cutoff: float = 1.0

    def __post_init__(self) -> None:
        if not (self.min_cutoff > 0 and self.d_cutoff > 0 and self.beta >= 0):
            raise ValueError(
                f"One-Euro needs min_cutoff > 0, d_cutoff > 0, beta >= 0; got {self.min_cutoff}, "
                f"{self.d_cutoff}, {self.beta}"
            )


CausalConfig = Union[EMAConfig, OneEuroConfig]

_KINDS: dict[str, type] = {"ema": EMAConfig, "one_euro": OneEuroConfig}


def causal_config_to_json(cfg: CausalConfig) -> dict[str, Any]:
    """``{"kind": "ema", "alpha": 0.3}`` or ``{"kind": "one_euro", ...}``."""
    for kind, cls in _KINDS.items():
        if type(cfg) is cls:
            return {"kind": kind, **{k: float(v) for k, v in asdict(cfg).items()}}
    raise TypeError(f"not a causal filter config: {cfg!r}")


def causal_config_from_json(data: Mapping[str, Any]) -> CausalConfig:
    """Inverse of causal_config_to_json; a malformed entry raises SmoothingConfigError."""
    if not isinstance(data, Mapping) or data.get("kind") not in _KINDS:
        raise SmoothingConfigError(f"causal filter config needs a kind in {sorted(_KINDS)}, got {data!r}")
    params = {k: v for k, v in data.items() if k != "kind"}
    try:
        cls = _KINDS[data["kind"]]
        return cls(**{k: float(v) for k, v in params.items()})
    except (TypeError, ValueError) as exc:
        raise SmoothingConfigError(f"invalid {data['kind']} filter config {dict(data)!r}: {exc}") from exc


def causal_config_label(cfg: CausalConfig) -> str:
    """A short readable name, e.g. ``ema(alpha=0.3)``."""
    d = causal_config_to_json(cfg)
    return f"{d.pop('kind')}(" + ", ".join(f"{k}={v:g}" for k, v in d.items()) + ")"


@dataclass(frozen=True)
class ChosenSmoothing:
    """The smoothing a model's file records, chosen on validation: a centred window offline, a causal
    filter live (JSON form, see ``causal_config_from_json``), at the frame rate it was chosen for."""

    offline_window: int = 1
    causal: dict[str, Any] = field(default_factory=lambda: {"kind": "ema", "alpha": 1.0})
    fps: float = 30.0

    def to_json(self) -> dict[str, Any]:
        return {"offline_window": int(self.offline_window), "causal": dict(self.causal), "fps": float(self.fps)}

    @staticmethod
    def from_json(data: dict[str, Any]) -> "ChosenSmoothing":
        return ChosenSmoothing(int(data["offline_window"]), dict(data["causal"]), float(data.get("fps", 30.0)))
