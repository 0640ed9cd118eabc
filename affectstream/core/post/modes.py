"""The one spelling of valence/arousal smoothing, for the API, the commands and the app.

* ``centred``: the checkpoint's centred moving average: offline only, it needs the frames after each one.
* ``causal``: the live filter (the checkpoint's, or one the options give): no frame from the future.
* ``none``: the model's raw values.

The live engine runs ``causal`` or ``none``; ``centred`` runs it causally and a job replaces the smoothed
valence/arousal once a whole track is known (``engine_smoothing``).
"""

from __future__ import annotations

from affectstream.core.errors import UserInputError

SMOOTHING: tuple[str, ...] = ("centred", "causal", "none")
LIVE_SMOOTHING: tuple[str, ...] = ("causal", "none")


def check_smoothing(smoothing: object) -> str:
    if not isinstance(smoothing, str) or smoothing not in SMOOTHING:
        raise UserInputError(f"smoothing must be one of {', '.join(SMOOTHING)}, not {smoothing!r}")
    return smoothing


def check_live_smoothing(smoothing: object) -> str:
    """A live stream's smoothing: centred is refused plainly (it waits for frames that have not come)."""
    if smoothing == "centred":
        raise UserInputError("smoothing='centred' needs the frames after each one, so it is offline only "
                             "(analyze or annotate); frames one at a time take 'causal' or 'none'")
    if not isinstance(smoothing, str) or smoothing not in LIVE_SMOOTHING:
        raise UserInputError(f"live smoothing must be one of {', '.join(LIVE_SMOOTHING)}, not {smoothing!r}")
    return smoothing


def engine_smoothing(smoothing: str) -> str:
    """What the engine runs for a job's smoothing: centred starts causal (expression probabilities keep their
    causal smoothing; a job replaces valence/arousal afterwards)."""
    return "causal" if check_smoothing(smoothing) == "centred" else smoothing
