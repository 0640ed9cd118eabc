"""Shared command-line options for choosing a model or an ensemble."""

from __future__ import annotations

import argparse
import sys

from affectstream.core.temporal.checkpoint import unfinished_warning
from affectstream.training.evaluation import Ensemble, load_ensemble, load_models


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--checkpoint", nargs="+", metavar="CKPT",
                       help="one model (.safetensors) or several, averaged as an ensemble")
    group.add_argument("--ensemble", metavar="FILE", help="an ensemble file written by `evaluate --save-ensemble`")


def models_from_args(args: argparse.Namespace) -> Ensemble:
    ensemble = load_ensemble(args.ensemble) if args.ensemble else load_models(args.checkpoint)
    for warning in filter(None, (unfinished_warning(m.path, m.meta.provenance) for m in ensemble.members)):
        print(warning, file=sys.stderr)
    return ensemble


def model_inputs(args: argparse.Namespace, ensemble: Ensemble) -> dict[str, object]:
    """The model files a command reads: --checkpoint's, or --ensemble's file and its members."""
    if args.ensemble:
        return {"--ensemble": args.ensemble, "--ensemble member": [m.path for m in ensemble.members]}
    return {"--checkpoint": args.checkpoint}
