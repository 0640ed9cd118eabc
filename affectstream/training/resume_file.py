"""Reading a training run's resume file (``last.pt``) without ever running code it might carry."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from affectstream.core.errors import UserInputError


def load_resume_state(path: Path, remedy: str) -> dict[str, Any]:
    """The plain tensors and values of ``path``; anything else is a UserInputError ending in ``remedy``.

    torch's own message for a refused file advises ``weights_only=False``, the option that runs
    whatever code the file carries: its text is kept out (``from None``) and what was found is said.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UserInputError(
            f"{path}: cannot resume from this file: it holds something other than plain tensors and "
            f"numbers (possibly code), which loading could run, so it is refused for safety; {remedy}"
        ) from None
    except Exception as exc:  # noqa: BLE001 - any unreadable resume file is the same user-facing problem
        detail = f"{type(exc).__name__}" if "weights_only" in str(exc) else f"{type(exc).__name__}: {exc}"
        raise UserInputError(f"{path}: cannot resume from this damaged or foreign file ({detail}); {remedy}") \
            from None
    if not isinstance(state, dict):
        raise UserInputError(f"{path}: not a training resume file (holds a {type(state).__name__}); {remedy}")
    return state
