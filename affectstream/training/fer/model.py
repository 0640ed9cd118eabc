"""A compact VGG-style residual CNN for grey 48x48 face crops (FER2013 framing).

Four stages of two 3x3 convolutions with a residual shortcut, max-pooling between
stages, global average pooling to the embedding, dropout and a linear classifier.
``forward`` returns logits; ``features`` returns (embedding, logits) so the
exported graph gives both without a second pass. ``ExprEnsemble`` averages the
probabilities of independently trained ExprNets behind the same interface.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from affectstream.core.errors import UserInputError


@dataclass(frozen=True)
class ExprNetConfig:
    widths: tuple[int, ...] = (32, 64, 128, 256)
    num_classes: int = 7
    dropout: float = 0.3

    def __post_init__(self) -> None:
        if len(self.widths) < 1 or min(self.widths) < 1 or not 0.0 <= self.dropout < 1.0:
            raise UserInputError(f"ExprNet needs positive widths and 0 <= dropout < 1, got {self.widths}, {self.dropout}")

    @property
    def embedding_dim(self) -> int:
        return self.widths[-1]

    @classmethod
    def from_json(cls, model: dict) -> "ExprNetConfig":
        """From a weights file's ``model`` metadata or a run's config.json ``model``."""
        return cls(widths=tuple(model["widths"]), num_classes=model["num_classes"], dropout=model["dropout"])


class _Stage(nn.Module):
    """conv-bn-relu, conv-bn, + shortcut, relu: one residual block at one resolution."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        # A 1x1 projection only where the width changes.
        self.short = (
            nn.Identity() if cin == cout else nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.act(y + self.short(x))


class ExprNet(nn.Module):
    def __init__(self, config: ExprNetConfig = ExprNetConfig()) -> None:
        super().__init__()
        self.config = config
        w = config.widths
        self.stem = nn.Sequential(nn.Conv2d(1, w[0], 3, padding=1, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU(inplace=True))
        stages: list[nn.Module] = []
        cin = w[0]
        for i, cout in enumerate(w):
            if i > 0:
                stages.append(nn.MaxPool2d(2))
            stages.append(_Stage(cin, cout))
            cin = cout
        self.body = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(w[-1], config.num_classes)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (N, 1, H, W) normalised grey -> (embedding (N, D), logits (N, classes))."""
        emb = self.pool(self.body(self.stem(x))).flatten(1)
        return emb, self.head(self.drop(emb))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[1]


class ExprEnsemble(nn.Module):
    """Independently trained ExprNets as one model: their probabilities averaged, their embeddings side by side.

    ``features`` returns log(mean probability) as the logits, so a softmax of them
    (as training's evaluation and the exported graph apply) gives the mean exactly.
    """

    def __init__(self, members: list[ExprNet]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError("an ensemble needs at least two members")
        classes = {m.config.num_classes for m in members}
        if len(classes) != 1:
            raise ValueError(f"members disagree on the number of classes: {sorted(classes)}")
        self.members = nn.ModuleList(members)

    @property
    def embedding_dim(self) -> int:
        return sum(m.config.embedding_dim for m in self.members)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embeddings, probs = [], []
        for member in self.members:
            emb, logits = member.features(x)
            embeddings.append(emb)
            probs.append(torch.softmax(logits.float(), dim=1))
        mean = torch.stack(probs).mean(0)
        return torch.cat(embeddings, 1), torch.log(mean.clamp_min(1e-12))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[1]


def member_count(net: ExprNet | ExprEnsemble) -> int:
    """How many networks a model averages (1 for a single ExprNet)."""
    return len(net.members) if isinstance(net, ExprEnsemble) else 1
