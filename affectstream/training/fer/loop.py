"""The FER2013 training loop: resumable, wall-clock budgeted, selected on PublicTest.

The learning rate follows warmup + cosine over a progress fraction that is the larger
of (steps done / steps planned) and (seconds spent / budget): with a budget the
schedule anneals fully however fast the machine turns out to be, then stops.
Resume state (``last.pt``) holds tensors and plain values only, so it loads with
torch.load(weights_only=True); the best weights go to ``best.safetensors``. It records the
fingerprint of the data file trained on: a resume on another file is refused (it would train on
other faces yet keep the old best accuracy).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from safetensors.torch import save as safetensors_bytes
from tqdm import tqdm

from affectstream.core.atomic import atomic_write, write_text_atomic
from affectstream.core.digest import file_fingerprint
from affectstream.core.errors import UserInputError
from affectstream.training.fer.augment import AugmentConfig, augment
from affectstream.training.fer.data import FerSplit
from affectstream.training.fer.distill import DistillConfig, distillation_loss, teacher_targets
from affectstream.training.fer.evaluate import predict_probs
from affectstream.training.fer.model import ExprEnsemble, ExprNet, ExprNetConfig


# Drawing curves.png takes about 0.15 s: on a GPU, where an epoch can take a second, not after every epoch.
PLOT_EVERY_S = 30.0


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 60  # upper bound; a budget may stop earlier
    budget_minutes: float | None = None
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    warmup_frac: float = 0.03
    bf16: bool = True  # autocast on CPU (Zen4 avx512_bf16); on CUDA bf16 autocast too
    channels_last: bool = True
    threads: int = 2
    seed: int = 0
    device: str = "auto"
    # Start from these weights (a best.safetensors) instead of random ones: a warm restart,
    # a new LR cycle over a trained net. Ignored when the run resumes from its own last.pt.
    init_from: str | None = None
    # Learn the soft outputs of a teacher (the expr-cnn ensemble) as well as the labels.
    distill: DistillConfig | None = None
    model: ExprNetConfig = field(default_factory=ExprNetConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    train_loss: float
    train_acc: float
    val_acc: float
    lr: float
    seconds: float  # cumulative wall time spent training (across resumes)
    images_per_s: float


@dataclass(frozen=True)
class TrainResult:
    out_dir: Path
    best_epoch: int
    best_val_acc: float
    history: tuple[EpochRecord, ...]
    wall_seconds: float


class TrainStateError(UserInputError):
    """A resume file that does not match the requested run."""


def _print_flush(line: str) -> None:
    print(line, flush=True)  # a log file shows each epoch as it ends


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def device_name(device: torch.device) -> str:
    """'cpu', or 'cuda (NVIDIA H200)' style: what the card says the run trained on."""
    return f"cuda ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else device.type


def lr_at(progress: float, cfg: TrainConfig) -> float:
    p = min(max(progress, 0.0), 1.0)
    if p < cfg.warmup_frac:
        return cfg.lr * p / cfg.warmup_frac
    q = (p - cfg.warmup_frac) / (1.0 - cfg.warmup_frac)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * q))


def train(
    cfg: TrainConfig,
    train_split: FerSplit,
    val_split: FerSplit,
    out_dir: Path,
    log: Callable[[str], None] = _print_flush,
    progress_bar: bool = True,
    data_file: Path | None = None,
) -> TrainResult:
    """``data_file``: the file the splits were read from, whose fingerprint the resume state keeps."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    model = ExprNet(cfg.model)
    if cfg.init_from and not (out_dir / "last.pt").is_file():
        start = load_weights(cfg.init_from)
        try:
            model.load_state_dict(start.state_dict())
        except RuntimeError:
            raise UserInputError(f"{cfg.init_from}: its network differs from this run's "
                                 f"({network_difference(start.state_dict(), model)})") from None
        log(f"starting from the weights in {cfg.init_from}")
    model = model.to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    # No weight decay on BN and biases: the usual choice for short schedules.
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr, momentum=cfg.momentum, nesterov=True,
    )
    gen = torch.Generator().manual_seed(cfg.seed)

    n = len(train_split)
    if n < cfg.batch_size:
        raise UserInputError(f"{n} training faces are fewer than one batch of {cfg.batch_size}")
    steps_per_epoch = n // cfg.batch_size  # drop the ragged last batch (BN statistics)
    total_steps = steps_per_epoch * cfg.epochs
    budget_s = None if cfg.budget_minutes is None else cfg.budget_minutes * 60.0
    data = DataFile.of(data_file)
    state = _resume(out_dir / "last.pt", cfg, model, opt, gen, log, data)
    epoch, step, spent = state["epoch"], state["step"], state["seconds"]
    best_acc, best_epoch = state["best_acc"], state["best_epoch"]
    history = [EpochRecord(**h) for h in state["history"]]
    targets = None
    if cfg.distill is not None:
        log(f"teacher targets from {cfg.distill.teacher} (each face and its mirror)")
        targets = teacher_targets(cfg.distill, train_split.images, out_dir, device).to(device)
    # The faces stay on the training device, so that a GPU also does the augmentation.
    images, labels = train_split.images.to(device), train_split.labels.to(device)
    # Where it trained, for the card: speeds and minutes mean little without it.
    record = cfg.to_json() | {"trained_on": device_name(device)}
    write_text_atomic(out_dir / "config.json", json.dumps(record, indent=2) + "\n")

    def progress() -> float:
        p = step / max(total_steps, 1)
        if budget_s is not None:
            p = max(p, spent / budget_s)
        return p

    curves = _Curves(out_dir)
    try:
        while epoch < cfg.epochs and progress() < 1.0:
            model.train()
            t_epoch = time.perf_counter()
            perm = torch.randperm(n, generator=gen)
            loss_sum, correct, seen = 0.0, 0, 0
            bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}", disable=not progress_bar, leave=False)
            for b in bar:
                t0 = time.perf_counter()
                idx = perm[b * cfg.batch_size : (b + 1) * cfg.batch_size].to(device)
                x, y = augment(images[idx], gen, cfg.augment), labels[idx]
                if cfg.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                lr = lr_at(progress(), cfg)
                for g in opt.param_groups:
                    g["lr"] = lr
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                    logits = model(x)
                    if targets is not None:
                        loss = distillation_loss(logits, y, targets[idx], cfg.distill, cfg.label_smoothing)
                    else:
                        loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                loss_sum += float(loss.detach()) * len(y)
                correct += int((logits.argmax(1) == y).sum())
                seen += len(y)
                spent += time.perf_counter() - t0
                bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}", lr=f"{lr:.4f}")
                if progress() >= 1.0:
                    break
            bar.close()
            t_eval = time.perf_counter()
            val_probs = predict_probs(model, val_split.images, device=device)
            val_acc = float((val_probs.argmax(1) == val_split.labels.numpy()).mean())
            spent += time.perf_counter() - t_eval
            epoch += 1
            rec = EpochRecord(
                epoch=epoch, train_loss=loss_sum / max(seen, 1), train_acc=correct / max(seen, 1), val_acc=val_acc,
                lr=lr, seconds=spent, images_per_s=seen / max(time.perf_counter() - t_epoch, 1e-9),
            )
            history.append(rec)
            if val_acc > best_acc:
                best_acc, best_epoch = val_acc, epoch
                _save_weights(out_dir, model, cfg, epoch, val_acc)
            _save_state(out_dir / "last.pt", model, opt, gen, epoch, step, spent, best_acc, best_epoch, history,
                        data.fingerprint)
            curves.after_epoch(history)
            log(
                f"epoch {epoch}: loss {rec.train_loss:.4f} train acc {rec.train_acc:.4f} PublicTest acc {val_acc:.4f} "
                f"(best {best_acc:.4f} @ {best_epoch}) lr {lr:.4f} {rec.images_per_s:.0f} img/s, {spent / 60:.1f} min"
            )
    finally:  # an interrupted or finished run leaves curves.png as current as history.json
        curves.catch_up(history)
    return TrainResult(out_dir, best_epoch, best_acc, tuple(history), spent)


def _save_weights(out_dir: Path, model: ExprNet, cfg: TrainConfig, epoch: int, val_acc: float) -> None:
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    meta = {"epoch": str(epoch), "public_test_acc": f"{val_acc:.6f}", "model": json.dumps(asdict(cfg.model))}
    with atomic_write(out_dir / "best.safetensors") as fh:
        fh.write(safetensors_bytes(tensors, metadata=meta))


def _save_state(path: Path, model, opt, gen, epoch, step, spent, best_acc, best_epoch, history,
                data_fingerprint: str = "") -> None:
    state = {
        "data": data_fingerprint,
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "generator": gen.get_state(),
        "epoch": epoch,
        "step": step,
        "seconds": spent,
        "best_acc": best_acc,
        "best_epoch": best_epoch,
        "history": [asdict(h) for h in history],
    }
    with atomic_write(path) as fh:
        torch.save(state, fh)


def _load_resume_state(path: Path) -> dict:
    from affectstream.training.resume_file import load_resume_state

    try:
        return load_resume_state(path, "use another --out or remove it to start over")
    except UserInputError as exc:
        raise TrainStateError(str(exc)) from None

@dataclass(frozen=True)
class DataFile:
    """The file the faces were read from and its fingerprint (none: not known, e.g. splits made in memory)."""

    path: Path | None = None
    fingerprint: str = ""

    @staticmethod
    def of(path: Path | None) -> "DataFile":
        return DataFile(Path(path), file_fingerprint(path)) if path is not None else DataFile()


def network_difference(saved: dict, model: torch.nn.Module) -> str:
    """The first tensor where saved weights do not fit ``model``, in one line (torch lists every one, over lines)."""
    mine = model.state_dict()
    for name in sorted(mine.keys() | saved.keys()):
        if name not in saved or name not in mine:
            return f"{name} is in {'this network' if name in mine else 'the saved one'} only"
        theirs = getattr(saved[name], "shape", None)
        if theirs != mine[name].shape:
            return f"{name}: {tuple(theirs or ())} saved, {tuple(mine[name].shape)} here (other --widths?)"
    return "the tensors do not load"


def _resume(path: Path, cfg: TrainConfig, model, opt, gen, log, data: DataFile = DataFile()) -> dict:
    fresh = {"epoch": 0, "step": 0, "seconds": 0.0, "best_acc": -1.0, "best_epoch": 0, "history": []}
    if not path.is_file():
        return fresh
    state = _load_resume_state(path)
    recorded, now = state.get("data", ""), data.fingerprint
    if recorded and now and recorded != now:  # a state from before it was recorded resumes as before
        raise TrainStateError(f"{path}: this run trained on another data file, not --data {data.path} (its "
                              "fingerprint differs); give the run's own --data or choose another --out")
    try:
        model.load_state_dict(state["model"])
    except RuntimeError:
        raise TrainStateError(f"{path}: cannot resume from it: its network differs from this run's "
                              f"({network_difference(state['model'], model)}); use another --out or remove it") \
            from None
    except (KeyError, TypeError) as exc:
        raise TrainStateError(f"{path}: cannot resume from it ({type(exc).__name__}: {exc}); use another --out or "
                              "remove it") from None
    try:
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TrainStateError(f"{path}: cannot resume from it ({detail}); use another --out or remove it") from None
    log(f"resuming from {path}: epoch {state['epoch']}, {state['seconds'] / 60:.1f} min spent")
    return {k: state[k] for k in fresh}


class _Curves:
    """history.json after every epoch; curves.png at most every PLOT_EVERY_S, and brought up to date at the end."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.last_draw = -math.inf
        self.drawn = -1  # epochs the drawing shows; unknown on a resume, so the end draws once more

    def after_epoch(self, history: list[EpochRecord]) -> None:
        write_text_atomic(self.out_dir / "history.json", json.dumps([asdict(h) for h in history], indent=1) + "\n")
        if time.perf_counter() - self.last_draw >= PLOT_EVERY_S:
            self._draw(history)

    def catch_up(self, history: list[EpochRecord]) -> None:
        if history and self.drawn != len(history):
            self._draw(history)

    def _draw(self, history: list[EpochRecord]) -> None:
        from affectstream.training.fer.report import plot_curves

        plot_curves(history, self.out_dir / "curves.png")
        self.last_draw, self.drawn = time.perf_counter(), len(history)


def load_weights(path: str | Path) -> ExprNet | ExprEnsemble:
    """An ExprNet (or an ensemble of them, affectstream.training.fer.ensemble) in eval mode from a best.safetensors."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"weights not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
    except Exception as exc:  # safetensors raises its own error type (SafetensorError) for a file that is not one
        raise UserInputError(f"{path}: not a safetensors weights file ({exc})") from None
    if "members" in meta:
        members = [ExprNet(ExprNetConfig.from_json(mc)) for mc in json.loads(meta["members"])]
        model: ExprNet | ExprEnsemble = ExprEnsemble(members)
    elif "model" in meta:
        model = ExprNet(ExprNetConfig.from_json(json.loads(meta["model"])))
    else:
        raise UserInputError(f"{path}: no model config in its metadata; not an expr-cnn weights file")
    try:
        model.load_state_dict(load_file(str(path)))
    except RuntimeError as exc:
        raise UserInputError(f"{path}: tensors do not match the architecture in its metadata ({exc})") from exc
    return model.eval()

