"""`affectstream demo`: the synthetic benchmark.

Writes a synthetic ABAW-format data set with planted temporal structure, trains a
GRU that carries its hidden state across segments and a frame-wise MLP on it with
the same budget, and prints both validation scores side by side.

A --workdir is demo's own once it holds demo's marker (written before anything else): its data is written again and
its runs restarted there on the next demo. A folder whose data/ or runs/ demo did not make is refused, untouched.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from affectstream.core.atomic import check_writable_dir, not_ours, read_json_object, require_writable_file, write_text_atomic
from affectstream.core.errors import require_at_least
from affectstream.training.synthetic import SyntheticConfig, write_synthetic
from affectstream.training.loop import TrainOptions, train
from affectstream.cli._types import output_text, seed

# name -> (encoder, carry state, description)
CONTENDERS = {
    "gru": ("gru", True, "GRU, hidden state carried across segments"),
    "gru-no-carry": ("gru", False, "GRU, hidden state reset at every segment"),
    "mlp": ("mlp", True, "frame-wise MLP (no temporal context)"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", type=output_text,
                        help="where data and runs go (default: a temporary folder); a workdir of an earlier demo is "
                             "reused, a folder holding data/ or runs/ of anything else is refused")
    parser.add_argument("--epochs", type=int, default=12, help="GRU epochs")
    parser.add_argument("--mlp-epochs", type=int, default=40,
                        help="MLP epochs: its epochs are cheap, so it trains to a plateau and the comparison "
                             "is not won by under-training the baseline")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--seq-len", type=int, default=100,
                        help="segment length (shorter than the paper's 250 so that more episodes cross a boundary)")
    parser.add_argument("--lr", type=float, default=1e-3,
                        help="learning rate (higher than the paper's 5e-5: the synthetic set is small)")
    parser.add_argument("--seed", type=seed, default=0, help="a whole number from 0 to 2**32-1")
    parser.add_argument("--videos", type=int, default=SyntheticConfig.train_videos,
                        help="synthetic training videos (validation gets a third as many)")
    parser.add_argument("--out", type=output_text, default="bench-results/synthetic.json",
                        help="JSON with both results")
    parser.add_argument("--no-progress", action="store_true")


WORKDIR_MARKER = ".affectstream-demo.json"
WORKDIR_FORMAT = "affectstream-demo-workdir"
WORKDIR_PARTS = ("data", "runs")  # what demo writes into its workdir, and writes again on the next demo


def is_demo_workdir(root: Path) -> bool:
    return (read_json_object(root / WORKDIR_MARKER) or {}).get("format") == WORKDIR_FORMAT


def check_own_workdir(root: Path) -> None:
    """Demo rewrites its data and restarts its runs: only in a workdir it made, or one without them."""
    there = [f"{name}/" for name in WORKDIR_PARTS if (root / name).exists()]
    if there and not is_demo_workdir(root):
        raise not_ours("--workdir", root, f"a folder with {' and '.join(there)} but no demo marker ({WORKDIR_MARKER})",
                       "demo")


def claim_workdir(root: Path) -> None:
    """Mark the workdir as demo's before anything is written into it."""
    write_text_atomic(root / WORKDIR_MARKER, json.dumps({"format": WORKDIR_FORMAT}) + "\n")


def run(args: argparse.Namespace) -> int:
    # Checked before the minutes of training, not after them.
    require_writable_file(args.out)
    require_at_least(1, epochs=args.epochs, mlp_epochs=args.mlp_epochs, hidden=args.hidden, seq_len=args.seq_len,
                     videos=args.videos)
    if args.workdir:
        check_writable_dir(args.workdir, "--workdir")
        check_own_workdir(Path(args.workdir))
    with tempfile.TemporaryDirectory(prefix="affectstream-demo-") as tmp:
        root = Path(args.workdir or tmp)
        claim_workdir(root)
        cfg = SyntheticConfig(train_videos=args.videos, val_videos=max(2, args.videos // 3), seed=args.seed)
        data = write_synthetic(root / "data", cfg)
        print(f"synthetic data in {root / 'data'}")
        base = TrainOptions(
            train_annotations=str(data.train_annotations),
            val_annotations=str(data.val_annotations),
            features=str(data.features),
            backbones=data.backbones,
            out="",
            hidden=args.hidden,
            seq_len=args.seq_len,
            epochs=args.epochs,
            lr=args.lr,
            seed=args.seed,
        )
        results = {}
        for name, (encoder, carry, description) in CONTENDERS.items():
            print(f"\n== {description}")
            epochs = args.mlp_epochs if encoder == "mlp" else args.epochs
            options = replace(base, encoder=encoder, carry_state=carry, epochs=epochs, out=str(root / "runs" / name))
            result = train(options, restart=True, progress=not args.no_progress)
            results[name] = {"description": description, "best_epoch": result.best_epoch,
                             "val_metrics": result.val_metrics}
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
    report = {"results": results, "margin_p_mtl": margin, "epochs": {"gru": args.epochs, "mlp": args.mlp_epochs},
              "hidden": args.hidden,
              "seq_len": args.seq_len, "lr": args.lr, "seed": args.seed, "torch_threads": torch.get_num_threads()}
    write_text_atomic(args.out, json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0
