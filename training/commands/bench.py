"""`affectstream bench NAME`: benchmarks that print a table and write JSON.

Each benchmark lives in its own module defining add_arguments(parser) and run(args) -> int;
it is imported only when chosen.
"""

from __future__ import annotations

import argparse
import importlib

BENCHES: dict[str, tuple[str, str]] = {
    "train": ("training.bench.train", "training throughput, peak memory and one-step streaming latency per encoder"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench", metavar="BENCH", required=True)
    for name, (module, help_text) in BENCHES.items():
        importlib.import_module(module).add_arguments(sub.add_parser(name, help=help_text, description=help_text))


def run(args: argparse.Namespace) -> int:
    return int(importlib.import_module(BENCHES[args.bench][0]).run(args) or 0)
