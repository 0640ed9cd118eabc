"""`affectstream bench synthetic`: a GRU carrying its state against a frame-wise MLP on synthetic data.

Writes a synthetic ABAW-format data set with planted temporal structure, trains a GRU that carries its hidden
state across segments, the same GRU resetting it at every segment, and a frame-wise MLP on it, and prints their
validation scores side by side. (It was `affectstream demo` before; the app's demo mode is `app --demo`.)

A --workdir is this benchmark's own once it holds its marker (written before anything else): its data is written
again and its runs restarted there on the next run. A folder whose data/ or runs/ it did not make is refused,
untouched.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from affectstream.core.argtypes import seed
from affectstream.core.atomic import (check_writable_dir, not_ours, read_json_object, require_writable_file,
                                      write_text_atomic)
from affectstream.core.errors import require_at_least
from affectstream.training.loop import TrainOptions, train
from affectstream.training.synthetic import SyntheticConfig, write_synthetic

COMMAND = "bench synthetic"
# name -> (encoder, carry state, description)
CONTENDERS = {
    "gru": ("gru", True, "GRU, hidden state carried across segments"),
    "gru-no-carry": ("gru", False, "GRU, hidden state reset at every segment"),
    "mlp": ("mlp", True, "frame-wise MLP (no temporal context)"),
}
# The marker keeps the name it had under `demo`, so that a workdir of an earlier run stays this benchmark's own.
WORKDIR_MARKER = ".affectstream-demo.json"
WORKDIR_FORMAT = "affectstream-demo-workdir"
WORKDIR_PARTS = ("data", "runs")  # what the benchmark writes into its workdir, and writes again on the next run


@dataclass(frozen=True)
class SyntheticBenchOptions:
    out: str = "bench-results/synthetic.json"  # JSON with every contender's result
    workdir: str | None = None  # where data and runs go; None: a temporary folder
    epochs: int = 12  # GRU epochs
    mlp_epochs: int = 40  # the MLP's epochs are cheap: it trains to a plateau, not lost by under-training
    hidden: int = 128
    seq_len: int = 100  # shorter than the paper's 250 so that more episodes cross a segment boundary
    lr: float = 1e-3  # higher than the paper's 5e-5: the synthetic set is small
    seed: int = 0
    videos: int = SyntheticConfig.train_videos  # training videos; validation gets a third as many
    progress: bool = True


@dataclass(frozen=True)
class SyntheticBenchResult:
    report: dict[str, Any]  # what the JSON holds
    margin_p_mtl: float  # GRU's validation P_MTL minus the MLP's


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = SyntheticBenchOptions()
    parser.add_argument("--workdir", type=_output_text,
                        help="where data and runs go (default: a temporary folder); a workdir of an earlier run is "
                             "reused, a folder holding data/ or runs/ of anything else is refused")
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="GRU epochs")
    parser.add_argument("--mlp-epochs", type=int, default=defaults.mlp_epochs,
                        help="MLP epochs: its epochs are cheap, so it trains to a plateau and the comparison "
                             "is not won by under-training the baseline")
    parser.add_argument("--hidden", type=int, default=defaults.hidden)
    parser.add_argument("--seq-len", type=int, default=defaults.seq_len,
                        help="segment length (shorter than the paper's 250 so that more episodes cross a boundary)")
    parser.add_argument("--lr", type=float, default=defaults.lr,
                        help="learning rate (higher than the paper's 5e-5: the synthetic set is small)")
    parser.add_argument("--seed", type=seed, default=defaults.seed, help="a whole number from 0 to 2**32-1")
    parser.add_argument("--videos", type=int, default=defaults.videos,
                        help="synthetic training videos (validation gets a third as many)")
    parser.add_argument("--out", type=_output_text, default=defaults.out, help="JSON with both results")
    parser.add_argument("--no-progress", action="store_true")


def _output_text(text: str) -> str:
    """An output path as given: an empty one would quietly mean the current folder (cli._types.output_text's
    rule; the cli is a layer above)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an output path, got an empty one")
    return text


def options_from_args(args: argparse.Namespace) -> SyntheticBenchOptions:
    return SyntheticBenchOptions(out=args.out, workdir=args.workdir, epochs=args.epochs, mlp_epochs=args.mlp_epochs,
                                 hidden=args.hidden, seq_len=args.seq_len, lr=args.lr, seed=args.seed,
                                 videos=args.videos, progress=not args.no_progress)


def run(args: argparse.Namespace) -> int:
    run_benchmark(options_from_args(args))
    return 0


def is_own_workdir(root: Path) -> bool:
    return (read_json_object(root / WORKDIR_MARKER) or {}).get("format") == WORKDIR_FORMAT


def check_own_workdir(root: Path) -> None:
    """The benchmark rewrites its data and restarts its runs: only in a workdir it made, or one without them."""
    there = [f"{name}/" for name in WORKDIR_PARTS if (root / name).exists()]
    if there and not is_own_workdir(root):
        raise not_ours("--workdir", root, f"a folder with {' and '.join(there)} but no {COMMAND} marker "
                       f"({WORKDIR_MARKER})", COMMAND)


def claim_workdir(root: Path) -> None:
    """Mark the workdir as the benchmark's before anything is written into it."""
    write_text_atomic(root / WORKDIR_MARKER, json.dumps({"format": WORKDIR_FORMAT}) + "\n")


def run_benchmark(options: SyntheticBenchOptions) -> SyntheticBenchResult:
    """Train every contender on a fresh synthetic set, print the comparison and write the JSON report."""
    # Checked before the minutes of training, not after them.
    require_writable_file(options.out)
    require_at_least(1, epochs=options.epochs, mlp_epochs=options.mlp_epochs, hidden=options.hidden,
                     seq_len=options.seq_len, videos=options.videos)
    if options.workdir:
        check_writable_dir(options.workdir, "--workdir")
        check_own_workdir(Path(options.workdir))
    with tempfile.TemporaryDirectory(prefix="affectstream-bench-synthetic-") as tmp:
        results = _train_contenders(options, Path(options.workdir or tmp))
    print("\nvalidation on the synthetic benchmark (best epoch, VA smoothed as chosen on validation):")
    print(f"  {'model':<44} {'P_MTL':>7} {'CCC':>7} {'exprF1':>7} {'AU F1':>7}")
    for r in results.values():
        m = r["val_metrics"]
        ccc = (m["ccc_valence"] + m["ccc_arousal"]) / 2
        print(f"  {r['description']:<44} {m['p_mtl']:7.4f} {ccc:7.4f} {m['expr_f1']:7.4f} {m['au_f1_mean']:7.4f}")
    score = {name: r["val_metrics"]["p_mtl"] for name, r in results.items()}
    margin = score["gru"] - score["mlp"]
    print(f"  GRU - MLP: {margin:+.4f} P_MTL; carrying the state across segments adds "
          f"{score['gru'] - score['gru-no-carry']:+.4f}")
    report = {"results": results, "margin_p_mtl": margin, "epochs": {"gru": options.epochs, "mlp": options.mlp_epochs},
              "hidden": options.hidden, "seq_len": options.seq_len, "lr": options.lr, "seed": options.seed,
              "torch_threads": torch.get_num_threads()}
    write_text_atomic(options.out, json.dumps(report, indent=2) + "\n")
    print(f"wrote {options.out}")
    return SyntheticBenchResult(report, margin)


def _train_contenders(options: SyntheticBenchOptions, root: Path) -> dict[str, dict[str, Any]]:
    claim_workdir(root)
    cfg = SyntheticConfig(train_videos=options.videos, val_videos=max(2, options.videos // 3), seed=options.seed)
    data = write_synthetic(root / "data", cfg)
    print(f"synthetic data in {root / 'data'}")
    base = TrainOptions(train_annotations=str(data.train_annotations), val_annotations=str(data.val_annotations),
                        features=str(data.features), backbones=data.backbones, out="", hidden=options.hidden,
                        seq_len=options.seq_len, epochs=options.epochs, lr=options.lr, seed=options.seed)
    results = {}
    for name, (encoder, carry, description) in CONTENDERS.items():
        print(f"\n== {description}")
        epochs = options.mlp_epochs if encoder == "mlp" else options.epochs
        contender = replace(base, encoder=encoder, carry_state=carry, epochs=epochs, out=str(root / "runs" / name))
        result = train(contender, restart=True, progress=options.progress)
        results[name] = {"description": description, "best_epoch": result.best_epoch,
                         "val_metrics": result.val_metrics}
    return results
