"""Shared command-line options for choosing a model or an ensemble."""

from __future__ import annotations

import argparse

from affectstream.training.model_choice import ModelChoice


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--checkpoint", nargs="+", metavar="CKPT",
                       help="one model (.safetensors) or several, averaged as an ensemble")
    group.add_argument("--ensemble", metavar="FILE", help="an ensemble file written by `evaluate --save-ensemble`")


def model_choice(args: argparse.Namespace) -> ModelChoice:
    return ModelChoice(tuple(args.checkpoint or ()), args.ensemble)
