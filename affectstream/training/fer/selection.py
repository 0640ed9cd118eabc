"""Choosing ensemble members on PublicTest within a cost per face.

Each finished run's network predicts PublicTest once (with its mirror image, as shipped);
every subset of the runs is then scored by the mean of its members' probabilities, and
its cost per face is estimated from the networks' multiply-adds relative to
`expr-cnn-fast`'s, times that network's measured cost (the shipped int8 graph with the
mirror image). The shipped ensemble of three such networks measured 3.78 ms against
3 x 1.26: the cost adds up over members. The estimate only ranks; finalize measures the
chosen graph, and its card reports that figure. Accuracy is the float networks'; int8 can
swap subsets within a few faces of each other (the shipped members rank 2+3, 1+3, 1+2+3 in
float, 70.16% to 70.08%, where int8 put 1+2+3 first), so finalize the top few when they are close.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from affectstream.core.errors import UserInputError
from affectstream.training.fer.augment import CROP
from affectstream.training.fer.model import ExprNet, ExprNetConfig


MAX_RUNS = 16  # 65,535 subsets at most; each costs a mean over PublicTest's probabilities


@dataclass(frozen=True)
class Candidate:
    members: tuple[int, ...]  # 1-based, in the order the runs were given
    public_test_accuracy: float
    estimated_ms: float

    def to_json(self) -> dict:
        return {"members": list(self.members), "public_test_accuracy": self.public_test_accuracy,
                "estimated_ms_per_face": self.estimated_ms}


def multiply_adds(config: ExprNetConfig) -> int:
    """Multiply-adds of one pass over a CROP x CROP face (convolutions and the classifier)."""
    net = ExprNet(config).eval()
    total = 0

    def count(module: nn.Module, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total += int(output.numel()) * k
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features

    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        net(torch.zeros(1, 1, CROP, CROP))
    for hook in hooks:
        hook.remove()
    return total


def relative_cost(config: ExprNetConfig) -> float:
    """Multiply-adds relative to expr-cnn-fast's network (the default ExprNetConfig)."""
    return multiply_adds(config) / multiply_adds(ExprNetConfig())


def fits(ms: float, max_ms: float) -> bool:
    """Within the budget, up to rounding: 3 x 1.26 is 3.7800000000000002 in floating point."""
    return ms <= max_ms * (1 + 1e-9)


@dataclass(frozen=True)
class MemberChoice:
    """The runs that were scored, every subset that fits (best first) and what the estimate rests on."""

    runs: tuple[Path, ...]
    ranked: tuple[Candidate, ...]
    unit_ms: float
    max_ms: float

    def chosen(self) -> list[Path]:
        return [self.runs[i - 1] for i in self.ranked[0].members]

    def to_json(self, keep: int = 100) -> dict:
        return {"runs": [str(r) for r in self.runs], "max_ms": self.max_ms, "unit_ms": self.unit_ms,
                "rule": "best PublicTest accuracy (mirror image added) among subsets whose estimated cost fits",
                "chosen": [str(r) for r in self.chosen()], "ranked": [c.to_json() for c in self.ranked[:keep]],
                "subsets_that_fit": len(self.ranked)}


def choose_members(runs: Sequence[Path], public_test, unit_ms: float, max_ms: float,
                   log: Callable[[str], None] = print) -> MemberChoice:
    """Score finished train-fer runs on PublicTest and rank every subset that fits ``max_ms`` per face.

    A path without best.safetensors (a failed member, a log a glob matched) is skipped and said so;
    a budget no single network fits is refused before the slow predictions.
    """
    from affectstream.training.fer.evaluate import predict_probs
    from affectstream.training.fer.loop import load_weights

    kept, nets = [], []
    for run in map(Path, runs):
        if not (run / "best.safetensors").is_file():
            log(f"skipped {run}: no best.safetensors (not a finished train-fer run)")
            continue
        net = load_weights(run / "best.safetensors")
        if not isinstance(net, ExprNet):
            raise UserInputError(f"{run}: an ensemble, not one network; give its member runs")
        kept.append(run)
        nets.append(net)
    if not kept:
        raise UserInputError("none of the runs given has finished weights")
    costs = [relative_cost(net.config) for net in nets]
    if not fits(min(costs) * unit_ms, max_ms):
        raise UserInputError(f"no member alone fits {max_ms} ms per face: the cheapest is about "
                             f"{min(costs) * unit_ms:.2f} ms (unit {unit_ms:.2f} ms)")
    labels = public_test.labels.numpy()
    probs = []
    for k, (run, net, cost) in enumerate(zip(kept, nets, costs), start=1):
        probs.append(predict_probs(net, public_test.images))
        log(f"member {k}: {run}  PublicTest {float((probs[-1].argmax(1) == labels).mean()):.4f}  "
            f"relative cost {cost:.2f}")
    ranked = rank_subsets(probs, labels, costs, unit_ms, max_ms)
    return MemberChoice(tuple(kept), tuple(ranked), unit_ms, max_ms)


def rank_subsets(probs: Sequence[np.ndarray], labels: np.ndarray, costs: Sequence[float], ms_per_unit: float,
                 max_ms: float, max_members: int | None = None) -> list[Candidate]:
    """Every subset (one member or more) whose estimated cost fits, best PublicTest accuracy first.

    ``probs``: each run's (N, classes) probabilities; ``costs``: each run's relative cost; a subset's
    estimate is ms_per_unit times the sum of its members' costs. Ties go to the cheaper subset.
    """
    if len(probs) != len(costs) or not probs:
        raise UserInputError("rank_subsets: one probability table and one cost per run are needed")
    if len(probs) > MAX_RUNS:
        raise UserInputError(f"{len(probs)} runs make {2 ** len(probs) - 1} subsets; give at most {MAX_RUNS}")
    labels = np.asarray(labels)
    top = len(probs) if max_members is None else min(max_members, len(probs))
    cheapest = np.cumsum(sorted(costs)) * ms_per_unit
    found = []
    for size in range(1, top + 1):
        if not fits(cheapest[size - 1], max_ms):
            break  # no subset of this size (or larger) fits
        for subset in itertools.combinations(range(len(probs)), size):
            ms = ms_per_unit * sum(costs[i] for i in subset)
            if not fits(ms, max_ms):
                continue
            mean = np.mean([probs[i] for i in subset], axis=0)
            accuracy = float((mean.argmax(1) == labels).mean())
            found.append(Candidate(tuple(i + 1 for i in subset), accuracy, ms))
    return sorted(found, key=lambda c: (-c.public_test_accuracy, c.estimated_ms, c.members))


def reference_ms(metrics_path: str | Path) -> float:
    """The measured cost per face of the graph whose network is the unit (a finalize metrics.json)."""
    import json

    path = Path(metrics_path)
    try:
        metrics = json.loads(path.read_text())
        ms = float(metrics["latency_ms_per_face"]["model_median"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserInputError(f"{path}: no measured cost per face in it ({exc}); give --reference-ms") from None
    if not (math.isfinite(ms) and ms > 0):
        raise UserInputError(f"{path}: its cost per face {ms} is not a positive number; give --reference-ms")
    return ms
