"""`affectstream train-fer STEP`: the expr-cnn expression backbone on FER2013, one step per sub-command.

train (a run: resumable on the same --data, --budget-minutes anneals to fit), export RUN (PrivateTest figures,
ONNX, shipping), ensemble RUN... and soup RUN... (finished runs joined, then exported), card (MODEL_CARD.md
again). Each maps argv onto a frozen options object and makes one call in affectstream.training.fer.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from affectstream.cli._types import output_path, positive_int, positive_number, seed
from affectstream.cli.train_fer_export import add_data_arguments, add_export_steps, data_options, run_export_step

# A command may default to the project's shared data; library code never does.
DEFAULT_NPZ = Path(__file__).resolve().parents[3] / "shared" / "data" / "fer2013" / "fer2013.npz"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    steps = parser.add_subparsers(dest="step", metavar="STEP", required=True)
    _add_train(steps.add_parser("train", help="train one network (a run folder; resumable)",
                                description="Train one expr-cnn network on FER2013 Training, keeping the epoch "
                                "with the best PublicTest accuracy. Running it again resumes it.",
                                allow_abbrev=False))
    add_export_steps(steps, DEFAULT_NPZ)
    card = steps.add_parser("card", help="write MODEL_CARD.md again from an asset's files and notes",
                            description="Render an expr-cnn asset's MODEL_CARD.md from its measured JSON files and "
                            "its notes.md (after `affectstream bench fer`, or after editing the notes).",
                            allow_abbrev=False)
    card.add_argument("--export-dir", type=Path, required=True, help="the asset folder (with metrics.json)")


def _add_train(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser, DEFAULT_NPZ)
    parser.add_argument("--out", type=output_path, default=Path("runs/fer2013"), metavar="DIR",
                        help="run folder (resume state, history, curves, best.safetensors)")
    parser.add_argument("--epochs", type=positive_int, default=60, metavar="N",
                        help="most epochs (a budget may stop earlier)")
    parser.add_argument("--budget-minutes", type=positive_number, default=None, metavar="MIN",
                        help="wall-clock budget; the LR schedule anneals to fit it")
    parser.add_argument("--lr", type=positive_number, default=0.05, metavar="X", help="peak learning rate")
    parser.add_argument("--batch-size", type=positive_int, default=128, metavar="N")
    parser.add_argument("--seed", type=seed, default=0, metavar="N", help="0 to 2**32-1")
    parser.add_argument("--device", default="auto", type=_device, metavar="DEV",
                        help="auto (cuda when present), cpu or cuda")
    parser.add_argument("--no-bf16", action="store_true", help="float32 instead of bfloat16 autocast")
    parser.add_argument("--widths", type=_widths, default=None, metavar="W1,W2,W3,W4",
                        help="channels of the four stages (default 32,64,128,256; small ones for tests)")
    parser.add_argument("--init-from", type=Path, default=None, metavar="WEIGHTS",
                        help="start from these weights with a fresh LR cycle (a warm restart)")
    parser.add_argument("--teacher", type=Path, default=None, metavar="WEIGHTS",
                        help="distil: also learn their soft outputs (an ensemble's best.safetensors)")
    parser.add_argument("--distill-weight", type=float, default=0.7, metavar="W",
                        help="the teacher's share of the loss")
    parser.add_argument("--temperature", type=float, default=2.0, metavar="T", help="distillation temperature")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (log files)")


def run(args: argparse.Namespace) -> int:
    # This command's own process, before torch loads OpenMP: spinning worker threads lose their time
    # slices when other processes share the 2 cores (measured 45 -> 101 img/s under load). Set it
    # yourself to override.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if args.step == "card":
        from affectstream.training.fer.card import write_card

        print(f"wrote {write_card(args.export_dir)}")
    elif args.step == "train":
        from affectstream.training.fer.steps import TrainOptions, train_run

        train_run(TrainOptions(data_options(args, args.seed), args.out, _train_config(args), not args.no_progress))
    else:
        run_export_step(args)
    return 0


def _train_config(args: argparse.Namespace):
    from dataclasses import replace

    from affectstream.training.fer.distill import DistillConfig
    from affectstream.training.fer.loop import TrainConfig
    from affectstream.training.fer.model import ExprNetConfig

    distill = DistillConfig(str(args.teacher), args.distill_weight, args.temperature) if args.teacher else None
    model = replace(ExprNetConfig(), widths=args.widths) if args.widths else ExprNetConfig()
    return replace(TrainConfig(), epochs=args.epochs, budget_minutes=args.budget_minutes, batch_size=args.batch_size,
                   lr=args.lr, threads=args.threads, device=args.device, bf16=not args.no_bf16, seed=args.seed,
                   init_from=str(args.init_from) if args.init_from else None, distill=distill, model=model)


def _widths(text: str) -> tuple[int, ...]:
    """'48,96,192,384' -> (48, 96, 192, 384): four positive channel counts."""
    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        widths = ()
    if len(widths) != 4 or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"expected four positive channel counts like 48,96,192,384, got {text!r}")
    return widths


def _device(text: str) -> str:
    """auto, or a device torch knows (cpu, cuda, cuda:1, ...)."""
    import torch

    if text != "auto":
        try:
            torch.device(text)
        except RuntimeError:
            raise argparse.ArgumentTypeError(f"auto, cpu, cuda or cuda:N, got {text!r}") from None
    return text
