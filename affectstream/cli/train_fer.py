"""`affectstream train-fer`: train the expr-cnn backbone on FER2013 and ship it.

Trains on `Training`, keeps the epoch with the best `PublicTest` accuracy, then
(unless --no-finalize) reports `PrivateTest` metrics, writes the confusion and
curve plots, exports ONNX (checked against torch) and copies everything the
extractor needs into --export-dir. Re-running the same command resumes from
``<out>/last.pt`` (on the same --data file only); ``--budget-minutes`` makes the run anneal and stop on time.

Each step writes into a folder of its own kind only, known by the file that step alone writes there: a training
run by its config.json, an ensemble by members.json, a soup by soup.json. Another kind of folder, or files no step
marked, are refused untouched, and one command at a time writes into a folder (a lock, held to the end).
"""

from __future__ import annotations

import argparse
import os
import shlex
from dataclasses import replace
from pathlib import Path

from affectstream.core.atomic import (Output, check_inputs_kept, check_writable_dir, not_ours, output_folder_lock,
                                 written_file)
from affectstream.cli._types import count, output_path, positive_int, positive_number, seed
from affectstream.core.default_model import ASSETS

# A command may default to the project's shared data; library code never does.
DEFAULT_NPZ = Path(__file__).resolve().parents[3] / "shared" / "data" / "fer2013" / "fer2013.npz"
UNIT_METRICS = ASSETS / "expr-cnn-fast-int8" / "metrics.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=DEFAULT_NPZ, help="fer2013.npz (default: ../shared/data/fer2013)")
    parser.add_argument("--out", type=output_path, default=Path("runs/fer2013"),
                        help="run folder (resume state, history, plots); a folder another step or command wrote is "
                             "refused")
    parser.add_argument("--export-dir", type=Path, default=None, help="where to ship weights, ONNX, plots and metrics (e.g. assets/expr-cnn)")
    parser.add_argument("--epochs", type=positive_int, default=60, help="most epochs (a budget may stop earlier)")
    parser.add_argument("--budget-minutes", type=positive_number, default=None, help="wall-clock training budget; the LR schedule anneals to fit it")
    parser.add_argument("--batch-size", type=positive_int, default=128)
    parser.add_argument("--lr", type=positive_number, default=0.05)
    parser.add_argument("--threads", type=positive_int, default=2)
    parser.add_argument("--device", default="auto", type=_device, help="auto (cuda when present), cpu or cuda")
    parser.add_argument("--no-bf16", action="store_true", help="train in float32 instead of bfloat16 autocast")
    parser.add_argument("--limit-train", type=positive_int, default=None, help="train on a fixed random subset (smoke tests)")
    parser.add_argument("--limit-eval", type=positive_int, default=None, help="evaluate on a fixed random subset (smoke tests)")
    parser.add_argument("--seed", type=seed, default=0, help="a whole number from 0 to 2**32-1")
    parser.add_argument("--widths", type=_widths, default=None, metavar="W1,W2,W3,W4",
                        help="channels of the four residual stages (default 32,64,128,256; wider members for an "
                        "ensemble, e.g. 48,96,192,384)")
    parser.add_argument("--dropout", type=float, default=None, help="dropout before the classifier (default 0.3)")
    parser.add_argument("--mix", choices=("none", "mixup", "cutmix"), default="none",
                        help="blend pairs of training faces and their targets (default none)")
    parser.add_argument("--mix-alpha", type=float, default=1.0, help="Beta(alpha, alpha) of the blend share (with --mix)")
    parser.add_argument("--mix-prob", type=float, default=0.5, help="share of batches that are mixed (with --mix)")
    parser.add_argument("--init-from", type=Path, default=None,
                        help="start from these weights (a best.safetensors) with a fresh LR cycle: a warm restart")
    parser.add_argument("--teacher", type=Path, default=None,
                        help="distil: also learn this expr-cnn's soft outputs (e.g. assets/expr-cnn/expr_cnn.safetensors, "
                        "the ensemble; each face and its mirror), not only the labels")
    parser.add_argument("--distill-weight", type=float, default=0.7,
                        help="share of the teacher's term in the loss (with --teacher)")
    parser.add_argument("--temperature", type=float, default=2.0, help="distillation temperature (with --teacher)")
    parser.add_argument("--consistent-teacher", action="store_true",
                        help="run the teacher on every augmented view the student sees (about twice the step's cost) "
                        "instead of once per face (with --teacher)")
    parser.add_argument("--ensemble", type=Path, nargs="+", metavar="RUN", default=None,
                        help="combine these finished runs' best weights into one expr-cnn in --out (probabilities "
                        "averaged, embeddings side by side), then finalize it; no training")
    parser.add_argument("--soup", type=Path, nargs="+", metavar="RUN", default=None,
                        help="average the weights of these finished runs (one network shape, fine-tuned from one "
                        "start, e.g. assets/expr-cnn-fast and distillations started from it) greedily on PublicTest "
                        "into one network in --out (a model soup), then finalize it; no training")
    parser.add_argument("--choose-members", type=Path, nargs="+", metavar="RUN", default=None,
                        help="score every subset of these finished runs on PublicTest (mirror image added) within "
                        "--max-ms per face, best first, and write <out>/member_choice.json; no training")
    parser.add_argument("--max-ms", type=positive_number, default=5.0, help="cost per face a chosen subset may have (with "
                        "--choose-members; estimated from the networks' size)")
    parser.add_argument("--reference-ms", type=positive_number, default=None,
                        help="measured cost per face of one expr-cnn-fast network with its mirror image, the unit of "
                        "the estimate (default: assets/expr-cnn-fast-int8's measured figure)")
    parser.add_argument("--flip-tta", action="store_true",
                        help="ship the graph that also runs each face's mirror image (twice the cost per face)")
    parser.add_argument("--int8", action="store_true",
                        help="ship int8 graphs, quantized with ranges from Training faces (about half the cost per "
                        "face); the float graph is measured beside them")
    parser.add_argument("--int8-keep-float", type=count, default=0, metavar="K",
                        help="with --int8: leave the K Conv/Gemm nodes that lose most to int8 in float (ranked on "
                        "Training faces; e.g. 1 keeps the first convolution float, about 0.3 ms more per face)")
    parser.add_argument("--finalize-only", action="store_true", help="skip training; evaluate and export <out>/best.safetensors")
    parser.add_argument("--no-finalize", action="store_true", help="train only")
    parser.add_argument("--card-only", action="store_true",
                        help="only (re)write MODEL_CARD.md in --export-dir from its JSON files (after `bench fer`)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (log files)")


def run(args: argparse.Namespace) -> int:
    from affectstream.cli.main import CommandError

    # This command's own process, before torch loads OpenMP: spinning worker threads lose their time
    # slices when other processes share the 2 cores (measured 45 -> 101 img/s under load). Set it
    # yourself to override.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    if args.card_only:
        if args.export_dir is None:
            raise CommandError("--card-only needs --export-dir (the folder with metrics.json)")
        from affectstream.training.fer.card import write_card

        print(f"wrote {write_card(args.export_dir)}")
        return 0
    check_writable_dir(args.out)  # a file there was "File exists" after the data had loaded
    if sum(bool(x) for x in (args.ensemble, args.soup, args.choose_members)) > 1:
        raise CommandError("--ensemble, --soup and --choose-members are separate steps: give one of them")
    if args.int8_keep_float and not args.int8:
        raise CommandError("--int8-keep-float needs --int8 (it chooses which nodes of the int8 graph stay float)")
    if args.consistent_teacher and not args.teacher:
        raise CommandError("--consistent-teacher needs --teacher (the weights to distil from)")
    check_inputs_kept(run_inputs(args), run_outputs(args))
    check_own_output(args)  # before the data loads; again under the folder's lock
    from affectstream.training.fer.data import fixed_sample, load_fer2013
    from affectstream.training.fer.distill import DistillConfig
    from affectstream.training.fer.loop import TrainConfig
    from affectstream.training.fer.mixing import MixConfig
    from affectstream.training.fer.model import ExprNetConfig

    splits = load_fer2013(args.data)
    train_split, val_split, test_split = splits["Training"], splits["PublicTest"], splits["PrivateTest"]
    if args.limit_train:
        train_split = fixed_sample(train_split, args.limit_train, seed=args.seed)
    if args.limit_eval:
        val_split = fixed_sample(val_split, args.limit_eval, seed=args.seed)
        test_split = fixed_sample(test_split, args.limit_eval, seed=args.seed)
    cfg = replace(
        TrainConfig(),
        epochs=args.epochs, budget_minutes=args.budget_minutes, batch_size=args.batch_size, lr=args.lr,
        threads=args.threads, device=args.device, bf16=not args.no_bf16, seed=args.seed,
        init_from=str(args.init_from) if args.init_from else None,
        distill=DistillConfig(str(args.teacher), args.distill_weight, args.temperature, args.consistent_teacher)
        if args.teacher else None,
        mix=MixConfig(args.mix, args.mix_alpha, args.mix_prob),
        model=replace(ExprNetConfig(), **({"widths": args.widths} if args.widths else {}),
                      **({"dropout": args.dropout} if args.dropout is not None else {})),
    )
    with output_folder_lock(args.out):
        check_own_output(args)
        return _run_step(args, cfg, train_split, val_split, test_split)


def _run_step(args: argparse.Namespace, cfg, train_split, val_split, test_split) -> int:
    """The step asked for (training, an ensemble, a soup, the member choice), then finalizing unless told not to."""
    from affectstream.training.fer.loop import train

    if args.choose_members:
        _choose_members(args, val_split)
        return 0
    if args.soup:
        import torch

        from affectstream.training.fer.soup import greedy_soup, write_soup

        torch.set_num_threads(args.threads)
        soup = greedy_soup(args.soup, val_split)
        print(f"wrote {write_soup(soup, args.out)}: {len(soup.kept)} of {len(args.soup)} runs averaged, "
              f"PublicTest {soup.public_test_accuracy:.4f}")
    elif args.ensemble:
        from affectstream.training.fer.ensemble import combine_runs

        print(f"wrote {combine_runs(args.ensemble, args.out)} ({len(args.ensemble)} members)")
    elif not args.finalize_only:
        result = train(cfg, train_split, val_split, args.out, progress_bar=not args.no_progress, data_file=args.data)
        print(f"best PublicTest accuracy {result.best_val_acc:.4f} at epoch {result.best_epoch}; "
              f"training wall time {result.wall_seconds / 60:.1f} min")
    if args.no_finalize:
        return 0
    from affectstream.training.fer.finalize import finalize

    finalize(args.out, val_split, test_split, export_dir=args.export_dir, threads=args.threads, flip_tta=args.flip_tta,
             int8_calibration=train_split if args.int8 else None, int8_keep_float=args.int8_keep_float)
    return 0


# What train-fer reads of each finished run it is given (--ensemble, --soup, --choose-members).
RUN_FILES_READ = ("best.safetensors", "history.json", "config.json", "curves.png")


CHOICE_FILE = "member_choice.json"


def run_inputs(args: argparse.Namespace) -> dict[str, object]:
    """The files train-fer reads: the data, the weights it starts or distils from, the finished runs' files."""
    runs = {"--ensemble": args.ensemble, "--soup": args.soup, "--choose-members": args.choose_members}
    read = {option: [run / name for run in folders or () for name in RUN_FILES_READ]
            for option, folders in runs.items()}
    return {"--data": args.data, "--init-from": args.init_from, "--teacher": args.teacher} | read


def run_outputs(args: argparse.Namespace) -> list[Output]:
    """The files any step may write into --out (training, an ensemble or soup, the member choice, finalizing)
    and those finalizing ships into --export-dir."""
    from affectstream.training.fer.distill import TARGETS_FILE
    from affectstream.training.fer.ensemble import MEMBERS_FILE, member_curves_name
    from affectstream.training.fer.finalize import SHIPPED
    from affectstream.training.fer.soup import SOUP_FILE, SOUP_PLOT

    curves = [member_curves_name(i) for i in range(len(args.ensemble or ()))]
    into_run = ("best.safetensors", "last.pt", "expr_cnn_alternative.onnx", CHOICE_FILE, TARGETS_FILE,
                MEMBERS_FILE, SOUP_FILE, SOUP_PLOT, *SHIPPED, *curves)
    shipped = [written_file("--export-dir", args.export_dir, name) for name in (*SHIPPED, *curves)] \
        if args.export_dir else []
    return [written_file("--out", args.out, name) for name in dict.fromkeys(into_run)] + shipped


# The file only that step writes into its folder: what tells the folder's kind.
KIND_MARKERS = {"training run": "config.json", "ensemble": "members.json", "soup": "soup.json"}
TRAINING_FILES = ("config.json", "last.pt", "history.json")  # only training writes these
WRITTEN_BY_SOME_STEP = ("best.safetensors", "metrics.json", "expr_cnn.onnx", "expr_cnn.safetensors")


def step_name(args: argparse.Namespace) -> str:
    steps = (("--ensemble", args.ensemble), ("--soup", args.soup), ("--finalize-only", args.finalize_only))
    return next((f"train-fer {option}" for option, given in steps if given), "train-fer")


def folder_kind(folder: Path) -> tuple[str, list[str]]:
    """(kind, its files): "" for a folder holding no train-fer output, a KIND_MARKERS kind, "weights" for expr-cnn
    weights alone (a run unpacked without its history: finalizing may add to it), or "files" for what no step can
    vouch for (outputs without a marker, or markers of two kinds)."""
    there = [name for name in dict.fromkeys([*KIND_MARKERS.values(), *TRAINING_FILES, *WRITTEN_BY_SOME_STEP])
             if (folder / name).exists()]
    kinds = [kind for kind, marker in KIND_MARKERS.items() if marker in there]
    if any(name in there for name in TRAINING_FILES) and "training run" not in kinds:
        kinds.append("files")  # a resume point or history without the run's config
    if len(kinds) == 1 and kinds[0] != "files" and _marker_is_ours(folder, kinds[0]):
        return kinds[0], there
    if there == ["best.safetensors"] and _is_expr_cnn_weights(folder / there[0]):
        return "weights", there
    return ("files" if there else ""), there


def _is_expr_cnn_weights(path: Path) -> bool:
    """A safetensors file with an expr-cnn network's (or ensemble's) config in its metadata, as train-fer writes."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
    except Exception:  # noqa: BLE001 - safetensors raises its own error type for a file that is not one
        return False
    return "model" in meta or "members" in meta


def _marker_is_ours(folder: Path, kind: str) -> bool:
    """The marker holds what train-fer writes there (another tool's config.json is not a run's)."""
    import json

    try:
        data = json.loads((folder / KIND_MARKERS[kind]).read_text())
    except (OSError, ValueError):
        return False
    if kind == "training run":
        return isinstance(data, dict) and {"model", "epochs", "lr"} <= data.keys()
    return isinstance(data, list) if kind == "ensemble" else isinstance(data, dict) and "ingredients" in data


def check_own_output(args: argparse.Namespace) -> None:
    """The step writes (or finalizes) only into a folder of its own kind, or one without any train-fer output."""
    if args.choose_members:
        _check_own_choice(args.out)
        return
    wanted = "soup" if args.soup else "ensemble" if args.ensemble else "training run"
    kind, there = folder_kind(args.out)
    # Finalizing adds its files to a folder of any kind (an empty one: it says there are no weights to finalize).
    own = kind != "files" if args.finalize_only else kind in ("", wanted)
    if not own:
        what = {"files": "a folder of files no train-fer step vouches for",
                "weights": "expr-cnn weights without their run's files"}.get(kind, f"a train-fer {kind}")
        raise not_ours("--out", args.out, f"{what} ({', '.join(there)})", step_name(args))


def _check_own_choice(out: Path) -> None:
    import json

    path = out / CHOICE_FILE
    try:
        ours = not path.exists() or "ranked" in json.loads(path.read_text())
    except (OSError, ValueError, TypeError):
        ours = False
    if not ours:
        raise not_ours("--out", out, f"a {CHOICE_FILE} that is no member choice", "train-fer --choose-members")


def _widths(text: str) -> tuple[int, ...]:
    """'48,96,192,384' -> (48, 96, 192, 384): four positive channel counts."""
    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        widths = ()
    if len(widths) != 4 or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"expected four positive channel counts like 48,96,192,384, got {text!r}")
    return widths


def _device(text: str) -> str:
    """auto, or a device torch knows (cpu, cuda, cuda:1, ...)."""
    import torch

    if text != "auto":
        try:
            torch.device(text)
        except RuntimeError:
            raise argparse.ArgumentTypeError(f"auto, cpu, cuda or cuda:N, got {text!r}") from None
    return text


def _choose_members(args: argparse.Namespace, val_split) -> None:
    """Rank subsets of finished runs on PublicTest within the cost per face; print the best, write them as JSON."""
    import json

    import torch

    from affectstream.core.atomic import write_text_atomic
    from affectstream.training.fer.selection import choose_members, reference_ms

    torch.set_num_threads(args.threads)
    unit = args.reference_ms if args.reference_ms is not None else reference_ms(UNIT_METRICS)
    choice = choose_members(args.choose_members, val_split, unit, args.max_ms)
    for c in choice.ranked[:10]:
        print(f"members {','.join(map(str, c.members)):<14} PublicTest {c.public_test_accuracy:.4f}  "
              f"about {c.estimated_ms:.2f} ms per face")
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out / CHOICE_FILE, json.dumps(choice.to_json(), indent=2) + "\n")
    chosen = [str(run) for run in choice.chosen()]
    how = (["--ensemble", *chosen, "--out", "RUN"] if len(chosen) > 1 else ["--out", chosen[0], "--finalize-only"])
    command = shlex.join(["affectstream", "train-fer", *how, "--flip-tta", "--int8", "--export-dir", "DIR"])
    print(f"chosen: {', '.join(chosen)}; wrote {args.out / CHOICE_FILE}\nnext: {command}")
