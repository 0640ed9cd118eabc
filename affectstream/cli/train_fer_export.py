"""The exporting steps of `affectstream train-fer`: export RUN, ensemble RUN..., soup RUN..., and the data
options every step shares."""

from __future__ import annotations

import argparse
from pathlib import Path

from affectstream.cli._types import count, output_path, positive_int


def add_data_arguments(parser: argparse.ArgumentParser, default_npz: Path) -> None:
    parser.add_argument("--data", type=Path, default=default_npz, metavar="NPZ",
                        help="fer2013.npz (default: ../shared/data/fer2013)")
    parser.add_argument("--threads", type=positive_int, default=2, metavar="N")
    parser.add_argument("--limit-train", type=positive_int, default=None, metavar="N",
                        help="a fixed random Training subset (tests)")
    parser.add_argument("--limit-eval", type=positive_int, default=None, metavar="N",
                        help="fixed random PublicTest and PrivateTest subsets (tests)")


def add_export_steps(steps, default_npz: Path) -> None:
    """The export, ensemble and soup sub-parsers, on the sub-command action ``steps``."""
    export = steps.add_parser("export", help="measure a finished run on PrivateTest, export ONNX and ship it",
                              description="Evaluate RUN's best.safetensors (PrivateTest, run-time path, ms per face), "
                              "export the ONNX graph checked against torch, and ship it with --export-dir.",
                              allow_abbrev=False)
    export.add_argument("run", type=output_path, metavar="RUN", help="a finished run, ensemble or soup folder")
    joined = {"ensemble": ("join finished runs as one model (an ensemble), then export it",
                           "Combine RUNs' best weights into one expr-cnn in --out (probabilities averaged, "
                           "embeddings side by side), then export it as `export` does."),
              "soup": ("average the weights of runs from one start (a greedy soup), then export it",
                       "Average RUNs' weights (one network shape, fine-tuned from one start) greedily on PublicTest "
                       "into one network in --out (a model soup), then export it as `export` does.")}
    parsers = [export]
    for name, (help_text, description) in joined.items():
        parser = steps.add_parser(name, help=help_text, description=description, allow_abbrev=False)
        parser.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="finished train-fer run folders")
        parser.add_argument("--out", type=output_path, required=True, metavar="DIR",
                            help=f"the {name}'s folder; a folder another step or command wrote is refused")
        parsers.append(parser)
    for parser in parsers:
        add_data_arguments(parser, default_npz)
        _add_export_arguments(parser)


def _add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--export-dir", type=Path, default=None, metavar="DIR",
                        help="ship weights, ONNX, plots, metrics and the card there (an asset folder)")
    parser.add_argument("--flip-tta", action="store_true", help="ship the graph that also runs the mirror image")
    parser.add_argument("--int8", action="store_true",
                        help="ship it in int8 (ranges from Training faces); the float graph is measured beside it")
    parser.add_argument("--int8-keep-float", type=count, default=0, metavar="K",
                        help="with --int8: the K Conv/Gemm nodes that lose most to int8 stay float")


def data_options(args: argparse.Namespace, sample_seed: int = 0):
    from affectstream.training.fer.steps import DataOptions

    return DataOptions(args.data, args.threads, args.limit_train, args.limit_eval, sample_seed)


def run_export_step(args: argparse.Namespace) -> None:
    from affectstream.training.fer.steps import (ExportOptions, ExportRunOptions, JoinOptions, ensemble_runs,
                                                 export_run, soup_runs)

    export = ExportOptions(args.export_dir, args.flip_tta, args.int8, args.int8_keep_float)
    if args.step == "export":
        export_run(ExportRunOptions(data_options(args), args.run, export))
        return
    join = JoinOptions(data_options(args), tuple(args.runs), args.out, export)
    (ensemble_runs if args.step == "ensemble" else soup_runs)(join)
