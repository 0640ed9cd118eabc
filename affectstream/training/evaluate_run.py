"""`evaluate` as a library call: P_MTL, CCC, expression F1 and confusion, per-AU F1, for a model or an ensemble.

Its outputs replace only evaluate's own: an ensemble file (its "format") at ``save_ensemble``, a report of
evaluate's in ``out``. A video whose features cannot be read is left out, said in one line, and the rest is scored
(``EvaluationReport.videos_left_out``).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from affectstream.core.atomic import (Output, check_inputs_kept, check_writable_dir, not_ours, read_json_object,
                                      require_writable_file, write_text_atomic, written_file)
from affectstream.core.errors import UserInputError
from affectstream.core.features.store import FeatureStore
from affectstream.training.annotations import read_annotations
from affectstream.training.baseline import backbone_expression_scores, expression_columns
from affectstream.training.evaluation import (ENSEMBLE_FORMAT, Ensemble, coverage_report, evaluate_predictions,
                                              failure_report, predict_videos, require_neutral_frames, retune,
                                              save_ensemble)
from affectstream.training.evaluation_text import baseline_line, expression_line, metrics_lines
from affectstream.training.metrics import MTLMetrics, labelled_class_scores
from affectstream.training.model_choice import ModelChoice, load_choice, model_inputs
from affectstream.training.plots import plot_evaluation

REPORT_FILES = ("metrics.json", "evaluation.png")  # what evaluate writes into its out folder
REPORT_KEYS = ("annotations", "metrics_smoothed", "metrics_raw")  # what tells evaluate's metrics.json from others'


@dataclass(frozen=True)
class EvaluateOptions:
    model: ModelChoice
    annotations: str  # labelled frames (ABAW annotation file)
    features: str  # feature store folder
    out: str | None = None  # folder for metrics.json and evaluation.png
    retune: bool = False  # re-tune thresholds and window on these labels (always for several checkpoints)
    au_neutral_cap: float | None = None  # with re-tuning: the AU thresholds' cap on frames labelled Neutral
    save_ensemble: str | None = None  # write the (re-tuned) ensemble here, for `predict`
    baseline: str | None = None  # also score this backbone's own expression probabilities
    progress: bool = True

    @property
    def retuned(self) -> bool:
        return self.retune or self.model.averages_several


@dataclass(frozen=True)
class EvaluationReport:
    report: dict[str, Any]  # what metrics.json holds
    videos_left_out: dict[str, str] = field(default_factory=dict)  # features unreadable: video -> why
    metrics_file: Path | None = None
    ensemble_file: Path | None = None


def written_outputs(options: EvaluateOptions) -> list[Output]:
    """The files evaluate writes: the out folder's metrics and plot, the ensemble file."""
    outputs = [written_file("--out", options.out, name) for name in REPORT_FILES] if options.out else []
    return outputs + ([written_file("--save-ensemble", options.save_ensemble)] if options.save_ensemble else [])


def check_own_outputs(options: EvaluateOptions) -> None:
    """evaluate replaces its own report and ensemble files only: a train-fer run's metrics.json, a model, or any
    other file at those names is refused, untouched."""
    if options.save_ensemble:
        target = require_writable_file(options.save_ensemble, "--save-ensemble")
        if target.exists() and (read_json_object(target) or {}).get("format") != ENSEMBLE_FORMAT:
            raise not_ours("--save-ensemble", options.save_ensemble, "a file that is no ensemble file", "evaluate")
    if options.out:
        report = Path(options.out) / REPORT_FILES[0]
        there = [name for name in REPORT_FILES if (Path(options.out) / name).exists()]
        if there and not all(key in (read_json_object(report) or {}) for key in REPORT_KEYS):
            what = (f"a {REPORT_FILES[0]} that is no evaluation report" if report.exists()
                    else f"an {REPORT_FILES[1]} without evaluate's {REPORT_FILES[0]}")
            raise not_ours("--out", options.out, what, "evaluate")


def _checked_model(options: EvaluateOptions) -> Ensemble:
    """The model, once every output and option that can be checked is: before the predictions, not after."""
    if options.au_neutral_cap is not None and not options.retuned:
        raise UserInputError("--au-neutral-cap caps re-tuned thresholds: add --retune")
    if options.out:
        check_writable_dir(options.out)
    if options.save_ensemble:
        require_writable_file(options.save_ensemble, "--save-ensemble")
    ensemble = load_choice(options.model)
    check_inputs_kept(model_inputs(options.model, ensemble)
                      | {"--annotations": options.annotations, "--features": options.features},
                      written_outputs(options))
    check_own_outputs(options)
    return ensemble


def evaluate(options: EvaluateOptions) -> EvaluationReport:
    """Score the model on the labelled frames, print the figures, write the report and ensemble asked for."""
    ensemble = _checked_model(options)
    labels = read_annotations(options.annotations)
    if not any(len(lab.frames) for lab in labels.values()):
        raise UserInputError(f"{options.annotations}: no labelled frame to score (the file lists no video's frames)")
    if options.au_neutral_cap is not None:
        require_neutral_frames((lab.expr for lab in labels.values()), options.annotations)
    store = FeatureStore(Path(options.features))
    if options.baseline:
        expression_columns(store.spec(options.baseline))
    wanted = {video: lab.frames for video, lab in labels.items()}
    raw = predict_videos(ensemble, store, wanted, smooth=False, progress=options.progress)
    failures = failure_report(raw)
    for line in failures:
        print(line, file=sys.stderr)
    if not any(len(p.frames) for p in raw):
        why = (f"no video of {options.annotations} could be read and had a face (see above)" if failures
               else f"no face was found in any video of {options.annotations}")
        raise UserInputError(f"{options.features}: {why}: nothing can be predicted or scored")
    left_out = {p.video: p.failed for p in raw if p.failed}
    if options.retuned:
        ensemble = retune(ensemble, raw, labels, options.au_neutral_cap)
        print(f"AU thresholds and smoothing window re-tuned on {options.annotations}: "
              "figures below are optimistic unless these are validation labels used for selection only")
    # Smoothed over whole videos, not just these frames: a second pass, with the window re-tuning may have chosen.
    smoothed = predict_videos(ensemble, store, wanted, smooth=True, progress=options.progress)
    metrics_raw = evaluate_predictions(raw, labels, ensemble.au_thresholds)
    metrics = evaluate_predictions(smoothed, labels, ensemble.au_thresholds)

    print(f"model: {ensemble.name}")
    for line in [*coverage_report(raw, "labelled "), f"labelled frames per task: {metrics.counts}",
                 *metrics_lines(ensemble, metrics, metrics_raw), expression_line(labelled_class_scores(metrics.confusion))]:
        print(line)
    baseline = None
    if options.baseline:
        kept = {v: lab for v, lab in labels.items() if v not in left_out}
        baseline = backbone_expression_scores(store, options.baseline, kept)
        print(baseline_line(options.baseline, baseline))
    report = _report(options, ensemble, raw, left_out, metrics, metrics_raw, baseline)
    return EvaluationReport(report, left_out, _write_report(options, ensemble, metrics, report),
                            _write_ensemble(options, ensemble, metrics))


def _report(options: EvaluateOptions, ensemble: Ensemble, raw: list, left_out: dict[str, str], metrics: MTLMetrics,
            metrics_raw: MTLMetrics, baseline: dict | None) -> dict[str, Any]:
    return {
        "model": ensemble.name,
        "members": [str(m.path) for m in ensemble.members],
        "annotations": str(options.annotations),
        "frames": int(sum(len(p.frames) for p in raw)),  # scored: every labelled frame but those of faceless videos
        "frames_without_features": int(sum(int(p.filled.sum()) for p in raw)),
        "frames_not_predicted": {p.video: len(p.unpredicted) for p in raw if len(p.unpredicted)},
        "frames_not_in_their_video": {p.video: [int(f) for f in p.outside] for p in raw if len(p.outside)},
        "videos_left_out": left_out,  # features unreadable: video -> why
        "retuned_on_these_labels": options.retuned,
        "au_neutral_cap": options.au_neutral_cap,
        "au_thresholds": [float(t) for t in ensemble.au_thresholds],
        "offline_window": ensemble.offline_window,
        "metrics_smoothed": metrics.to_json(),
        "metrics_raw": metrics_raw.to_json(),
        "baseline": baseline,
    }


def _write_report(options: EvaluateOptions, ensemble: Ensemble, metrics: MTLMetrics,
                  report: dict[str, Any]) -> Path | None:
    if not options.out:
        return None
    metrics_file, plot_file = (Path(options.out) / name for name in REPORT_FILES)
    write_text_atomic(metrics_file, json.dumps(report, indent=2) + "\n")
    plot_evaluation(metrics.confusion, metrics.au_f1_per_au, plot_file, title=ensemble.name)
    print(f"wrote {metrics_file} and {plot_file}")
    return metrics_file


def _write_ensemble(options: EvaluateOptions, ensemble: Ensemble, metrics: MTLMetrics) -> Path | None:
    if not options.save_ensemble:
        return None
    path = save_ensemble(options.save_ensemble, ensemble, {"tuned_on": str(options.annotations),
                                                           "p_mtl": float(np.nan_to_num(metrics.p_mtl)),
                                                           "au_neutral_cap": options.au_neutral_cap})
    print(f"wrote ensemble {path}")
    return path
