"""Knowledge distillation: one network learns the soft outputs of the expr-cnn ensemble as well as the labels.

The teacher (an expr-cnn weights file, usually the 3-network ensemble) is run once
over the training faces, each as it is and mirrored, and its mean probabilities are
kept (``teacher_targets``, cached in the run folder under the teacher's hash, so a
resumed run does not pay for them again). The student then sees augmented views of
the same faces and is trained on

    (1 - w) * CE(label, smoothed) + w * T^2 * KL(teacher_T || student_T)

where ``teacher_T`` is the teacher's distribution sharpened or softened by the
temperature T (p^(1/T), renormalised) and ``student_T`` the student's softmax at T.
The T^2 keeps the soft term's gradient on the scale of the hard one. Targets are
fixed per face rather than recomputed on each augmented view: on two CPU cores the
teacher's six passes per view would cost three times the student's step, and the
augmentation here (a few pixels, ten degrees, brightness) changes the teacher's
answer little.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from affectstream.core.atomic import atomic_write
from affectstream.core.errors import UserInputError

TARGETS_FILE = "teacher_targets.npz"


@dataclass(frozen=True)
class DistillConfig:
    teacher: str  # an expr-cnn weights file (a best.safetensors; an ensemble or one network)
    weight: float = 0.7  # share of the soft (teacher) term in the loss
    temperature: float = 2.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.weight <= 1.0:
            raise UserInputError(f"distillation weight must be in [0, 1], got {self.weight}")
        if not 0.0 < self.temperature <= 20.0:
            raise UserInputError(f"distillation temperature must be in (0, 20], got {self.temperature}")


def teacher_targets(cfg: DistillConfig, images_u8: torch.Tensor, run_dir: Path,
                    device: torch.device | str = "cpu") -> torch.Tensor:
    """(N, classes) mean teacher probabilities over each face and its mirror, cached in ``run_dir``."""
    from affectstream.training.fer.evaluate import predict_probs

    teacher_path = Path(cfg.teacher)
    key = _key(teacher_path, images_u8)
    cache = Path(run_dir) / TARGETS_FILE
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as data:
                if str(data["key"]) == key:
                    return torch.from_numpy(data["probs"])
        except (OSError, ValueError, KeyError, EOFError):
            pass  # a damaged cache is simply made again
    teacher = load_teacher(cfg, device)
    probs = predict_probs(teacher, images_u8, device=device, flip_tta=True).astype(np.float32)
    with atomic_write(cache) as handle:
        np.savez(handle, key=np.array(key), probs=probs)
    return torch.from_numpy(probs)


def load_teacher(cfg: DistillConfig, device: torch.device | str = "cpu") -> torch.nn.Module:
    """The teacher network(s) in eval mode on ``device``."""
    from affectstream.training.fer.loop import load_weights

    return load_weights(cfg.teacher).to(device).eval()  # names the file when it is missing or not expr-cnn weights


def distillation_loss(logits: torch.Tensor, labels: torch.Tensor, teacher_probs: torch.Tensor,
                      cfg: DistillConfig, label_smoothing: float) -> torch.Tensor:
    """The blend of the label's cross-entropy and the temperature-scaled KL to the teacher."""
    logits = logits.float()
    hard = F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
    t = cfg.temperature
    soft_target = teacher_probs.clamp_min(1e-8).log().div(t).softmax(dim=1)
    soft = F.kl_div(F.log_softmax(logits / t, dim=1), soft_target, reduction="batchmean") * (t * t)
    return (1.0 - cfg.weight) * hard + cfg.weight * soft


def _key(teacher: Path, images_u8: torch.Tensor) -> str:
    """The teacher's bytes and the faces it saw: a changed teacher or subset makes the targets again."""
    if not teacher.is_file():
        raise UserInputError(f"teacher weights not found: {teacher}")
    digest = hashlib.sha256(teacher.read_bytes())
    digest.update(images_u8.numpy().tobytes())
    return digest.hexdigest()
