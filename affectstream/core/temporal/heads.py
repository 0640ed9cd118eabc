"""Per-task output heads: a small MLP applied frame by frame."""

from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

from affectstream.core.labels import NUM_AUS, NUM_EXPRESSIONS

# Output width of each task's head: valence+arousal, expression logits, AU logits.
TASK_OUTPUTS: dict[str, int] = {"va": 2, "expr": NUM_EXPRESSIONS, "au": NUM_AUS}


class TaskHead(nn.Module):
    """Linear-ReLU-Dropout blocks then a linear output; ``bounded`` squashes with tanh (VA)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: Sequence[int] = (512, 256),
        dropout: float = 0.3,
        bounded: bool = False,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, out_features))
        self.mlp = nn.Sequential(*layers)
        self.bounded = bounded

    def forward(self, x: Tensor) -> Tensor:
        y = self.mlp(x)
        return y.tanh() if self.bounded else y


def make_head(task: str, in_features: int, hidden: Sequence[int], dropout: float) -> TaskHead:
    return TaskHead(in_features, TASK_OUTPUTS[task], hidden, dropout, bounded=(task == "va"))
