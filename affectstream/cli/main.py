"""The `affectstream` command line: one subcommand per module, imported only when used."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from typing import Sequence

# name -> (module, one-line help). A module defines add_arguments(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("affectstream.cli.train", "train a multi-task temporal model on ABAW-format data"),
    "evaluate": ("affectstream.cli.evaluate", "evaluate checkpoints (or an ensemble) on labelled data"),
    "merge-models": ("affectstream.cli.merge_models",
                     "several trained GRU/LSTM models as one checkpoint computing their mean (an ensemble at one call)"),
    "cv-thresholds": ("affectstream.cli.cv_thresholds", "a model's AU thresholds tuned on its cross-validation "
                      "folds' out-of-fold predictions"),
    "fit-au": ("affectstream.cli.fit_au", "a trained model's AU output replaced by a calibrated linear readout fitted "
               "on every CK+ subject (thresholds and calibration cross-validated)"),
    "predict": ("affectstream.cli.predict", "write predictions in the ABAW submission layout"),
    "synth": ("affectstream.cli.synth", "write a synthetic ABAW-format data set with planted temporal structure"),
    "extract": ("affectstream.cli.extract", "extract per-frame face features of videos and face folders into the feature store"),
    "fer-sequences": ("affectstream.cli.fer_sequences",
                      "import-stills with FER2013 alone (real expression labels; --weak-labels adds rule-made VA/AU)"),
    "import-stills": ("affectstream.cli.import_stills", "turn labelled still-image sets (FER2013, CK+ AUs, "
                      "DiffusionFER VA, your CSV) into ABAW-format training data"),
    "import-annotations": ("affectstream.cli.import_annotations",
                           "a video and its ELAN annotations (.eaf) as ABAW-format training data (labels per frame, "
                           "features through the live path)"),
    "import-afew-va": ("affectstream.cli.import_afew_va",
                       "turn AFEW-VA clips (film video, per-frame human valence/arousal) into ABAW-format training data"),
    "train-fer": ("affectstream.cli.train_fer", "train the expr-cnn expression backbone on FER2013 and export it"),
    "annotate": ("affectstream.cli.annotate", "write a per-frame results CSV and a summary PNG for each video"),
    "export": ("affectstream.cli.export", "an annotate results CSV as an ELAN document (.eaf) or in OpenFace 2's "
               "CSV columns"),
    "app": ("affectstream.cli.app", "the desktop app: live webcam or video analysis with plots, review and demo modes"),
    "bench": ("affectstream.cli.bench", "benchmarks that print figures and write JSON"),
}


class CommandError(Exception):
    """A user-facing error: printed without a traceback, exit status 2."""


def build_parser(argv: Sequence[str]) -> tuple[argparse.ArgumentParser, str | None]:
    # No abbreviated options: a prefix such as --rest would otherwise mean --restart, which deletes a run.
    parser = argparse.ArgumentParser(prog="affectstream", description=__doc__, allow_abbrev=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Only the chosen command's module is imported: `affectstream train` must not
    # pay for Qt or mediapipe imports.
    chosen = next((a for a in argv if a in COMMANDS), None)
    for name, (module, help_text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text, allow_abbrev=False)
        if name == chosen:
            importlib.import_module(module).add_arguments(cmd)
    return parser, chosen


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _stop_on_sigterm():
    """SIGTERM raised as KeyboardInterrupt while a command runs; the handler it replaced (None where signals
    cannot be set: a thread other than the main one)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    before = signal.signal(signal.SIGTERM, _interrupt)
    return signal.SIG_DFL if before is None else before  # None: set outside Python, i.e. the default


def _runs_a_window(args: argparse.Namespace) -> bool:
    # Qt's event loop seldom returns to Python: a KeyboardInterrupt there would be printed, not stop the app.
    # Those commands set their own SIGINT and SIGTERM handlers around the loop (affectstream.app.stop_signals).
    return args.command == "app" or (args.command == "bench" and getattr(args, "bench", "") == "gui")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, chosen = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module = importlib.import_module(COMMANDS[args.command][0])
    from affectstream.cli.text import PrintableStream

    # Names read from files (models, videos, CSV cells) reach the terminal: none may drive it.
    stdout, sys.stdout = sys.stdout, PrintableStream(sys.stdout)
    # `kill` or `timeout` stops a command as Ctrl-C does: its temporary files and folders are removed on the way out.
    on_term = None if _runs_a_window(args) else _stop_on_sigterm()
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - user-facing errors are printed plainly
        if _is_user_error(exc):
            from affectstream.cli.text import printable

            print(printable(f"affectstream {args.command}: error: {_user_message(exc)}"), file=sys.stderr)
            return 2
        raise
    finally:
        sys.stdout = stdout
        if on_term is not None:
            signal.signal(signal.SIGTERM, on_term)


def _is_user_error(exc: Exception) -> bool:
    from affectstream.core.errors import UserInputError

    # An operating-system error (a read-only or full disk, a folder where a file goes, no permission) is
    # the machine's state, not a defect: said plainly with its path, never as a traceback.
    return isinstance(exc, (CommandError, UserInputError, OSError))


def _user_message(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}"
    return str(exc)


if __name__ == "__main__":
    sys.exit(main())
