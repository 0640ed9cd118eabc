"""Mixup and CutMix: batch-level augmentation that blends pairs of faces and their targets.

Mixup (Zhang et al., 2018) takes lam * face + (1 - lam) * partner; CutMix (Yun et al., 2019)
pastes a rectangle of the partner covering a share 1 - lam of the face. In both, the
loss is lam * loss(face's targets) + (1 - lam) * loss(partner's targets), for the label
and, when distilling, the teacher's probabilities alike. One lam per batch from
Beta(alpha, alpha); each face's partner comes from a random permutation of the batch;
only a share ``prob`` of the batches is mixed, so the network also sees whole faces
as it will at test time. All draws come from the training loop's generator, so a
resumed run mixes as an uninterrupted one would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from affectstream.core.errors import UserInputError

MODES = ("none", "mixup", "cutmix")


@dataclass(frozen=True)
class MixConfig:
    mode: str = "none"  # none | mixup | cutmix
    alpha: float = 1.0  # Beta(alpha, alpha) for lam: 1 is uniform, small alpha keeps lam near 0 or 1
    prob: float = 0.5  # share of batches mixed

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UserInputError(f"mixing must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not 0.0 < self.alpha <= 10.0:
            raise UserInputError(f"mixing alpha must be in (0, 10], got {self.alpha}")
        if not 0.0 <= self.prob <= 1.0:
            raise UserInputError(f"mixing probability must be in [0, 1], got {self.prob}")


@dataclass(frozen=True)
class MixedBatch:
    """Network inputs and how to weigh each face's own targets against its partner's."""

    images: torch.Tensor
    partner: torch.Tensor | None  # (N,) index of each face's partner; None when the batch was not mixed
    lam: float  # share of each face's own targets (1.0 when not mixed)

    def blend(self, loss_of: Callable[[torch.Tensor | slice], torch.Tensor]) -> torch.Tensor:
        """``loss_of(index)`` scores the batch against the targets picked by ``index``; the lam-weighted sum."""
        own = loss_of(slice(None))
        if self.partner is None:
            return own
        return self.lam * own + (1.0 - self.lam) * loss_of(self.partner)

    def dominant(self) -> torch.Tensor | slice:
        """Index of the targets with the larger share (for a training accuracy that means something)."""
        return self.partner if self.partner is not None and self.lam < 0.5 else slice(None)


def mix_batch(images: torch.Tensor, gen: torch.Generator, cfg: MixConfig) -> MixedBatch:
    """(N, C, H, W) augmented faces -> a MixedBatch (unchanged when mixing is off or this batch is skipped)."""
    if cfg.mode == "none":
        return MixedBatch(images, None, 1.0)
    if float(torch.rand(1, generator=gen)) >= cfg.prob:
        return MixedBatch(images, None, 1.0)
    # torch has no seeded Beta sampler; a numpy one seeded from the loop's generator keeps runs reproducible.
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    lam = float(np.random.default_rng(seed).beta(cfg.alpha, cfg.alpha))
    partner = torch.randperm(images.shape[0], generator=gen).to(images.device)
    if cfg.mode == "mixup":
        return MixedBatch(lam * images + (1.0 - lam) * images[partner], partner, lam)
    return _cutmix(images, partner, lam, gen)


def _cutmix(images: torch.Tensor, partner: torch.Tensor, lam: float, gen: torch.Generator) -> MixedBatch:
    """Paste one rectangle of each partner (area about 1 - lam, clipped at the edges); lam is the share left."""
    h, w = images.shape[-2:]
    side = math.sqrt(1.0 - lam)
    ch, cw = int(round(h * side)), int(round(w * side))
    cy, cx = (int(v) for v in torch.randint(0, 1 << 30, (2,), generator=gen))
    cy, cx = cy % h, cx % w
    y0, y1 = max(cy - ch // 2, 0), min(cy + (ch + 1) // 2, h)
    x0, x1 = max(cx - cw // 2, 0), min(cx + (cw + 1) // 2, w)
    out = images.clone()
    out[..., y0:y1, x0:x1] = images[partner][..., y0:y1, x0:x1]
    return MixedBatch(out, partner, 1.0 - (y1 - y0) * (x1 - x0) / float(h * w))
