"""Training a multi-task temporal model: epochs, validation by P_MTL, resumable runs.

An output folder holds:
  options.json       the options the run was started with (a resume must match), marked with TRAIN_RUN_FORMAT:
                     what tells a train run from a folder another command wrote (never replaced, resumed or cleared)
  data.json          what the run learns from: the annotation files' SHA-256, the features' specs and files
  last.pt            model + optimizer + history after the last finished epoch (resume point)
  best.safetensors   the best model by validation P_MTL, with thresholds and smoothing
  history.json/.csv  per-epoch metrics; curves.png their plot
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import torch

from affectstream.core.atomic import (OutputPathError, atomic_write, check_inputs_kept, check_writable_dir, cleared_folder,
                                 not_ours, output_folder_lock, read_json_object, write_text_atomic, written_file)
from affectstream.core.filter_config import ChosenSmoothing
from affectstream.core.temporal.checkpoint import (UNFINISHED_KEY, UNFINISHED_NOTE, ModelMeta, load_checkpoint,
                                              save_checkpoint)
from affectstream.core.digest import file_fingerprint, file_sha256
from affectstream.core.errors import UserInputError
from affectstream.core.labels import ACTION_UNITS, expr_neutral
from affectstream.core.features.store import FeatureSpec, FeatureStore
from affectstream.core.temporal.inference import predict_sequence
from affectstream.training.metrics import mtl_metrics, tune_au_thresholds_on_labels
from affectstream.core.temporal.config import ModelConfig, make_encoder_config
from affectstream.core.temporal.multitask import MultiTaskModel
from affectstream.core.filter_config import causal_config_to_json
from affectstream.training.filter_choice import choose_causal, choose_window
from affectstream.core.post.smoothing import centered_moving_average
from affectstream.training.evaluation import require_neutral_frames
from affectstream.training.dataset import (JoinReport, VideoSequence, collate, epoch_plan, feature_statistics,
                                           load_split)
from affectstream.training.loss import LossConfig, multitask_loss
from affectstream.training.plots import plot_training_curves

SMOOTHING_RULES = ("lag", "ccc")
DATA_SUMMARY = "summary.json"  # written by `affectstream import-stills` beside its annotation files
BEST_FILE = "best.safetensors"
LAST_FILE = "last.pt"
OPTIONS_FILE = "options.json"
DATA_FILE = "data.json"  # what a run learns from and is selected on: annotation files' SHA-256, the features
RESULT_FILES = (LAST_FILE, BEST_FILE, "history.json", "history.csv", "curves.png")  # what --restart deletes
RUN_FILES = (OPTIONS_FILE, DATA_FILE, *RESULT_FILES)  # every file a train run writes into its folder
TRAIN_RUN_FORMAT = "affectstream-train-run"  # options.json's "format": the folder is a train run's


def check_some_loss_weight(loss: LossConfig) -> None:
    """At least one task's loss counts: with every weight 0 no step changes the model, yet a run would
    save its untrained weights as the best."""
    weights = (loss.alpha, loss.beta, loss.gamma, loss.delta)
    if not any(weight > 0 for weight in weights):
        raise UserInputError("--loss-weights must not all be 0 (nothing would be trained), got "
                             + " ".join(f"{weight:g}" for weight in weights))


@dataclass(frozen=True)
class TrainOptions:
    """Everything that defines a training run. Defaults follow the paper."""

    train_annotations: str
    val_annotations: str
    features: str
    backbones: tuple[str, ...]
    out: str
    encoder: str = "gru"
    hidden: int | None = None  # GRU/LSTM/MLP hidden size, Transformer d_model; None = the config default
    layers: int | None = None
    dropout: float = 0.3
    input_dropout: float = 0.0
    framework: str = "basic"
    top_layers: int = 1
    feedback_source: str = "au"
    feedback_target: str = "expr"
    seq_len: int = 250
    carry_state: bool = True  # False: recurrent state reset at every segment (ablation)
    batch_size: int = 8
    epochs: int = 50
    lr: float = 5e-5
    weight_decay: float = 0.0
    grad_clip: float = 0.0
    seed: int = 0
    loss: LossConfig = LossConfig()
    fps: float = 30.0
    name: str = ""
    # Where the labels came from (real or weak), kept in the checkpoint for the app and the card;
    # empty: taken from the import's summary.json beside the training annotations, when there is one.
    labels_note: str = ""
    adam_beta1: float = 0.9
    # VA filters: "lag" = the strongest whose step-response lag is <= max_lag_ms (jitter measured on
    # smoothing_videos when given, else on validation); "ccc" = the best validation CCC.
    smoothing_rule: str = "lag"
    max_lag_ms: float = 150.0
    smoothing_videos: tuple[str, ...] = ()
    # "auto": each AU's positives weighted sqrt(negatives / positives) on the training frames (rare AUs of a
    # small AU set are otherwise learned as "always off"); "": no weighting (or loss.au_pos_weight as given).
    au_pos_weight: str = ""
    # Each epoch's AU thresholds may switch an AU on for at most this share of the validation frames labelled
    # Neutral (where any threshold can): a set of expressive peaks such as CK+ shows F1 no face at rest.
    au_neutral_cap: float | None = None

    def __post_init__(self) -> None:
        # Checked before the run folder is made: a bad value must not leave a run behind.
        for name, value in (("learning rate", self.lr), ("fps", self.fps)):
            if not (math.isfinite(value) and value > 0):
                raise UserInputError(f"{name} must be > 0, got {value}")
        for name, value in (("weight decay", self.weight_decay), ("gradient clip", self.grad_clip)):
            if not (math.isfinite(value) and value >= 0):
                raise UserInputError(f"{name} must be >= 0, got {value}")
        check_smoothing_settings(self)
        if not 0.0 <= self.adam_beta1 < 1.0:
            raise UserInputError(f"Adam beta1 must be in [0, 1), got {self.adam_beta1}")
        if self.au_pos_weight not in ("", "auto"):
            raise UserInputError(f"au_pos_weight must be '' or 'auto', got {self.au_pos_weight!r}")
        check_neutral_cap(self.au_neutral_cap)
        check_some_loss_weight(self.loss)
        check_model_options(self)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["backbones"] = list(self.backbones)
        data["smoothing_videos"] = list(self.smoothing_videos)
        data["loss"] = self.loss.to_json()
        return data

    @staticmethod
    def from_json(data: dict[str, Any]) -> "TrainOptions":
        data = dict(data)
        data["backbones"] = tuple(data["backbones"])
        data["smoothing_videos"] = tuple(data.get("smoothing_videos", ()))
        data["loss"] = LossConfig.from_json(data["loss"])
        return TrainOptions(**data)

    def model_config(self, input_dim: int) -> ModelConfig:
        overrides: dict[str, Any] = {"dropout": self.dropout}
        if self.hidden is not None:
            overrides["d_model" if self.encoder == "transformer" else "hidden_size"] = self.hidden
        if self.layers is not None:
            overrides["num_layers"] = self.layers
        return ModelConfig(
            input_dim=input_dim,
            encoder=make_encoder_config(self.encoder, **overrides),
            framework=self.framework,
            top_layers=self.top_layers,
            feedback_source=self.feedback_source,
            feedback_target=self.feedback_target,
            head_dropout=self.dropout,
            input_dropout=self.input_dropout,
        )

    def run_name(self) -> str:
        if self.name:
            return self.name
        name = f"{self.encoder}-{self.framework}"
        if not self.carry_state and self.encoder in ("gru", "lstm"):
            name += "-no-carry"
        if self.framework == "feedback":
            name += f"-{self.feedback_source}-to-{self.feedback_target}"
        return name


def check_model_options(options: TrainOptions) -> None:
    """The model options make a model (a size of 0 or a dropout of 1 do not): checked with the options, so that
    a bad one leaves no run folder behind."""
    for name, value in (("dropout", options.dropout), ("input dropout", options.input_dropout)):
        if not 0.0 <= value < 1.0:
            raise UserInputError(f"{name} must be from 0 to below 1, got {value}")
    try:
        options.model_config(input_dim=1)
    except UserInputError as exc:
        raise UserInputError(f"model options: {exc}") from None


@dataclass
class TrainResult:
    best_path: Path
    best_epoch: int
    best_score: float
    history: list[dict[str, Any]] = field(default_factory=list)
    val_metrics: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------
# One epoch and validation
# ---------------------------------------------------------------------------


def _epoch_seed(seed: int, epoch: int) -> int:
    # One seed per epoch, so a resumed run repeats exactly what an uninterrupted one does.
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def train_epoch(
    model: MultiTaskModel,
    optimizer: torch.optim.Optimizer,
    sequences: Sequence[VideoSequence],
    options: TrainOptions,
    epoch: int,
    progress: bool = True,
) -> dict[str, float]:
    seed = _epoch_seed(options.seed, epoch)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    carry = model.is_recurrent and options.carry_state
    plan = epoch_plan(sequences, options.seq_len, options.batch_size, carry, rng)
    model.train()
    totals = {"loss": 0.0, "valence": 0.0, "arousal": 0.0, "expr": 0.0, "au": 0.0}
    frames = 0
    state = model.init_state(options.batch_size) if carry else None
    bar = _progress(plan, progress, f"epoch {epoch + 1}/{options.epochs}")
    for step in bar:
        batch = collate(sequences, step, options.seq_len)
        x = torch.from_numpy(batch.features)
        mask = torch.from_numpy(batch.mask)
        if carry:
            # Lanes that start a new video start from zero; the rest carry the
            # previous segment's state, detached (truncated backpropagation).
            state = model.reset_state(model.detach_state(state), torch.from_numpy(batch.reset))
        out = model(x, state, mask)
        if carry:
            state = out.state
        terms = multitask_loss(
            out,
            torch.from_numpy(batch.va),
            torch.from_numpy(batch.expr),
            torch.from_numpy(batch.au),
            options.loss,
        )
        optimizer.zero_grad(set_to_none=True)
        terms.total.backward()
        if options.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), options.grad_clip)
        optimizer.step()
        n = int(batch.mask.sum())
        frames += n
        for key, value in (("loss", terms.total), ("valence", terms.valence), ("arousal", terms.arousal),
                           ("expr", terms.expr), ("au", terms.au)):
            totals[key] += float(value.detach()) * n
        if progress:
            bar.set_postfix(loss=f"{float(terms.total.detach()):.4f}")
    return {key: value / max(frames, 1) for key, value in totals.items()} | {"frames": frames}


def _progress(items, enabled: bool, desc: str):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="batch", leave=False, dynamic_ncols=True)


@dataclass
class Validation:
    """Concatenated validation predictions and labels, plus per-video VA for smoothing."""

    va_pred: list[np.ndarray]
    expr_probs: np.ndarray
    au_probs: np.ndarray
    va_true: list[np.ndarray]
    expr_true: np.ndarray
    au_true: np.ndarray


def run_validation(
    model: MultiTaskModel, sequences: Sequence[VideoSequence], seq_len: int, carry_state: bool = True
) -> Validation:
    preds = [predict_sequence(model, seq.features, seq_len, carry_state) for seq in sequences]
    return Validation(
        va_pred=[p.va for p in preds],
        expr_probs=np.concatenate([p.expr_probs for p in preds]),
        au_probs=np.concatenate([p.au_probs for p in preds]),
        va_true=[seq.va for seq in sequences],
        expr_true=np.concatenate([seq.expr for seq in sequences]),
        au_true=np.concatenate([seq.au for seq in sequences]),
    )


def neutral_au_probs(val: Validation) -> np.ndarray:
    """The AU probabilities of the validation frames labelled Neutral."""
    return val.au_probs[expr_neutral(val.expr_true)]


def tune_thresholds(val: Validation, neutral_cap: float | None) -> np.ndarray:
    """Per AU the F1-best threshold on validation, capped on its Neutral frames when asked."""
    return tune_au_thresholds_on_labels(val.au_probs, val.au_true, val.expr_true, neutral_cap)


def score_validation(val: Validation, thresholds: np.ndarray, window: int = 1):
    va = np.concatenate([centered_moving_average(v, window) if window > 1 else v for v in val.va_pred])
    return mtl_metrics(va, val.expr_probs, val.au_probs, np.concatenate(val.va_true), val.expr_true, val.au_true, thresholds)


# ---------------------------------------------------------------------------
# Checkpoints of the run
# ---------------------------------------------------------------------------


def _save_last(path: Path, model, optimizer, epoch: int, best_score: float, best_epoch: int,
               history: list[dict[str, Any]]) -> None:
    # Only tensors, numbers and strings: loadable with torch.load(weights_only=True).
    payload = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": epoch,
        "best_score": best_score,
        "best_epoch": best_epoch,
        "history": json.dumps(history),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_write(path) as handle:
        handle.write(buffer.getvalue())


def _load_last(path: Path) -> dict[str, Any]:
    from affectstream.training.resume_file import load_resume_state

    return load_resume_state(path, "use --restart to start over")

# The curves PNG is drawn after a run's first and last epochs and at most this often between them: a drawing
# costs about half a second, more than a small data set's whole epoch (27% of `bench synthetic`'s time).
CURVES_EVERY_S = 30.0


def _write_history(out: Path, history: list[dict[str, Any]], title: str, curves: bool = True) -> None:
    write_text_atomic(out / "history.json", json.dumps(history, indent=2) + "\n")
    if history:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
        write_text_atomic(out / "history.csv", buffer.getvalue())
        if curves:
            plot_training_curves(history, out / "curves.png", title)


PATH_OPTIONS = ("train_annotations", "val_annotations", "features")


def _comparable(options: TrainOptions) -> dict[str, Any]:
    """The options that define a run, in a canonical form: paths resolved; the run folder itself and the
    number of epochs left out (a moved run, or one given more epochs, is the same run)."""
    data = options.to_json()
    for key in PATH_OPTIONS:
        data[key] = str(Path(data[key]).expanduser().resolve())
    # Nor the smoothing settings: they act after the last epoch, so a run stopped there can finish with others.
    for key in ("out", "epochs", "smoothing_rule", "max_lag_ms", "smoothing_videos"):
        data.pop(key)
    loss = data.pop("loss")
    return data | {f"loss.{k}": v for k, v in loss.items()}


NOT_KNOWN = "not known as a train run's: it is neither resumed nor replaced; choose another --out"


def _read_saved_options(path: Path) -> TrainOptions:
    try:
        data = json.loads(path.read_text())
        # A run from before the format was recorded has none; another command's options.json has another.
        if not isinstance(data, dict) or data.pop("format", TRAIN_RUN_FORMAT) != TRAIN_RUN_FORMAT:
            raise ValueError("not the options of a train run")
        return TrainOptions.from_json(data)
    except FileNotFoundError:
        raise UserInputError(f"{path} is missing, so its folder is {NOT_KNOWN}") from None
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise UserInputError(f"{path}: unreadable run options ({type(exc).__name__}: {exc}); its folder is "
                             f"{NOT_KNOWN}") from None


def _write_options(path: Path, options: TrainOptions) -> None:
    write_text_atomic(path, json.dumps({"format": TRAIN_RUN_FORMAT} | options.to_json(), indent=2) + "\n")


def model_origin(path: Path) -> str:
    """Which command wrote the model file: "train", "merge-models", or "" (another file, or unreadable)."""
    from affectstream.core.temporal.checkpoint import read_meta

    try:
        provenance = read_meta(path).provenance
    except UserInputError:
        return ""
    if "merged_from" in provenance:  # what merge_run records
        return "merge-models"
    return "train" if isinstance(provenance.get("options"), dict) else ""


def check_own_run(out: Path) -> None:
    """Refuse an --out holding files at a train run's names that no train run wrote there: train resumes, adds to
    or (with --restart) clears its own runs only, never a merge-models output or another command's files."""
    present = [name for name in RUN_FILES if (out / name).exists()]
    if not present:
        return
    best = out / BEST_FILE
    origin = model_origin(best) if best.exists() else None  # None: no model there (its header is read once)
    if origin == "merge-models":
        raise not_ours("--out", out, f"a merge-models output ({best.name})", "train")
    if not (out / OPTIONS_FILE).exists():
        raise OutputPathError(f"--out {out} holds {', '.join(present)} but its {OPTIONS_FILE} is missing, so it is "
                              f"{NOT_KNOWN}")
    _read_saved_options(out / OPTIONS_FILE)
    if origin not in (None, "train"):
        raise not_ours("--out", out, f"a {best.name} that is no train run's model", "train")


@dataclass(frozen=True)
class SplitData:
    """A split's labelled sequences and what joining its labels with features kept and dropped."""

    sequences: list[VideoSequence]
    report: JoinReport

    def videos(self) -> list[str]:
        """Every video of the split, those without a usable frame included (their feature files were read too)."""
        return [s.video for s in self.sequences] + list(self.report.videos_without_features)


def data_record(options: TrainOptions, store: FeatureStore, specs: Sequence[FeatureSpec],
                videos: Sequence[str]) -> dict[str, Any]:
    """What the run learns from: the annotation files' SHA-256, and per backbone its spec and the fingerprint of
    each video's feature file (a store extracted again, or replaced, under the same path is another data set)."""
    record: dict[str, Any] = {key: file_sha256(getattr(options, key)) for key in ("train_annotations", "val_annotations")}
    record["features"] = {spec.name: {"spec": spec.identity(), "videos": {
        video: file_fingerprint(store.video_path(spec.name, video)) for video in sorted(set(videos))}}
        for spec in specs}
    return record


def _features_change(before: Any, now: dict[str, Any]) -> str:
    """The first difference between the recorded features and these, in words ("" when none, or none recorded: a
    run from before they were recorded is resumed as before)."""
    if not isinstance(before, dict):
        return ""
    for name, mine in now.items():
        theirs = before.get(name)
        if not isinstance(theirs, dict):
            return f"backbone {name} was not recorded"
        if theirs.get("spec") != mine["spec"]:
            return f"the {name} spec differs"
        old = theirs.get("videos") or {}
        for video, fingerprint in mine["videos"].items():
            if old.get(video) != fingerprint:
                return f"{name}/{video}.npz is " + ("another file" if video in old else "new")
        gone = sorted(set(old) - set(mine["videos"]))
        if gone:
            return f"{name}/{gone[0]}.npz is no longer used"
    return ""


def _check_same_data(options: TrainOptions, out: Path, data: dict[str, Any]) -> None:
    """The same paths with other contents would make one model of two data sets (a run from before this record
    has none, and is resumed as before)."""
    recorded = read_json_object(out / DATA_FILE)
    if recorded is None:
        return
    remedy = "pass --restart to train on it afresh or choose another --out"
    changed = [key for key in ("train_annotations", "val_annotations") if recorded.get(key) not in (None, data[key])]
    if changed:
        raise UserInputError(f"{', '.join(str(getattr(options, key)) for key in changed)}: changed since {out}'s "
                             f"run started (see {out / DATA_FILE}); {remedy}")
    change = _features_change(recorded.get("features"), data["features"])
    if change:
        raise UserInputError(f"--features {options.features}: changed since {out}'s run started ({change}; see "
                             f"{out / DATA_FILE}); {remedy}")


def check_run_inputs_kept(options: TrainOptions, restart: bool) -> None:
    """Neither a file of the run nor, with ``restart``, the run folder it discards may be (or hold) an input."""
    outputs = [written_file("--out", options.out, name) for name in RUN_FILES]
    if restart:
        outputs.append(cleared_folder("--out", options.out, "--restart discards the run there"))
    check_inputs_kept({"--train": options.train_annotations, "--val": options.val_annotations,
                       "--features": options.features, "--smoothing-videos": options.smoothing_videos}, outputs)


def _prepare_out(options: TrainOptions, out: Path, restart: bool, data: dict[str, Any]) -> bool:
    """Whether the run in ``out`` is resumed; with ``restart`` its results are cleared. Under the run's lock:
    what is there is looked at again (another command may have written there while the data was read)."""
    check_own_run(out)
    saved = out / OPTIONS_FILE
    resume = (out / LAST_FILE).is_file() and not restart
    if resume:
        before, now = _comparable(_read_saved_options(saved)), _comparable(options)
        differing = [key for key in now if before.get(key) != now[key]]
        if differing:
            shown = "; ".join(f"{key}: {before.get(key)!r} then, {now[key]!r} now" for key in differing[:3])
            raise UserInputError(
                f"{out} holds a run with other options ({shown}; see {saved}); pass --restart to overwrite it "
                "or choose another --out")
        _check_same_data(options, out, data)
    elif restart:
        for name in RESULT_FILES:
            (out / name).unlink(missing_ok=True)
    _write_options(saved, options)
    write_text_atomic(out / DATA_FILE, json.dumps(data, indent=2) + "\n")
    return resume


MAX_POS_WEIGHT = 10.0


def balanced_au_pos_weight(sequences: Sequence[VideoSequence]) -> tuple[float, ...]:
    """sqrt(negatives / positives) per AU over the frames where it is labelled (1 where it has none), capped."""
    au = np.concatenate([s.au for s in sequences]) if sequences else np.zeros((0, 12))
    pos, neg = (au == 1).sum(axis=0), (au == 0).sum(axis=0)
    weight = np.where(pos > 0, np.sqrt(neg / np.maximum(pos, 1)), 1.0)
    return tuple(float(w) for w in np.clip(weight, 1.0 / MAX_POS_WEIGHT, MAX_POS_WEIGHT))


def _require_labels(sequences: Sequence[VideoSequence], path: str) -> None:
    """A split whose every label is missing (-5 / -1) cannot train or select anything."""
    if not any(np.any(s.va[:, 0] != -5) or np.any(s.expr >= 0) or np.any(s.au >= 0) for s in sequences):
        raise UserInputError(f"{path}: every valence/arousal, expression and AU label is missing (-5 / -1) on the "
                             "frames with features: nothing to learn or score")


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------


def train(
    options: TrainOptions,
    restart: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> TrainResult:
    if options.epochs < 1 or options.batch_size < 1 or options.seq_len < 1:
        raise UserInputError("epochs, batch size and segment length must be at least 1")
    check_writable_dir(options.out)  # before the data is read, not after (made once the data is good)
    check_run_inputs_kept(options, restart)
    check_own_run(Path(options.out))  # another command's folder is refused before the data is read
    check_smoothing_videos(options.smoothing_videos)
    warn_if_validation_is_training(options, log)
    store = FeatureStore(Path(options.features))
    specs = store.specs(options.backbones)
    check_smoothing_features(options, specs)
    train_seqs, train_report = load_split(options.train_annotations, store, options.backbones)
    val_seqs, val_report = load_split(options.val_annotations, store, options.backbones)
    log(f"train: {train_report.summary()}")
    log(f"validation: {val_report.summary()}")
    if not train_seqs or not val_seqs:
        raise UserInputError("no labelled frame with features in the training or the validation split")
    _require_labels(train_seqs, options.train_annotations)
    _require_labels(val_seqs, options.val_annotations)
    if options.au_neutral_cap is not None:
        require_neutral_frames((seq.expr for seq in val_seqs), options.val_annotations)
    check_smoothing_labels(options, val_seqs)
    training, validation = SplitData(train_seqs, train_report), SplitData(val_seqs, val_report)
    data = data_record(options, store, specs, training.videos() + validation.videos())
    # Held until the model is final: a second train (or another command) on this folder is refused meanwhile.
    with output_folder_lock(options.out) as out:
        resume = _prepare_out(options, out, restart, data)
        return _run(options, out, resume, specs, training, validation, progress, log)


def _run(options: TrainOptions, out: Path, resume: bool, specs: Sequence[FeatureSpec], training: SplitData,
         validation: SplitData, progress: bool, log: Callable[[str], None]) -> TrainResult:
    """The epochs (from where a resumed run stopped), then the smoothing of the best model."""
    train_seqs, val_seqs = training.sequences, validation.sequences
    if options.au_pos_weight == "auto":
        weights = balanced_au_pos_weight(train_seqs)
        options = replace(options, loss=replace(options.loss, au_pos_weight=weights))
        log("AU positive weights: " + "  ".join(f"{a} {w:.2f}" for a, w in zip(ACTION_UNITS, weights)))
    torch.manual_seed(options.seed)
    model = MultiTaskModel(options.model_config(sum(s.dim for s in specs)))
    mean, std = feature_statistics(train_seqs)  # from the training split only
    model.set_normalization(mean, std)
    optimizer = torch.optim.Adam(model.parameters(), lr=options.lr, weight_decay=options.weight_decay,
                                 betas=(options.adam_beta1, 0.999))

    history: list[dict[str, Any]] = []
    start_epoch, best_score, best_epoch = 0, -math.inf, -1
    if resume:
        last = _load_last(out / LAST_FILE)
        model.load_state_dict(last["model"])
        optimizer.load_state_dict(last["optimizer"])
        start_epoch, best_score, best_epoch = int(last["epoch"]) + 1, float(last["best_score"]), int(last["best_epoch"])
        history = json.loads(last["history"])
        log(f"resuming {out} after epoch {start_epoch} (best P_MTL {best_score:.4f} at epoch {best_epoch + 1})")

    provenance = {
        "train_annotations": str(options.train_annotations),
        "val_annotations": str(options.val_annotations),
        "train_join": training.report.to_json(),
        "val_join": validation.report.to_json(),
        "options": options.to_json(),
    }
    data = _data_summary(options.train_annotations)
    if data is not None:
        provenance["data"] = data
    note = options.labels_note or (data or {}).get("labels_note", "")
    if note:
        provenance["labels"] = note
    name = options.run_name()
    curves_drawn: float | None = None
    drawn_rows = len(history)
    try:
        for epoch in range(start_epoch, options.epochs):
            began = time.perf_counter()
            train_stats = train_epoch(model, optimizer, train_seqs, options, epoch, progress)
            val = run_validation(model, val_seqs, options.seq_len, options.carry_state)
            thresholds = tune_thresholds(val, options.au_neutral_cap)
            metrics = score_validation(val, thresholds)
            elapsed = time.perf_counter() - began
            row = {
                "epoch": epoch + 1,
                "train_loss": train_stats["loss"],
                "train_valence": train_stats["valence"],
                "train_arousal": train_stats["arousal"],
                "train_expr": train_stats["expr"],
                "train_au": train_stats["au"],
                "val_p_mtl": metrics.p_mtl,
                "val_ccc": (metrics.ccc_valence + metrics.ccc_arousal) / 2,
                "val_ccc_valence": metrics.ccc_valence,
                "val_ccc_arousal": metrics.ccc_arousal,
                "val_expr_f1": metrics.expr_f1,
                "val_au_f1": metrics.au_f1_mean,
                "seconds": elapsed,
                "train_frames_per_s": train_stats["frames"] / elapsed,
            }
            history.append(row)
            improved = metrics.p_mtl > best_score
            if improved:
                best_score, best_epoch = metrics.p_mtl, epoch
                meta = ModelMeta(
                    name=name,
                    model_config=model.config,
                    features=specs,
                    seq_len=options.seq_len,
                    carry_state=options.carry_state,
                    au_thresholds=thresholds,
                    post=ChosenSmoothing(fps=options.fps),
                    provenance=provenance | {"epoch": epoch + 1, "val_metrics_raw": metrics.to_json(),
                                             UNFINISHED_KEY: UNFINISHED_NOTE},
                )
                save_checkpoint(out / BEST_FILE, model, meta)
            _save_last(out / LAST_FILE, model, optimizer, epoch, best_score, best_epoch, history)
            now = time.perf_counter()
            draw = curves_drawn is None or epoch + 1 == options.epochs or now - curves_drawn >= CURVES_EVERY_S
            _write_history(out, history, name, curves=draw)
            curves_drawn, drawn_rows = (now, len(history)) if draw else (curves_drawn, drawn_rows)
            log(
                f"epoch {epoch + 1:3d}/{options.epochs}  loss {row['train_loss']:.4f}  "
                f"val P_MTL {metrics.p_mtl:.4f} (CCC {row['val_ccc']:.3f}, expr F1 {metrics.expr_f1:.3f}, "
                f"AU F1 {metrics.au_f1_mean:.3f})  {elapsed:.1f}s{'  *best*' if improved else ''}"
            )
    finally:  # a stopped run's curves.png is brought as far as its history.json
        if history and drawn_rows != len(history):
            plot_training_curves(history, out / "curves.png", name)

    return finalize(out, val_seqs, options, log=log, history=history)


def _data_summary(train_annotations: str) -> dict[str, Any] | None:
    """What `import-stills` recorded about the data (sets, terms, splits, real labels), if it made these files."""
    path = Path(train_annotations).parent / DATA_SUMMARY
    data = read_json_object(path)
    if data is None or "sets" not in data:
        return None
    keys = ("name", "description", "terms", "real_labels", "split_rule", "repeats_in_train")
    # A cross-validated set's folds (import-stills --cv-folds) only where it has them.
    sets = [{key: s.get(key) for key in keys} | ({"cross_validation": s["cross_validation"]} if "cross_validation" in s else {})
            for s in data["sets"]]
    return {"summary": str(path), "labels_note": data.get("labels_note", ""), "weak_labels": data.get("weak_labels"),
            "sequence_options": data.get("options"), "sets": sets} | ({"fold": data["fold"]} if "fold" in data else {})


class SmoothingSettings(Protocol):
    """What choosing the valence/arousal filters reads from a run's options (TrainOptions, MergeOptions)."""

    smoothing_rule: str
    max_lag_ms: float
    smoothing_videos: tuple[str, ...]


def check_smoothing_settings(options: SmoothingSettings) -> None:
    """The smoothing options, checked before any work: they act last, after every epoch (or the merge)."""
    if not (math.isfinite(options.max_lag_ms) and options.max_lag_ms >= 0):
        raise UserInputError(f"max lag (ms) must be >= 0, got {options.max_lag_ms}")
    if options.smoothing_rule not in SMOOTHING_RULES:
        raise UserInputError(f"smoothing rule must be one of {', '.join(SMOOTHING_RULES)}, "
                             f"got {options.smoothing_rule!r}")


def check_smoothing_videos(videos: Sequence[str]) -> None:
    """Each smoothing video opens (whether it has a face is known only once the model has run on it)."""
    from affectstream.core.sources.readers import VideoFileSource

    for video in videos:
        with VideoFileSource(video):
            pass


def check_smoothing_features(options: SmoothingSettings, specs: Sequence[FeatureSpec]) -> None:
    """Jitter measured on --smoothing-videos runs the model on those videos: each backbone must be one that can be
    taken of a video (a synthetic or imported feature cannot), known before the epochs, not after them."""
    if options.smoothing_rule != "lag" or not options.smoothing_videos:
        return
    from affectstream.core.features.registry import extractor_config

    for spec in specs:
        try:
            extractor_config(spec.name)
        except UserInputError as exc:
            raise UserInputError(f"--smoothing-videos: the {spec.name} features cannot be taken of a video "
                                 f"({exc}); leave --smoothing-videos out to measure jitter on validation") from None


def check_smoothing_labels(options: TrainOptions, val_seqs: Sequence[VideoSequence]) -> None:
    """The ccc rule chooses filters by validation CCC: without valence/arousal labels it has nothing to go by."""
    if options.smoothing_rule == "ccc" and not any(np.any(s.va[:, 0] != -5) for s in val_seqs):
        raise UserInputError(f"--smoothing-rule ccc needs valence/arousal labels in --val {options.val_annotations}, "
                             "which has none on frames with features; use --smoothing-rule lag")


def warn_if_validation_is_training(options: TrainOptions, log: Callable[[str], None]) -> None:
    """Allowed (a smoke test), but every validation figure is then measured on the data the model learns."""
    try:
        same = os.path.samefile(options.train_annotations, options.val_annotations)
    except OSError:  # a missing file is named where it is read
        return
    if same:
        log(f"warning: --train and --val are the same file ({options.val_annotations}): validation scores, the best "
            "epoch, the AU thresholds and the smoothing are then measured on training data")


def check_neutral_cap(cap: float | None) -> None:
    if cap is not None and not 0.0 <= cap <= 1.0:
        raise UserInputError(f"the AU neutral cap is a share from 0 to 1, got {cap}")


def choose_smoothing(out: Path, val: Validation, options: SmoothingSettings, fps: float,
                     log: Callable[[str], None]) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """(centred window, causal filter JSON, what was measured) by the run's smoothing rule."""
    if options.smoothing_rule == "ccc":
        if not any(np.any(t[:, 0] != -5) for t in val.va_true):
            raise UserInputError("the ccc smoothing rule needs valence/arousal labels in validation; "
                                 "use --smoothing-rule lag")
        window, window_scores = choose_window(val.va_pred, val.va_true)
        causal, causal_scores = choose_causal(val.va_pred, val.va_true, fps=fps)
        return window, causal_config_to_json(causal), {
            "rule": "best validation CCC",
            "centred_window": {str(k): v for k, v in window_scores.items()}, "causal": causal_scores}
    from affectstream.training.filter_choice import choose_filters, raw_va_on_videos

    labelled = [p for p, t in zip(val.va_pred, val.va_true) if np.any(t[:, 0] != -5)]
    if options.smoothing_videos:
        series = raw_va_on_videos(str(out / BEST_FILE), options.smoothing_videos)
        where = f"{len(series)} face track(s) of {', '.join(Path(v).name for v in options.smoothing_videos)}"
    else:
        series, where = labelled or val.va_pred, "the validation predictions"
    choice = choose_filters(series, fps, where, options.max_lag_ms)
    log(choice.report())
    return choice.window, causal_config_to_json(choice.causal), choice.to_json()


def finalize(out: Path, val_seqs: Sequence[VideoSequence], options: SmoothingSettings,
             log: Callable[[str], None] = print, history: list[dict[str, Any]] | None = None) -> TrainResult:
    """Choose smoothing for the best model and store it with the model."""
    loaded = load_checkpoint(out / BEST_FILE)
    meta = loaded.meta
    val = run_validation(loaded.model, val_seqs, meta.seq_len, meta.carry_state)
    window, causal, measured = choose_smoothing(out, val, options, meta.post.fps, log)
    meta.post = ChosenSmoothing(offline_window=window, causal=causal, fps=meta.post.fps)
    raw = score_validation(val, meta.au_thresholds)
    smoothed = score_validation(val, meta.au_thresholds, window)
    meta.provenance = {k: v for k, v in meta.provenance.items() if k != UNFINISHED_KEY} | {
        "val_metrics_raw": raw.to_json(),
        "val_metrics_smoothed": smoothed.to_json(),
        "smoothing": measured,
    }
    save_checkpoint(out / BEST_FILE, loaded.model, meta)
    epoch = int(meta.provenance.get("epoch", 0))
    log(
        f"{f'best epoch {epoch}' if epoch else 'model'}: val P_MTL {raw.p_mtl:.4f}; with centred smoothing (window {window}) "
        f"{smoothed.p_mtl:.4f}; causal filter {causal}"
    )
    log(f"model: {out / BEST_FILE}")
    return TrainResult(out / BEST_FILE, epoch, raw.p_mtl, history or [], smoothed.to_json())
