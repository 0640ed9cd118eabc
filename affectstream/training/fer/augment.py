"""Batch augmentation in torch (no per-image Python loop) and the shared test-time preprocessing.

Training: one affine warp per image (random crop by shift, zoom, small rotation,
horizontal flip) via affine_grid/grid_sample, then brightness/contrast jitter and
random erasing. Test: the centre CROP x CROP of the 48x48 face. Both end with
the same normalisation, so training and run time see the same input statistics.
The random draws come from a CPU generator (reproducible and resumable on any
device); the image work runs where the faces are, on the GPU when training there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

SIZE = 48  # FER2013 face side
CROP = 44  # network input side: random 44 crops in training, centre crop at test
MEAN = 0.5  # fixed normalisation of [0, 1] grey pixels (close to FER2013's 0.51 / 0.26)
STD = 0.25


@dataclass(frozen=True)
class AugmentConfig:
    max_shift_px: float = 3.0  # beyond the 2 px a plain 44-of-48 crop allows; zero padding
    max_rotation_deg: float = 10.0
    max_zoom: float = 0.10  # scale in [1 - z, 1 + z]
    flip_p: float = 0.5
    brightness: float = 0.15  # additive, on [0, 1] pixels
    contrast: float = 0.30  # multiplicative around the image mean, in [1 - c, 1 + c]
    erase_p: float = 0.5
    erase_area: tuple[float, float] = (0.02, 0.15)


def normalise(x: torch.Tensor) -> torch.Tensor:
    return (x - MEAN) / STD


def centre_crop(images_u8: torch.Tensor) -> torch.Tensor:
    """(N, 48, 48) uint8 -> (N, 1, CROP, CROP) normalised float: the test-time input."""
    o = (SIZE - CROP) // 2
    x = images_u8[:, o : o + CROP, o : o + CROP].float().div_(255.0).unsqueeze(1)
    return normalise(x)


def augment(images_u8: torch.Tensor, gen: torch.Generator, cfg: AugmentConfig = AugmentConfig()) -> torch.Tensor:
    """(N, 48, 48) uint8 -> (N, 1, CROP, CROP) normalised float, randomly augmented."""
    n, device = images_u8.shape[0], images_u8.device
    x = images_u8.float().div_(255.0).unsqueeze(1)

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return (lo + (hi - lo) * torch.rand(n, generator=gen)).to(device)

    angle = uniform(-cfg.max_rotation_deg, cfg.max_rotation_deg) * (math.pi / 180.0)
    zoom = uniform(1.0 - cfg.max_zoom, 1.0 + cfg.max_zoom)
    # affine_grid maps output coordinates to input ones (both in [-1, 1]); an output of
    # CROP pixels covers CROP/SIZE of the input at zoom 1.
    s = (CROP / SIZE) / zoom
    flip = torch.where(torch.rand(n, generator=gen) < cfg.flip_p, -1.0, 1.0).to(device)
    shift = 2.0 * cfg.max_shift_px / SIZE
    tx, ty = uniform(-shift, shift), uniform(-shift, shift)
    cos, sin = torch.cos(angle) * s, torch.sin(angle) * s
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1
    )
    grid = F.affine_grid(theta, [n, 1, CROP, CROP], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    c = uniform(1.0 - cfg.contrast, 1.0 + cfg.contrast).view(n, 1, 1, 1)
    b = uniform(-cfg.brightness, cfg.brightness).view(n, 1, 1, 1)
    x = ((x - mean) * c + mean + b).clamp_(0.0, 1.0)

    if cfg.erase_p > 0:
        x = _random_erase(x, gen, cfg)
    return normalise(x)


def _random_erase(x: torch.Tensor, gen: torch.Generator, cfg: AugmentConfig) -> torch.Tensor:
    """Fill one random rectangle per chosen image with uniform noise (as a mask, not a loop)."""
    n, _, h, w = x.shape
    area = cfg.erase_area[0] + (cfg.erase_area[1] - cfg.erase_area[0]) * torch.rand(n, generator=gen)
    aspect = torch.exp((torch.rand(n, generator=gen) * 2 - 1) * math.log(2.0))
    eh = (torch.sqrt(area * aspect) * h).clamp(1, h)
    ew = (torch.sqrt(area / aspect) * w).clamp(1, w)
    y0 = torch.rand(n, generator=gen) * (h - eh)
    x0 = torch.rand(n, generator=gen) * (w - ew)
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    inside = (
        (rows >= y0.view(n, 1, 1)) & (rows < (y0 + eh).view(n, 1, 1))
        & (cols >= x0.view(n, 1, 1)) & (cols < (x0 + ew).view(n, 1, 1))
    )
    chosen = (torch.rand(n, generator=gen) < cfg.erase_p).view(n, 1, 1)
    mask = (inside & chosen).unsqueeze(1).to(x.device)
    noise = torch.rand(x.shape, generator=gen).to(x.device)
    return torch.where(mask, noise, x)
