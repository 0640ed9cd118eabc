"""The cross-validated AU protocol: subject-grouped K-fold cross-validation over every CK+ subject, repeated.

Per repeat (its own fold seed) the subjects are divided into K folds, stratified
by AU (``fold_by_group``); no subject is in two folds of a repeat. Per fold, on
the other folds' subjects only:

* the **recipe** (the model's linear AU readout): an inner subject-grouped
  cross-validation gives out-of-fold logits, on which the calibration is fitted;
  each threshold is where the class-balanced regression is undecided (logit 0)
  read on the calibrated scale and kept within 0.2-0.8 (``threshold_rule``
  "tuned": the F1-best on the inner predictions instead); capped, raised until
  the AU fires on at most the cap of the Neutral validation frames; the readout
  fitted on all of those subjects then predicts the held-out fold;
* the **yardstick**: per-AU logistic regression on the frame's own features only
  (standardised, C = 0.1, class-balanced), threshold 0.5; capped, the smallest
  threshold from 0.5 up that meets the same neutral cap.

Each repeat pools its K held-out folds (every subject once) for per-AU F1 and
expected calibration error; the figures are mean and sd over the repeats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from affectstream.core.errors import UserInputError
from affectstream.core.labels import ACTION_UNITS
from affectstream.training.au_frames import AUFrames, ReadoutData
from affectstream.training.au_readout import (CALIBRATED_THRESHOLDS, CALIBRATIONS, Calibration, Readout,
                                              ReadoutOptions, expected_calibration_error, fit_calibration, fit_readout)

YARDSTICK_THRESHOLD = 0.5


@dataclass(frozen=True)
class ProtocolOptions:
    folds: int = 5
    seeds: tuple[int, ...] = (0, 1, 2, 3)
    inner_folds: int = 5
    neutral_cap: float | None = 0.2
    readout: ReadoutOptions = ReadoutOptions(c=0.01)
    yardstick: ReadoutOptions = ReadoutOptions(c=0.1, balanced=True)
    calibration: str = "platt-bounded"  # the one logged per repeat
    frame_only: bool = False  # the recipe reads only the frame's features (no encoder output): an ablation
    neutral_sets: tuple[str, ...] | None = None  # the sets whose Neutral frames the cap uses (None: every one)
    calibrations: tuple[str, ...] = CALIBRATIONS  # the calibrations compared (the lowest ECE is chosen)
    # "tuned": each AU's F1-best threshold on the inner out-of-fold predictions; "balanced": the point where the
    # class-balanced regression is undecided (logit 0), read on the calibrated scale.
    threshold_rule: str = "balanced"


def cap_sets(data: ReadoutData, options: ProtocolOptions) -> dict[str, np.ndarray]:
    """The Neutral frames the cap is measured on."""
    if options.neutral_sets is None:
        return data.neutral
    missing = sorted(set(options.neutral_sets) - set(data.neutral))
    if missing:
        raise UserInputError(f"no Neutral validation frames of {', '.join(missing)}; "
                             f"the import has {', '.join(data.neutral) or 'none'}")
    return {name: data.neutral[name] for name in options.neutral_sets}


@dataclass
class Scored:
    """One method's pooled held-out predictions of one repeat."""

    probs: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    on: dict[str, list[np.ndarray]] = field(default_factory=lambda: {"capped": [], "uncapped": []})
    thresholds: dict[str, list[np.ndarray]] = field(default_factory=lambda: {"capped": [], "uncapped": []})

    def f1(self, rule: str) -> np.ndarray:
        from affectstream.training.metrics import au_f1

        return au_f1(np.concatenate(self.on[rule]).astype(np.float64), np.concatenate(self.labels))

    def ece(self) -> np.ndarray:
        return expected_calibration_error(np.concatenate(self.probs), np.concatenate(self.labels))


def subject_folds(data: ReadoutData, folds: int, seed: int) -> list[list[str]]:
    """Each fold's subjects: whole subjects, stratified by their stills' AU codes."""
    from affectstream.training.stills.splits import fold_by_group

    fold = fold_by_group(data.still_subjects, np.where(data.still_labels > 0, 1, 0), folds, seed)
    return [sorted(set(data.still_subjects[fold == k].tolist())) for k in range(folds)]


def frame_columns(inputs: np.ndarray, frame_dim: int, frame_only: bool) -> np.ndarray:
    """What the recipe reads of readout inputs: all of them, or (the ablation) the frame's own features only."""
    return inputs[:, -frame_dim:] if frame_only else inputs


def calibrated_recipe(data: ReadoutData, subjects: Sequence[str], options: ProtocolOptions, seed: int,
                      methods: Sequence[str] = CALIBRATIONS) -> dict:
    """The recipe fitted on ``subjects``: its readout, its out-of-fold logits (inner folds) and their labels,
    and per calibration method the calibration fitted on them."""
    training = data.training.of_subjects(subjects)
    scoring = data.scoring.of_subjects(subjects)
    inner = subject_folds(_restricted(data, subjects), options.inner_folds, seed)
    logits = np.zeros(scoring.labels.shape, np.float64)
    for held in inner:
        fit_part = training.take(np.flatnonzero(~np.isin(training.subjects, held)))
        readout = fit_readout(frame_columns(fit_part.inputs, data.frame_dim, options.frame_only), fit_part.labels,
                              options.readout)
        rows = np.flatnonzero(np.isin(scoring.subjects, held))
        logits[rows] = readout.logits(frame_columns(scoring.take(rows).inputs, data.frame_dim, options.frame_only))
    final = fit_readout(frame_columns(training.inputs, data.frame_dim, options.frame_only), training.labels,
                        options.readout)
    calibrations = {m: fit_calibration(logits, scoring.labels, m) for m in methods}
    return {"readout": final, "oof_logits": logits, "oof_labels": scoring.labels, "calibrations": calibrations}


def recipe_thresholds(fitted: dict, calibration: Calibration, data: ReadoutData, options: ProtocolOptions
                      ) -> dict[str, np.ndarray]:
    """Thresholds on the calibrated scale (0.2-0.8) by ``options.threshold_rule``, uncapped and capped."""
    from affectstream.training.metrics import tune_au_thresholds

    quiet = [calibration.probabilities(fitted["readout"].logits(frame_columns(n, data.frame_dim, options.frame_only)))
             for n in cap_sets(data, options).values()]
    grid = CALIBRATED_THRESHOLDS
    if options.threshold_rule == "balanced":
        undecided = calibration.probabilities(np.zeros((1, len(ACTION_UNITS))))[0]
        start = np.clip(undecided, grid[0], grid[-1])
        return {"uncapped": start, "capped": capped_from(start, quiet, options.neutral_cap, grid)}
    probs = calibration.probabilities(fitted["oof_logits"])  # only the tuned rule reads the inner predictions
    out = {"uncapped": tune_au_thresholds(probs, fitted["oof_labels"], grid=grid)}
    out["capped"] = (tune_au_thresholds(probs, fitted["oof_labels"], grid=grid, quiet=quiet,
                                        max_quiet_rate=options.neutral_cap)
                     if options.neutral_cap is not None else out["uncapped"])
    return out


def capped_from(start: np.ndarray, quiet: Sequence[np.ndarray], cap: float | None, grid: np.ndarray) -> np.ndarray:
    """Per AU the smallest threshold from ``start`` up (``start`` itself, then the grid above it) that keeps the AU
    on in at most ``cap`` of each group of quiet frames; where none does, the highest."""
    if cap is None or not quiet:
        return start.copy()
    out = np.full(len(start), grid[-1])
    for j, low in enumerate(start):
        for t in [low, *grid[grid > low + 1e-9]]:
            if max(float((q[:, j] >= t).mean()) for q in quiet) <= cap:
                out[j] = t
                break
    return out


def yardstick_thresholds(readout: Readout, data: ReadoutData, options: ProtocolOptions) -> dict[str, np.ndarray]:
    """0.5; capped: per AU the smallest grid threshold from 0.5 up meeting the neutral cap (else the highest)."""
    from affectstream.training.metrics import default_threshold_grid

    aus = len(ACTION_UNITS)
    out = {"uncapped": np.full(aus, YARDSTICK_THRESHOLD)}
    if options.neutral_cap is None:
        out["capped"] = out["uncapped"]
        return out
    quiet = [_sigmoid(readout.logits(frame_columns(n, data.frame_dim, True))) for n in cap_sets(data, options).values()]
    grid = default_threshold_grid()
    out["capped"] = capped_from(out["uncapped"], quiet, options.neutral_cap, grid)
    return out


def run_protocol(data: ReadoutData, options: ProtocolOptions = ProtocolOptions(),
                 log: Callable[[str], None] = print) -> dict:
    """Per repeat and method the pooled held-out figures; see the module docstring."""
    repeats = []
    for seed in options.seeds:
        folds = subject_folds(data, options.folds, seed)
        recipe = {m: Scored() for m in options.calibrations}
        yardstick = Scored()
        for k, held in enumerate(folds):
            train_subjects = sorted(set(data.still_subjects.tolist()) - set(held))
            test = data.scoring.of_subjects(held)
            fitted = calibrated_recipe(data, train_subjects, options, seed=1000 + 10 * seed + k,
                                       methods=options.calibrations)
            logits = fitted["readout"].logits(frame_columns(test.inputs, data.frame_dim, options.frame_only))
            for method, calibration in fitted["calibrations"].items():
                thresholds = recipe_thresholds(fitted, calibration, data, options)
                _record(recipe[method], calibration.probabilities(logits), test.labels, thresholds)
            training = data.training.of_subjects(train_subjects)
            stick = fit_readout(frame_columns(training.inputs, data.frame_dim, True), training.labels,
                                options.yardstick)
            _record(yardstick, _sigmoid(stick.logits(frame_columns(test.inputs, data.frame_dim, True))), test.labels,
                    yardstick_thresholds(stick, data, options))
            log(f"  repeat seed {seed}, fold {k + 1}/{options.folds}: {len(held)} subjects, {len(test.labels)} frames")
        repeats.append({"seed": seed, "folds": folds, "recipe": recipe, "yardstick": yardstick})
        line = _repeat_line(recipe[options.calibration if options.calibration in recipe else
                                   options.calibrations[0]], yardstick)
        log(f"repeat seed {seed}: {line}")
    return summarise(repeats, options)


def _restricted(data: ReadoutData, subjects: Sequence[str]) -> ReadoutData:
    keep = np.isin(data.still_subjects, list(subjects))
    return ReadoutData(data.scoring, data.training, data.neutral, data.still_subjects[keep], data.still_labels[keep],
                       data.frame_dim)


def _record(scored: Scored, probs: np.ndarray, labels: np.ndarray, thresholds: dict[str, np.ndarray]) -> None:
    scored.probs.append(probs)
    scored.labels.append(labels)
    for rule, t in thresholds.items():
        scored.on[rule].append(probs >= t)
        scored.thresholds[rule].append(t)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow for large |z|


def _repeat_line(recipe: Scored, yardstick: Scored) -> str:
    return (f"mean AU F1 capped recipe {np.nanmean(recipe.f1('capped')):.3f} / yardstick "
            f"{np.nanmean(yardstick.f1('capped')):.3f}; uncapped {np.nanmean(recipe.f1('uncapped')):.3f} / "
            f"{np.nanmean(yardstick.f1('uncapped')):.3f}; recipe ECE {np.nanmean(recipe.ece()):.3f}")


def _mean_sd(values: Sequence[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    return {"mean": float(np.nanmean(arr)), "sd": float(np.nanstd(arr, ddof=1)) if len(arr) > 1 else math.nan}


def summarise(repeats: list[dict], options: ProtocolOptions) -> dict:
    """Per method and rule: per-AU F1 and its mean over the 12 AUs, mean and sd over the repeats; ECE per AU."""
    def method_figures(get: Callable[[dict], Scored]) -> dict:
        out = {}
        for rule in ("capped", "uncapped"):
            per_repeat = np.stack([get(r).f1(rule) for r in repeats])
            out[rule] = {"au_f1_mean": _mean_sd(np.nanmean(per_repeat, axis=1)),
                         "au_f1": {au: _mean_sd(per_repeat[:, j]) for j, au in enumerate(ACTION_UNITS)},
                         "thresholds_median": {au: float(np.median([t[j] for r in repeats
                                                                    for t in get(r).thresholds[rule]]))
                                               for j, au in enumerate(ACTION_UNITS)}}
        ece = np.stack([get(r).ece() for r in repeats])
        out["ece_mean"] = _mean_sd(np.nanmean(ece, axis=1))
        out["ece"] = {au: _mean_sd(ece[:, j]) for j, au in enumerate(ACTION_UNITS)}
        return out

    recipe = {m: method_figures(lambda r, m=m: r["recipe"][m]) for m in options.calibrations}
    chosen = choose_calibration(recipe)
    return {
        "protocol": {"folds": options.folds, "seeds": list(options.seeds), "inner_folds": options.inner_folds,
                     "neutral_cap": options.neutral_cap, "readout_c": options.readout.c,
                     "threshold_rule": options.threshold_rule,
                     "frame_only": options.frame_only, "fits": len(repeats) * options.folds,
                     "neutral_sets": list(options.neutral_sets) if options.neutral_sets else "all"},
        "recipe": recipe,
        "calibration_chosen": chosen,
        "yardstick": method_figures(lambda r: r["yardstick"]),
        "folds": [{"seed": r["seed"], "subjects": r["folds"]} for r in repeats],
        "reliability": _reliability(repeats, chosen),
    }


MAX_ECE = 0.05  # the calibration error a shipped AU probability may have (mean over the 12 AUs, out of fold)


def choose_calibration(recipe: dict) -> str:
    """The calibration with the best capped mean AU F1 among those whose mean ECE is at most MAX_ECE; where none
    is, the lowest ECE."""
    calibrated = [m for m, f in recipe.items() if f["ece_mean"]["mean"] <= MAX_ECE]
    if calibrated:
        return max(calibrated, key=lambda m: recipe[m]["capped"]["au_f1_mean"]["mean"])
    return min(recipe, key=lambda m: recipe[m]["ece_mean"]["mean"])


def _reliability(repeats: list[dict], method: str) -> dict:
    from affectstream.training.au_readout import reliability_table

    probs = np.concatenate([np.concatenate(r["recipe"][method].probs) for r in repeats])
    labels = np.concatenate([np.concatenate(r["recipe"][method].labels) for r in repeats])
    table = reliability_table(probs, labels)
    return {k: [None if (isinstance(v, float) and math.isnan(v)) else float(v) for v in vals]
            for k, vals in table.items()}
