"""Which model a command runs: one checkpoint, several averaged as an ensemble, or an ensemble file."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from affectstream.core.temporal.checkpoint import unfinished_warning
from affectstream.training.evaluation import Ensemble, load_ensemble, load_models


@dataclass(frozen=True)
class ModelChoice:
    checkpoints: tuple[str, ...] = ()  # one model, or several averaged
    ensemble: str | None = None  # an ensemble file written by `evaluate --save-ensemble` (instead of checkpoints)

    @property
    def averages_several(self) -> bool:
        """Several checkpoints named: their mean thresholds and window are only a starting point."""
        return len(self.checkpoints) > 1


def load_choice(choice: ModelChoice) -> Ensemble:
    """The chosen model, after saying on stderr which of its members' training has not finished."""
    ensemble = load_ensemble(choice.ensemble) if choice.ensemble else load_models(choice.checkpoints)
    for warning in filter(None, (unfinished_warning(m.path, m.meta.provenance) for m in ensemble.members)):
        print(warning, file=sys.stderr)
    return ensemble


def model_inputs(choice: ModelChoice, ensemble: Ensemble) -> dict[str, object]:
    """The model files a command reads: the checkpoints, or the ensemble's file and its members."""
    if choice.ensemble:
        return {"--ensemble": choice.ensemble, "--ensemble member": [m.path for m in ensemble.members]}
    return {"--checkpoint": list(choice.checkpoints)}
