"""`affectstream merge-models`: trained models as one checkpoint (their mean), its thresholds and smoothing chosen again.

The members are merged (affectstream.core.temporal.merge), then scored beside each
member on the validation split, which is what the choice to ship the merge rests
on; the AU thresholds are tuned on that split and the valence/arousal filters are
chosen by the same rule `train` uses, and all of it is stored in the checkpoint.

The output folder holds only ``best.safetensors``, whose provenance names what was merged (``merged_from``): that
is how a merge is known as one. A merge is written over a merge only (the same command run again finishes one that
stopped), never over a train run's folder or another command's model, and one command at a time writes there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from affectstream.core.errors import UserInputError
from affectstream.core.filter_config import ChosenSmoothing
from affectstream.core.atomic import check_inputs_kept, check_writable_dir, not_ours, output_folder_lock, written_file
from affectstream.core.temporal.checkpoint import UNFINISHED_KEY, LoadedModel, ModelMeta, load_checkpoint, save_checkpoint
from affectstream.core.temporal.merge import merge_models
from affectstream.core.temporal.multitask import MultiTaskModel
from affectstream.training.dataset import VideoSequence
from affectstream.training.dataset import load_split
from affectstream.training.evaluation import require_neutral_frames
from affectstream.training.loop import (BEST_FILE, RUN_FILES, TrainResult, check_neutral_cap,
                                       check_smoothing_settings, check_smoothing_videos, finalize, model_origin,
                                       run_validation, score_validation, tune_thresholds)


@dataclass(frozen=True)
class MergeOptions:
    members: tuple[str, ...]
    val_annotations: str
    features: str
    out: str
    name: str = ""  # default: the first member's
    max_lag_ms: float = 150.0
    smoothing_videos: tuple[str, ...] = ()
    smoothing_rule: str = "lag"  # as `train`'s default; "ccc" would favour no smoothing on held stills
    au_neutral_cap: float | None = None  # as `train --au-neutral-cap`

    def __post_init__(self) -> None:
        check_smoothing_settings(self)
        check_neutral_cap(self.au_neutral_cap)


# In the provenance of a merge saved before its smoothing was chosen; finalize removes it.
UNFINISHED_MERGE = ("its merge stopped before smoothing was chosen (no valence/arousal smoothing): run the "
                    "merge-models command again to finish it")


def merge_run(options: MergeOptions, log: Callable[[str], None] = print) -> TrainResult:
    from affectstream.core.features.store import FeatureStore

    check_writable_dir(options.out)  # before any model is loaded or scored
    # The merge is the only file written: a member at <out>/best.safetensors would be replaced by it.
    check_inputs_kept({"checkpoint": options.members, "--val": options.val_annotations, "--features": options.features,
                       "--smoothing-videos": options.smoothing_videos}, [written_file("--out", options.out, BEST_FILE)])
    check_own_merge(Path(options.out))
    check_smoothing_videos(options.smoothing_videos)
    loaded = [load_checkpoint(path) for path in options.members]
    first = loaded[0].meta
    for path, member in zip(options.members[1:], loaded[1:]):
        meta = member.meta
        difference = feature_difference(first.features, meta.features)
        if difference:
            raise UserInputError(f"{path}: its features differ from {options.members[0]}'s ({difference}); "
                                 "only models trained on the same features, in the same order, can be merged")
        if (meta.seq_len, meta.carry_state, meta.post.fps) != (first.seq_len, first.carry_state, first.post.fps):
            raise UserInputError(f"{path}: segment length, state carrying or frame rate differ from "
                                 f"{options.members[0]}'s")
    merged = merge_models([m.model for m in loaded])
    store = FeatureStore(Path(options.features))
    val_seqs, report = load_split(options.val_annotations, store, first.feature_names)
    if not val_seqs:
        raise UserInputError(f"{options.val_annotations}: no labelled frame with features")
    log(f"validation: {report.summary()}")
    if options.au_neutral_cap is not None:
        require_neutral_frames((seq.expr for seq in val_seqs), options.val_annotations)
    # Held until the merge is final; what is there is looked at again under the lock.
    with output_folder_lock(options.out) as out:
        check_own_merge(out)
        return _merge_and_finish(options, out, loaded, merged, val_seqs, log)


def check_own_merge(out: Path) -> None:
    """Refuse an --out holding what merge-models did not write: a train run (its options, resume point or history
    beside its model), or a best.safetensors that is no merge (a train run's model, another file)."""
    run_files = [name for name in RUN_FILES if name != BEST_FILE and (out / name).exists()]
    if run_files:
        raise not_ours("--out", out, f"a train run ({', '.join(run_files)})", "merge-models")
    best = out / BEST_FILE
    origin = model_origin(best) if best.exists() else "merge-models"
    if origin != "merge-models":
        what = "a train run's model" if origin == "train" else "a file that is no merge-models output"
        raise not_ours("--out", out, f"{what} ({BEST_FILE})", "merge-models")


def _merge_and_finish(options: MergeOptions, out: Path, loaded: Sequence[LoadedModel], merged: MultiTaskModel,
                      val_seqs: Sequence[VideoSequence], log: Callable[[str], None]) -> TrainResult:
    """Each member and the merge scored on validation; the merge saved with its thresholds, then its smoothing."""
    first = loaded[0].meta
    scores = []
    for path, member in zip(options.members, loaded):
        val = run_validation(member.model, val_seqs, first.seq_len, first.carry_state)
        metrics = score_validation(val, tune_thresholds(val, options.au_neutral_cap))
        scores.append({"model": str(path), "val_metrics_raw": metrics.to_json()})
        log(f"  {path}: {_line(metrics)}")
    val = run_validation(merged, val_seqs, first.seq_len, first.carry_state)
    thresholds = tune_thresholds(val, options.au_neutral_cap)
    metrics = score_validation(val, thresholds)
    log(f"  merged: {_line(metrics)}")
    meta = ModelMeta(
        name=options.name or first.name, model_config=merged.config, features=first.features,
        seq_len=first.seq_len, carry_state=first.carry_state, au_thresholds=thresholds,
        post=ChosenSmoothing(fps=first.post.fps),
        # The first member's data and labels note hold for all (same features, same store); its epoch does not.
        provenance={k: v for k, v in first.provenance.items() if k != "epoch"} | {
            "merged_from": scores, "val_annotations": options.val_annotations, "val_metrics_raw": metrics.to_json(),
            "au_neutral_cap": options.au_neutral_cap, UNFINISHED_KEY: UNFINISHED_MERGE},
    )
    save_checkpoint(out / BEST_FILE, merged, meta)
    return finalize(out, val_seqs, options, log=log)


def _line(metrics) -> str:
    return (f"val P_MTL {metrics.p_mtl:.4f} (CCC {(metrics.ccc_valence + metrics.ccc_arousal) / 2:.3f}, "
            f"expr F1 {metrics.expr_f1:.3f}, AU F1 {metrics.au_f1_mean:.3f})")


def member_paths(paths: Sequence[str]) -> tuple[str, ...]:
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise UserInputError(f"checkpoint not found: {missing[0]}")
    if len(paths) < 2:
        raise UserInputError("merge-models needs at least two checkpoints")
    resolved = [Path(p).resolve() for p in paths]
    twice = next((p for k, p in enumerate(paths) if resolved[k] in resolved[:k]), None)
    if twice is not None:  # one model counted twice would weigh double in the mean
        raise UserInputError(f"{twice} is given twice; each model can be a member once")
    return tuple(paths)


def feature_difference(first, other) -> str | None:
    """Why two models' features are not the same computation, or None when they are."""
    if [f.name for f in first] != [f.name for f in other]:
        return f"{', '.join(f.name for f in other)} against {', '.join(f.name for f in first)}"
    return next((why for a, b in zip(first, other) if (why := a.differs_from(b))), None)
