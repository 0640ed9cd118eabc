"""`affectstream app`: the desktop app (live webcam or video analysis, review, demo). See affectstream/app/."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", default=None,
                        help="a camera index (0, 1, ...) or a video file (default: the camera in the settings)")
    parser.add_argument("--demo", action="store_true",
                        help="full-screen demo mode (Space pause, F full screen, Esc/Q quit)")
    parser.add_argument("--model", default=None,
                        help="checkpoint (.safetensors) for this session (default: the settings', else the "
                             "shipped model)")
    parser.add_argument("--settings", default=None, metavar="INI",
                        help="keep settings in this INI file instead of the user's (for scripts and tests)")


def run(args: argparse.Namespace) -> int:
    try:
        from affectstream.app.launch import LaunchOptions, parse_source, run_app
    except ImportError as exc:  # the GUI extra is optional
        from affectstream.cli.main import CommandError

        raise CommandError(f"the app needs PySide6 and pyqtgraph (pip install -e '.[gui]'): {exc}") from exc
    return run_app(LaunchOptions(parse_source(args.source), args.demo, args.model, args.settings))
