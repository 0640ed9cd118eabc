"""`fit-au` as a library call: a trained model's AU output replaced by a calibrated linear readout.

The readout (training.au_readout) is fitted on every CK+ subject's training
layout (training.au_frames); its calibration and its thresholds come from a
subject-grouped cross-validation over the same subjects (out-of-fold logits, as
the AU protocol of training.au_cv fits them inside each training fold), and the
thresholds are tuned on the calibrated scale, capped on the Neutral validation
frames. The calibration is folded into the layer, so the model's AU
probabilities are the calibrated ones everywhere it runs (engine, ONNX, API).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from affectstream.core.labels import ACTION_UNITS

FIT_SEED = 0


@dataclass(frozen=True)
class FitAUOptions:
    model: str  # a trained basic-framework model (its AU head is replaced)
    data: str  # an import-stills output with the expression-labelled sets' validation split (the neutral cap)
    out: str
    shared: str = "../shared/data"
    cache: str | None = None  # still features cache (default <data>/stills-cache)
    calibration: str = "platt-bounded"
    neutral_cap: float | None = 0.2
    c: float = 0.01
    folds: int = 5
    name: str | None = None
    out_of_fold: str | None = None  # write the out-of-fold logits (uncalibrated) and their stills here (.npz)
    neutral_sets: tuple[str, ...] | None = None  # the sets whose Neutral frames the cap uses (None: every one)


@dataclass(frozen=True)
class FitAUResult:
    path: Path
    thresholds: np.ndarray
    out_of_fold_f1: np.ndarray
    out_of_fold_ece: np.ndarray
    subjects: int


def with_linear_readout(model, readout) -> Any:
    """A copy of ``model`` whose AU logits are ``readout`` on its readout inputs (config au_readout 'linear')."""
    from affectstream.core.temporal.multitask import MultiTaskModel

    new = MultiTaskModel(replace(model.config, au_readout="linear")).eval()
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("heads.au.")}
    state["heads.au.weight"] = torch.as_tensor(readout.weight, dtype=torch.float32)
    state["heads.au.bias"] = torch.as_tensor(readout.bias, dtype=torch.float32)
    new.load_state_dict(state, strict=True)
    return new


def data_terms(shared: Path) -> dict[str, Any]:
    """CK+'s record as an import writes it (description, terms, label rules), for the model's provenance."""
    from affectstream.training.stills.sets import read_ckplus_au

    record = read_ckplus_au(Path(shared) / "ckplus-au", au27="au26-missing").summary()
    return record | {"used_for": "the linear AU readout, its calibration and thresholds (every subject)"}


def with_ckplus_labels(provenance: dict[str, Any], ckplus: dict[str, Any]) -> dict[str, Any]:
    """The provenance with CK+ among the data sets and the action units in the labels note."""
    data = dict(provenance.get("data") or {})
    data["sets"] = [s for s in data.get("sets", []) if s.get("name") != "ckplus-au"] + [ckplus]
    note = provenance.get("labels", "")
    if "action units real" not in note:
        note = f"{note}; action units real (ckplus-au)" if note else "action units real (ckplus-au)"
    return provenance | {"data": data, "labels": note}


def write_out_of_fold(path: Path, logits: np.ndarray, stills: np.ndarray) -> None:
    """The readout's out-of-fold logits and, per row, the CK+ still it shows (its labels stay in ../shared):
    with them a test checks that the shipped calibration gives the ECE the model reports."""
    import io

    from affectstream.core.atomic import atomic_write

    buffer = io.BytesIO()
    np.savez_compressed(buffer, logits=logits.astype(np.float32), stills=stills.astype(np.int32))
    with atomic_write(path) as handle:
        handle.write(buffer.getvalue())


def read_out_of_fold(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return data["logits"], data["stills"]


def fit_au(options: FitAUOptions, log=print) -> FitAUResult:
    from affectstream.core.atomic import require_writable_file
    from affectstream.core.temporal.checkpoint import load_checkpoint, save_checkpoint
    from affectstream.training.au_cv import ProtocolOptions, calibrated_recipe, recipe_thresholds
    from affectstream.training.au_frames import read_readout_data
    from affectstream.training.au_readout import ReadoutOptions, expected_calibration_error
    from affectstream.training.metrics import au_f1

    require_writable_file(options.out)
    if options.out_of_fold:
        require_writable_file(options.out_of_fold, "--out-of-fold")
    loaded = load_checkpoint(options.model)
    cache = Path(options.cache) if options.cache else Path(options.data) / "stills-cache"
    data = read_readout_data(loaded, Path(options.shared), cache, Path(options.data), log=log)
    protocol = ProtocolOptions(folds=options.folds, inner_folds=options.folds, neutral_cap=options.neutral_cap,
                               readout=ReadoutOptions(c=options.c), calibration=options.calibration,
                               neutral_sets=options.neutral_sets)
    subjects = sorted(set(data.still_subjects.tolist()))
    fitted = calibrated_recipe(data, subjects, protocol, seed=FIT_SEED, methods=(options.calibration,))
    calibration = fitted["calibrations"][options.calibration]
    thresholds = recipe_thresholds(fitted, calibration, data, protocol)["capped"]
    probs = calibration.probabilities(fitted["oof_logits"])
    f1 = au_f1((probs >= thresholds).astype(np.float64), fitted["oof_labels"])
    ece = expected_calibration_error(probs, fitted["oof_labels"])
    shipped = fitted["readout"].calibrated(calibration)
    # How often each AU is on at rest, on every set's Neutral frames (whether or not the cap used it).
    firing = {name: (shipped.logits(frames) >= np.log(thresholds / (1 - thresholds))).mean(axis=0)
              for name, frames in data.neutral.items()}
    model = with_linear_readout(loaded.model, shipped)
    meta = loaded.meta
    meta.model_config = model.config
    meta.au_thresholds = thresholds.astype(np.float32)
    if options.name:
        meta.name = options.name
    meta.provenance = with_ckplus_labels(dict(meta.provenance), data_terms(Path(options.shared))) | {"au_readout": {
        "fitted_on": f"CK+ ({len(subjects)} subjects, every one), training layout "
                     f"({len(data.training.labels)} frames); thresholds and calibration from {options.folds}-fold "
                     "subject-grouped out-of-fold logits",
        "subjects": subjects, "c": options.c, "calibration": calibration.to_json(),
        "neutral_cap": options.neutral_cap, "neutral_frames": {k: int(len(v)) for k, v in data.neutral.items()},
        "neutral_cap_sets": list(options.neutral_sets) if options.neutral_sets else sorted(data.neutral),
        "neutral_firing": {name: {au: float(v) for au, v in zip(ACTION_UNITS, rates)}
                           for name, rates in firing.items()},
        "out_of_fold_au_f1": {au: float(v) for au, v in zip(ACTION_UNITS, f1)},
        "out_of_fold_au_f1_mean": float(np.nanmean(f1)),
        "out_of_fold_ece": {au: float(v) for au, v in zip(ACTION_UNITS, ece)},
        "thresholds": {au: float(t) for au, t in zip(ACTION_UNITS, thresholds)}}}
    if options.out_of_fold:
        write_out_of_fold(Path(options.out_of_fold), fitted["oof_logits"], data.scoring.stills)
    path = save_checkpoint(options.out, model, meta)
    log(f"out of fold ({len(subjects)} subjects): mean AU F1 {np.nanmean(f1):.3f}, mean ECE {np.nanmean(ece):.3f}")
    names = list(firing)
    log(f"  {'AU':<5} {'F1':>5}  {'ECE':>5}  threshold" + "".join(f"  on at rest, {n}" for n in names))
    for j, (au, v, e, t) in enumerate(zip(ACTION_UNITS, f1, ece, thresholds)):
        log(f"  {au:<5} {v:5.3f}  {e:5.3f}  {t:9.2f}" + "".join(f"  {firing[n][j]:>{len(n) + 13}.2f}" for n in names))
    log(f"wrote {path}")
    return FitAUResult(Path(path), thresholds, f1, ece, len(subjects))
