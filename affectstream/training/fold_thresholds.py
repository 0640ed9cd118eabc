"""AU thresholds from cross-validation: each fold's model scores the subjects it never saw.

`import-stills --cv-folds K` divides a subject-split set's train+val subjects into
K folds; a model trained on the other folds predicts each fold's validation
subjects, so every subject gets out-of-fold predictions. Tuning the 12 AU
thresholds on all of them rests on every subject instead of one validation
split's few, and the out-of-fold F1 is a validation figure for a final model
trained on all the subjects (whose own training cannot score them).

A set of expressive peaks (CK+) holds no neutral face, so F1 alone may pick thresholds
that switch AUs on for most faces at rest. With a neutral cap, only thresholds at
which the final model keeps each AU off on all but that fraction of the validation
frames that raters labelled Neutral (each expression-labelled set on its own) compete.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from affectstream.core.errors import UserInputError
from affectstream.core.labels import ACTION_UNITS, au_any_labelled, expr_neutral
from affectstream.training.metrics import au_f1, au_firing_rate, json_float, p_mtl_score, tune_au_thresholds
from affectstream.core.temporal.checkpoint import load_checkpoint, save_checkpoint
from affectstream.training.stills import by_set_file, fold_dir, read_import_summary

if TYPE_CHECKING:
    from affectstream.core.features.store import FeatureStore
    from affectstream.core.temporal.checkpoint import LoadedModel
    from affectstream.training.dataset import VideoSequence


@dataclass(frozen=True)
class OutOfFold:
    """Pooled out-of-fold AU predictions' thresholds and F1 (per AU, and each fold at the pooled thresholds)."""

    thresholds: np.ndarray  # (12,)
    au_f1: np.ndarray  # (12,), at the thresholds, over all folds' frames
    frames: int
    folds: tuple[dict[str, Any], ...]
    cross_validation: dict[str, Any]  # per cross-validated set: its folds (the import's record, with subjects)
    neutral_cap: float | None = None  # the most a threshold may fire on neutral-labelled validation frames
    neutral_firing: dict[str, np.ndarray] = field(default_factory=dict)  # per set: (12,) at the thresholds
    neutral_frames: dict[str, int] = field(default_factory=dict)  # per expression-labelled set, 0s included
    uncapped_au_f1_mean: float = math.nan  # the pooled F1 the F1-best thresholds would have had
    uncapped_thresholds: np.ndarray | None = None  # (12,) those thresholds

    @property
    def au_f1_mean(self) -> float:
        return float(np.nanmean(self.au_f1)) if not np.all(np.isnan(self.au_f1)) else math.nan

    @property
    def rule(self) -> str:
        rule = ("per-AU F1-best threshold on the pooled out-of-fold predictions (an AU with F1 0 at every "
                "threshold: the largest)")
        if self.neutral_cap is None:
            return rule
        return (f"{rule}, among those that switch the AU on in at most {self.neutral_cap:g} of the final model's "
                "neutral-labelled validation frames of each expression-labelled set (where none does: those that "
                "fire least); among equal F1, the one that fires least there")

    def to_json(self) -> dict[str, Any]:
        capped = {} if self.neutral_cap is None else {
            "neutral_cap": self.neutral_cap, "neutral_frames": self.neutral_frames,
            "neutral_firing": {name: {au: json_float(v) for au, v in zip(ACTION_UNITS, rates)}
                               for name, rates in self.neutral_firing.items()},
            "au_f1_mean_uncapped": json_float(self.uncapped_au_f1_mean),
            "thresholds_uncapped": {au: float(t) for au, t in zip(ACTION_UNITS, self.uncapped_thresholds)}}
        return {"rule": self.rule, **capped,
                "frames": self.frames, "au_f1_mean": json_float(self.au_f1_mean),
                "au_f1_per_au": {au: json_float(v) for au, v in zip(ACTION_UNITS, self.au_f1)},
                "thresholds": {au: float(t) for au, t in zip(ACTION_UNITS, self.thresholds)},
                "folds": list(self.folds), "cross_validation": self.cross_validation}


def cross_validated_sets(data: str | Path) -> dict[str, dict[str, Any]]:
    """The import's cross-validated sets and their folds (``cross_validation`` of its summary.json)."""
    sets = read_import_summary(data).get("sets", [])
    found = {s["name"]: s["cross_validation"] for s in sets if isinstance(s, dict) and "cross_validation" in s}
    if not found:
        raise UserInputError(f"{data}: no cross-validated set (make the data with import-stills --cv-folds K)")
    return found


def neutral_validation_sequences(data: str | Path, store: FeatureStore,
                                 feature_names: Sequence[str]) -> dict[str, list[VideoSequence]]:
    """Per expression-labelled set of the import with a validation split (``by_set/<set>_val.txt``): its
    validation videos (features joined) that hold a frame labelled Neutral; [] for a set with none."""
    from affectstream.training.dataset import load_split

    found = {}
    for info in read_import_summary(data).get("sets", []):
        path = by_set_file(data, info.get("name"), "val")
        if "expression" in info.get("real_labels", []) and path.is_file():
            found[info["name"]] = [s for s in load_split(path, store, feature_names)[0] if expr_neutral(s.expr).any()]
    return found


def neutral_validation_frames(model: LoadedModel, sequences: dict[str, list[VideoSequence]]) -> dict[str, np.ndarray]:
    """``model``'s AU probabilities on the frames labelled Neutral of each set's sequences."""
    from affectstream.training.loop import neutral_au_probs, run_validation

    return {name: neutral_au_probs(run_validation(model.model, seqs, model.meta.seq_len, model.meta.carry_state))
            for name, seqs in sequences.items() if seqs}


def _neutral_sets(data: str | Path, store: FeatureStore, feature_names: Sequence[str], neutral_cap: float | None,
                  cap_required: bool, log: Callable[[str], None]
                  ) -> tuple[float | None, dict[str, list[VideoSequence]], dict[str, int]]:
    """The cap that applies, the sequences it applies to and every expression-labelled set's count of Neutral
    frames: found before any model runs, so a cap that cannot apply fails at once."""
    if neutral_cap is None:
        return None, {}, {}
    sequences = neutral_validation_sequences(data, store, feature_names)
    counts = {name: sum(int(expr_neutral(s.expr).sum()) for s in seqs) for name, seqs in sequences.items()}
    for name in (n for n, count in counts.items() if not count):
        log(f"  {name}: no validation frame labelled Neutral; it takes no part in the neutral cap")
    if not any(counts.values()):
        message = f"{data}: no validation frame labelled Neutral in an expression-labelled set"
        if cap_required:
            raise UserInputError(f"{message}, so the neutral cap cannot be applied (import one, or give --neutral-cap 1)")
        log(f"  {message}: thresholds tuned without the neutral cap")
        return None, {}, counts
    return neutral_cap, sequences, counts


def out_of_fold(fold_models: Sequence[str], data: str | Path, final_model: str | Path,
                log: Callable[[str], None] = print, neutral_cap: float | None = None,
                cap_required: bool = True) -> OutOfFold:
    """Run fold k's model on fold k's validation subjects of the cross-validated sets for every k, pool their
    AU-labelled frames, tune thresholds (for ``final_model``, whose features and folds the fold models share);
    with ``neutral_cap``, only among thresholds that keep each AU quiet on the final model's neutral-labelled
    validation frames (see the module's docstring). An import without such frames is refused, or, unless
    ``cap_required``, tuned without the cap (and said so)."""
    from affectstream.core.features.store import FeatureStore
    from affectstream.core.temporal.checkpoint import read_meta
    from affectstream.training.dataset import load_split
    from affectstream.training.loop import run_validation
    from affectstream.training.merge_run import feature_difference

    sets = cross_validated_sets(data)
    folds = next(iter(sets.values()))["folds"]  # one --cv-folds for every set of an import
    if len(fold_models) != folds:
        raise UserInputError(f"{data} has {folds} folds but {len(fold_models)} fold model(s) were given; "
                             "give fold 1's model first, one per fold")
    final = read_meta(final_model)
    _require_folds(final_model, final.provenance, sets, None)
    store = FeatureStore(Path(data) / "features")
    neutral_cap, neutral_sequences, neutral_counts = _neutral_sets(data, store, final.feature_names, neutral_cap,
                                                                   cap_required, log)
    probs, truth, report = [], [], []
    for k, path in enumerate(fold_models, start=1):
        loaded = load_checkpoint(path)
        _require_folds(path, loaded.meta.provenance, sets, k)
        difference = feature_difference(final.features, loaded.meta.features)
        if difference:
            raise UserInputError(f"{path}: its features differ from {final_model}'s ({difference})")
        # Only the cross-validated sets' own fold: the other sets' validation frames are in every fold.
        files = [by_set_file(Path(data) / fold_dir(k), name, "val") for name in sets]
        sequences = [seq for file in files for seq in load_split(file, store, loaded.meta.feature_names)[0]]
        val = run_validation(loaded.model, sequences, loaded.meta.seq_len, loaded.meta.carry_state)
        keep = au_any_labelled(val.au_true)
        if not keep.any():
            raise UserInputError(f"{', '.join(map(str, files))}: no frame with AU labels (fold {k})")
        probs.append(val.au_probs[keep])
        truth.append(val.au_true[keep])
        report.append({"fold": k, "model": str(path), "videos": len(sequences), "frames": int(keep.sum())})
    pooled_p, pooled_t = np.concatenate(probs), np.concatenate(truth)
    uncapped = tune_au_thresholds(pooled_p, pooled_t)
    # The final model runs only where there are neutral frames to run it on.
    neutral = neutral_validation_frames(load_checkpoint(final_model), neutral_sequences) if neutral_sequences else {}
    thresholds = tune_au_thresholds(pooled_p, pooled_t, quiet=list(neutral.values()), max_quiet_rate=neutral_cap)
    for entry, p, t in zip(report, probs, truth):
        entry["au_f1_mean"] = json_float(float(np.nanmean(au_f1(p >= thresholds, t))))
        log(f"  fold {entry['fold']}: {entry['frames']} AU-labelled frames, mean AU F1 {entry['au_f1_mean']:.3f} "
            f"at the pooled thresholds")
    return OutOfFold(thresholds, au_f1(pooled_p >= thresholds, pooled_t), len(pooled_t), tuple(report), sets,
                     neutral_cap, {name: au_firing_rate(p, thresholds) for name, p in neutral.items()},
                     neutral_counts, float(np.nanmean(au_f1(pooled_p >= uncapped, pooled_t))), uncapped)


def apply_to_model(model: str | Path, result: OutOfFold, out: str | Path | None = None) -> Path:
    """Store the thresholds in a model (trained on all the folds' subjects), and its out-of-fold AU figures in
    the validation metrics its provenance shows (P_MTL recomputed with them), atomically."""
    loaded = load_checkpoint(model)
    meta = loaded.meta
    meta.au_thresholds = np.asarray(result.thresholds, dtype=np.float64)
    provenance = dict(meta.provenance) | {"au_cross_validation": result.to_json()}
    for key in ("val_metrics_raw", "val_metrics_smoothed"):
        if isinstance(provenance.get(key), dict):
            provenance[key] = with_out_of_fold_au(provenance[key], result)
    meta.provenance = provenance
    return save_checkpoint(Path(out) if out else Path(model), loaded.model, meta)


def with_out_of_fold_au(metrics: dict[str, Any], result: OutOfFold) -> dict[str, Any]:
    """Validation metrics whose AU part is the out-of-fold one, P_MTL recomputed from its three parts."""
    au = result.au_f1_mean
    counts = dict(metrics.get("counts") or {}) | {"au": result.frames}
    p_mtl = p_mtl_score(metrics.get("ccc_valence"), metrics.get("ccc_arousal"), metrics.get("expr_f1"), au)
    return metrics | {"counts": counts, "au_f1_per_au": {a: json_float(v) for a, v in zip(ACTION_UNITS, result.au_f1)},
                      "au_f1_mean": json_float(au), "p_mtl": p_mtl,
                      "au_from": f"out-of-fold predictions of {len(result.folds)} fold models ({result.frames} frames)"}


def _require_folds(path: str | Path, provenance: dict[str, Any], sets: dict[str, Any], fold: int | None) -> None:
    """A fold model must come from fold ``fold`` of these very folds, the final model from their top level:
    a model from another import's folds has seen subjects it would be scored on."""
    data = provenance.get("data") if isinstance(provenance.get("data"), dict) else {}
    trained = {s.get("name"): s.get("cross_validation") for s in data.get("sets", []) if isinstance(s, dict)}
    where = f"fold {fold}" if fold else "the top level (all folds' subjects)"
    if any(trained.get(name) != record for name, record in sets.items()) or data.get("fold") != fold:
        raise UserInputError(f"{path} was not trained on {where} of these folds (its provenance: fold "
                             f"{data.get('fold')}, folds {'recorded' if any(trained.values()) else 'not recorded'}); "
                             "give the fold models in fold order, from this import")

