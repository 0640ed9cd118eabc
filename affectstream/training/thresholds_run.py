"""`cv-thresholds` as a library call: a model's AU thresholds tuned on its cross-validation folds' out-of-fold
predictions (see training.fold_thresholds), printed per AU and written into the model or a copy of it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from affectstream.core.labels import ACTION_UNITS

if TYPE_CHECKING:
    from affectstream.training.fold_thresholds import OutOfFold

# The share of a neutral face's frames in which the default model's real-face check lets an AU be on.
DEFAULT_NEUTRAL_CAP = 0.2


@dataclass(frozen=True)
class CvThresholdsOptions:
    model: str  # the final model, trained on all the folds' subjects (its thresholds are replaced)
    folds: tuple[str, ...]  # fold 1's model, fold 2's, ...
    data: str  # the import-stills --cv-folds output folder
    out: str | None = None  # write the model here instead of updating it in place
    neutral_cap: float | None = None  # None: DEFAULT_NEUTRAL_CAP where the import has neutral frames; 1: off


@dataclass(frozen=True)
class CvThresholds:
    model: Path  # the model written
    out_of_fold: OutOfFold


def data_files(data: str) -> list[Path]:
    """The import's files the fold models are scored with: its summary and the per-set labels, folds' included."""
    from affectstream.training.stills import FOLDS_DIR, SUMMARY_FILE

    folder = Path(data)
    return [folder / SUMMARY_FILE, *folder.glob("by_set/*"), *folder.glob(f"{FOLDS_DIR}/*/by_set/*")]


def cv_thresholds(options: CvThresholdsOptions) -> CvThresholds:
    # Imported here, not above: `cv-thresholds --help` reads DEFAULT_NEUTRAL_CAP and need not load torch.
    from affectstream.core.atomic import check_inputs_kept, require_writable_file, written_file
    from affectstream.training.fold_thresholds import apply_to_model, out_of_fold

    # The model is rewritten (or written to out) last: checked before the fold models run.
    if options.out:
        require_writable_file(options.out)
        # Rewriting the model is this command's purpose; writing over a fold model or the data is not (a fold model
        # given as the model itself is refused by out_of_fold: it was not trained on the top level).
        check_inputs_kept({"--folds": list(options.folds), "--data": [options.data, *data_files(options.data)]},
                          [written_file("--out", options.out)])
    else:
        require_writable_file(options.model, "the model")
    print(f"out-of-fold AU predictions of {len(options.folds)} fold models on {options.data}:")
    asked = options.neutral_cap is not None
    cap = options.neutral_cap if asked else DEFAULT_NEUTRAL_CAP
    result = out_of_fold(list(options.folds), options.data, options.model, neutral_cap=None if cap >= 1.0 else cap,
                         cap_required=asked)
    for line in threshold_lines(result):
        print(line)
    path = apply_to_model(options.model, result, options.out)
    print(f"thresholds and out-of-fold AU figures written to {path}")
    return CvThresholds(Path(path), result)


def threshold_lines(result: OutOfFold) -> list[str]:
    """The pooled F1, the neutral cap where one applied, and per AU its F1, threshold and neutral firing rates."""
    lines = [f"pooled: {result.frames} frames, mean AU F1 {result.au_f1_mean:.3f}"]
    sets = list(result.neutral_firing)
    if sets:
        counts = ", ".join(f"{name} {result.neutral_frames[name]}" for name in sets)
        lines.append(f"  thresholds capped at {result.neutral_cap:g} of the Neutral validation frames ({counts}) "
                     f"where a threshold can; without the cap: mean AU F1 {result.uncapped_au_f1_mean:.3f}")
    columns = [f"on when neutral, {name}" for name in sets]
    lines.append(f"  {'AU':<5} {'F1':>5}  threshold" + "".join(f"  {c}" for c in columns))
    for i, (au, f1, threshold) in enumerate(zip(ACTION_UNITS, result.au_f1, result.thresholds)):
        rates = [result.neutral_firing[name][i] for name in sets]
        over = " (cap not reachable)" if any(rate > result.neutral_cap for rate in rates) else ""
        lines.append(f"  {au:<5} {f1:5.3f}  {threshold:9.2f}"
                     + "".join(f"  {r:>{len(c)}.2f}" for r, c in zip(rates, columns)) + over)
    return lines
