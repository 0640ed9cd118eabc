"""The multi-task loss: valence and arousal (MSE or 1 - CCC), expression CE, AU BCE.

Labels carry the ABAW missing codes (-5 for VA, -1 for expression and AUs), and
padding frames carry them too, so the codes are the only mask. Each term averages
over its labelled elements; a term with none in the batch is exactly 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from affectstream.core.errors import UserInputError
from affectstream.core.labels import AU_MISSING, EXPR_MISSING, NUM_AUS, NUM_EXPRESSIONS, VA_MISSING
from affectstream.core.temporal.multitask import MultiTaskOutput

VA_LOSSES: tuple[str, ...] = ("mse", "ccc")
CCC_EPS = 1e-8


class LossConfigError(UserInputError):
    """A loss configuration holds an unknown option or an impossible value."""


@dataclass(frozen=True)
class LossConfig:
    alpha: float = 1.0  # valence
    beta: float = 1.0  # arousal
    gamma: float = 1.0  # expression cross-entropy
    delta: float = 1.0  # AU binary cross-entropy
    va_loss: str = "mse"  # "mse" or "ccc" (1 - CCC over the batch's labelled frames)
    expr_class_weights: tuple[float, ...] | None = None  # 8 per-class CE weights
    au_pos_weight: tuple[float, ...] | None = None  # 12 BCE positive-class weights

    def __post_init__(self) -> None:
        for name in ("alpha", "beta", "gamma", "delta"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not float(value) >= 0.0 or value == float("inf"):
                raise LossConfigError(f"loss weight {name} must be a finite number >= 0, got {value!r}")
        if self.va_loss not in VA_LOSSES:
            raise LossConfigError(f"unknown va_loss {self.va_loss!r}; choose from {', '.join(VA_LOSSES)}")
        for name, size in (("expr_class_weights", NUM_EXPRESSIONS), ("au_pos_weight", NUM_AUS)):
            value = getattr(self, name)
            if value is None:
                continue
            value = tuple(float(v) for v in value)
            if len(value) != size or any(not v >= 0.0 or v == float("inf") for v in value):
                raise LossConfigError(f"{name} must be {size} finite numbers >= 0, got {list(value)}")
            object.__setattr__(self, name, value)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("expr_class_weights", "au_pos_weight"):
            if data[name] is not None:
                data[name] = list(data[name])
        return data

    @staticmethod
    def from_json(data: dict[str, Any]) -> "LossConfig":
        if not isinstance(data, dict):
            raise LossConfigError(f"loss config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(LossConfig)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise LossConfigError(f"loss config has unknown key(s) {', '.join(unknown)}")
        return LossConfig(**data)


@dataclass
class LossTerms:
    total: Tensor
    valence: Tensor
    arousal: Tensor
    expr: Tensor
    au: Tensor

    def as_floats(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name).detach()) for f in fields(self)}


def _masked_mean(values: Tensor, weights: Tensor) -> Tensor:
    """sum(w * v) / sum(w); 0 when no weight. ``values`` must be finite everywhere."""
    return (values * weights).sum() / weights.sum().clamp_min(1e-12)


def _mse(pred: Tensor, target: Tensor, valid: Tensor) -> Tensor:
    # zero the target where missing so the unused branch stays finite
    target = torch.where(valid, target, torch.zeros_like(target))
    return _masked_mean((pred - target) ** 2, valid.to(pred.dtype))


def ccc_loss(pred: Tensor, target: Tensor, valid: Tensor) -> Tensor:
    """1 - concordance correlation over the valid elements (population moments); 0 when none."""
    w = valid.to(pred.dtype)
    n = w.sum()
    target = torch.where(valid, target, torch.zeros_like(target))
    n_safe = n.clamp_min(1.0)
    mean_p = (pred * w).sum() / n_safe
    mean_t = (target * w).sum() / n_safe
    dp, dt = (pred - mean_p) * w, (target - mean_t) * w
    var_p, var_t, cov = (dp * dp).sum() / n_safe, (dt * dt).sum() / n_safe, (dp * dt).sum() / n_safe
    ccc = 2.0 * cov / (var_p + var_t + (mean_p - mean_t) ** 2 + CCC_EPS)
    return (1.0 - ccc) * (n > 0).to(pred.dtype)


def _check_shapes(out: MultiTaskOutput, va: Tensor, expr: Tensor, au: Tensor) -> None:
    if va.shape != out.va.shape:
        raise UserInputError(f"VA labels have shape {tuple(va.shape)}, predictions {tuple(out.va.shape)}")
    if expr.shape != out.expr.shape[:-1]:
        raise UserInputError(f"expression labels have shape {tuple(expr.shape)}, expected {tuple(out.expr.shape[:-1])}")
    if au.shape != out.au.shape:
        raise UserInputError(f"AU labels have shape {tuple(au.shape)}, predictions {tuple(out.au.shape)}")


def multitask_loss(out: MultiTaskOutput, va: Tensor, expr: Tensor, au: Tensor, config: LossConfig) -> LossTerms:
    """va (B,T,2) with -5 missing; expr (B,T) long with -1 missing; au (B,T,12) with -1 missing."""
    _check_shapes(out, va, expr, au)
    va = va.to(out.va.dtype)
    va_valid = va != VA_MISSING
    va_term = ccc_loss if config.va_loss == "ccc" else _mse
    valence = va_term(out.va[..., 0], va[..., 0], va_valid[..., 0])
    arousal = va_term(out.va[..., 1], va[..., 1], va_valid[..., 1])

    logits = out.expr.reshape(-1, out.expr.shape[-1])
    expr = expr.reshape(-1).long()
    expr_valid = expr != EXPR_MISSING
    if bool(((expr < 0) & expr_valid).any() | (expr >= logits.shape[-1]).any()):
        raise UserInputError(f"expression labels must be in 0..{logits.shape[-1] - 1} or {EXPR_MISSING}")
    safe_expr = torch.where(expr_valid, expr, torch.zeros_like(expr))
    expr_weight = expr_valid.to(logits.dtype)
    if config.expr_class_weights is not None:
        class_weights = torch.tensor(config.expr_class_weights, dtype=logits.dtype, device=logits.device)
        expr_weight = expr_weight * class_weights[safe_expr]  # torch's weighted-mean CE convention
    expr_loss = _masked_mean(F.cross_entropy(logits, safe_expr, reduction="none"), expr_weight)

    au = au.to(out.au.dtype)
    au_valid = au != AU_MISSING
    safe_au = torch.where(au_valid, au, torch.zeros_like(au))
    pos_weight = None
    if config.au_pos_weight is not None:
        pos_weight = torch.tensor(config.au_pos_weight, dtype=out.au.dtype, device=out.au.device)
    au_elements = F.binary_cross_entropy_with_logits(out.au, safe_au, pos_weight=pos_weight, reduction="none")
    au_loss = _masked_mean(au_elements, au_valid.to(out.au.dtype))

    total = config.alpha * valence + config.beta * arousal + config.gamma * expr_loss + config.delta * au_loss
    return LossTerms(total=total, valence=valence, arousal=arousal, expr=expr_loss, au=au_loss)
