"""`affectstream train`: train a multi-task temporal model on ABAW-format data."""

from __future__ import annotations

import argparse

import torch

from affectstream.cli._types import fraction, non_negative_number, output_text, positive_int, seed
from affectstream.core.labels import TASKS
from affectstream.core.temporal.config import ENCODER_KINDS, FRAMEWORKS
from affectstream.training.loss import LossConfig
from affectstream.training.loop import SMOOTHING_RULES, TrainOptions, train

USAGE = "affectstream train --train FILE --val FILE --features DIR --backbones NAME [NAME ...] --out DIR [options]"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # A short usage line, short metavars and one line per short option: --help fits on a screen, by groups.
    parser.usage = USAGE
    parser.formatter_class = lambda prog: argparse.HelpFormatter(prog, max_help_position=28)
    data = parser.add_argument_group("data")
    data.add_argument("--train", required=True, metavar="FILE", help="training_set_annotations.txt")
    data.add_argument("--val", required=True, metavar="FILE", help="validation_set_annotations.txt")
    data.add_argument("--features", required=True, metavar="DIR", help="feature store (written by `extract`)")
    data.add_argument("--backbones", required=True, nargs="+", metavar="NAME",
                      help="backbones to concatenate, in order (e.g. blendshapes expr-cnn-soup-mixed)")
    data.add_argument("--fps", type=float, default=30.0, help="frame rate of the data (for the live filter)")
    model = parser.add_argument_group("model")
    model.add_argument("--encoder", choices=sorted(ENCODER_KINDS), default="gru", metavar="KIND",
                       help="%(choices)s (default: %(default)s); mlp: frame-wise")
    model.add_argument("--hidden", type=positive_int, metavar="N",
                       help="hidden size (transformer: d_model); default: the paper's")
    model.add_argument("--layers", type=positive_int, metavar="N",
                       help="encoder layers (the shared bottom's in share-bottom/feedback)")
    model.add_argument("--framework", choices=FRAMEWORKS, default="basic", metavar="KIND",
                       help="%(choices)s (default: %(default)s)")
    model.add_argument("--top-layers", type=positive_int, default=1, metavar="N",
                       help="task-specific top encoder layers")
    model.add_argument("--feedback-source", choices=TASKS, default="au", metavar="TASK",
                       help="feedback: %(choices)s (default: %(default)s)")
    model.add_argument("--feedback-target", choices=TASKS, default="expr", metavar="TASK",
                       help="feedback: %(choices)s (default: %(default)s)")
    model.add_argument("--dropout", type=float, default=0.3, metavar="P", help="from 0 to below 1")
    model.add_argument("--input-dropout", type=float, default=0.0, metavar="P",
                       help="dropout on the input features (regularises small sets)")
    opt = parser.add_argument_group("optimisation")
    opt.add_argument("--seq-len", type=int, default=250, metavar="L", help="segment length l")
    opt.add_argument("--no-carry", action="store_true",
                     help="GRU/LSTM: reset the state at every segment, not carry it (ablation)")
    opt.add_argument("--batch-size", type=int, default=8, metavar="N")
    opt.add_argument("--epochs", type=int, default=50, metavar="N")
    opt.add_argument("--lr", type=float, default=5e-5)
    opt.add_argument("--weight-decay", type=float, default=0.0, metavar="W")
    opt.add_argument("--grad-clip", type=float, default=0.0, metavar="NORM", help="max gradient norm; 0 = off")
    opt.add_argument("--adam-beta1", type=float, default=0.9, metavar="B",
                     help="Adam's first-moment decay (the authors used 0.5)")
    opt.add_argument("--loss-weights", type=non_negative_number, nargs=4, metavar=("A", "B", "C", "D"),
                     default=(1.0, 1.0, 1.0, 1.0), help="V, A, expression and AU loss weights, not all 0 "
                                                        "(default: 1 1 1 1)")
    opt.add_argument("--va-loss", choices=("mse", "ccc"), default="mse", metavar="LOSS",
                     help="%(choices)s (default: %(default)s)")
    opt.add_argument("--au-pos-weight", choices=("auto",), default="", metavar="auto",
                     help="weigh each AU's positives by sqrt(negatives/positives)")
    opt.add_argument("--seed", type=seed, default=0, help="a whole number from 0 to 2**32-1")
    opt.add_argument("--threads", type=positive_int, metavar="N",
                     help="torch CPU threads, 1 or more (default: torch's own choice, about one per core)")
    chosen = parser.add_argument_group("thresholds and smoothing (chosen on validation)")
    chosen.add_argument("--au-neutral-cap", type=fraction, default=None, metavar="RATE",
                        help="an AU on in at most this share of validation frames labelled Neutral")
    chosen.add_argument("--smoothing-rule", choices=SMOOTHING_RULES, default="lag", metavar="RULE",
                        help="lag (default): strongest VA filter lagging <= --max-lag-ms; ccc: best CCC")
    chosen.add_argument("--max-lag-ms", type=float, default=150.0, metavar="MS", help="(default: %(default)s)")
    chosen.add_argument("--smoothing-videos", nargs="+", default=[], metavar="VIDEO",
                        help="real videos to measure filter jitter on (default: validation)")
    outputs = parser.add_argument_group("outputs")
    outputs.add_argument("--out", type=output_text, required=True, metavar="DIR",
                         help="run folder (a train run there resumes; other commands' output is refused)")
    outputs.add_argument("--restart", action="store_true", help="discard a previous run in --out")
    outputs.add_argument("--name", default="", help="model name shown by the app (default: encoder-framework)")
    outputs.add_argument("--labels-note", default="", metavar="TEXT",
                         help="label sources shown by the app (default: import-stills' summary.json note)")
    outputs.add_argument("--no-progress", action="store_true")


def options_from_args(args: argparse.Namespace) -> TrainOptions:
    alpha, beta, gamma, delta = args.loss_weights
    return TrainOptions(
        train_annotations=args.train, val_annotations=args.val, features=args.features,
        backbones=tuple(args.backbones), out=args.out, encoder=args.encoder, hidden=args.hidden, layers=args.layers,
        dropout=args.dropout, input_dropout=args.input_dropout, framework=args.framework, top_layers=args.top_layers,
        feedback_source=args.feedback_source, feedback_target=args.feedback_target, seq_len=args.seq_len,
        carry_state=not args.no_carry, batch_size=args.batch_size, epochs=args.epochs, lr=args.lr,
        weight_decay=args.weight_decay, grad_clip=args.grad_clip, seed=args.seed,
        loss=LossConfig(alpha=alpha, beta=beta, gamma=gamma, delta=delta, va_loss=args.va_loss),
        fps=args.fps, name=args.name, labels_note=args.labels_note, adam_beta1=args.adam_beta1,
        au_pos_weight=args.au_pos_weight, au_neutral_cap=args.au_neutral_cap, smoothing_rule=args.smoothing_rule,
        max_lag_ms=args.max_lag_ms, smoothing_videos=tuple(args.smoothing_videos),
    )


def run(args: argparse.Namespace) -> int:
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    train(options_from_args(args), restart=args.restart, progress=not args.no_progress)
    return 0
