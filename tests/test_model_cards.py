"""Every shipped asset's MODEL_CARD.md: it exists, names its data and its terms, and every `affectstream ...`
command it gives parses against today's command line (parsed only, never run)."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import re
import shlex
from pathlib import Path

import pytest

from affectstream.cli.main import build_parser

ASSETS = Path(__file__).resolve().parents[1] / "affectstream" / "assets"
ASSET_DIRS = sorted(p for p in ASSETS.iterdir() if p.is_dir())
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`(affectstream [^`]+)`")


def card_commands(card: str) -> list[tuple[str, bool]]:
    """(command line, whole) for each `affectstream ...` line: code blocks give whole commands (continued lines
    joined, comments dropped); an inline span may name a command without its required arguments."""
    commands = []
    for block in FENCE.findall(card):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line.startswith("affectstream "):
                commands.append((line, True))
    outside = FENCE.sub("", card)
    commands += [(span, False) for span in INLINE.findall(outside)]
    return commands


def parse_error(command: str, whole: bool = True) -> str | None:
    """None when ``command`` parses against today's CLI, else argparse's message. Nothing is run."""
    argv = shlex.split(command)[1:]
    parser, _ = build_parser(argv)
    if not whole:
        _not_required(parser)
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            args = parser.parse_args(argv)
            if args.command == "bench" and args.options:  # bench parses its benchmark's options itself
                bench = importlib.import_module("affectstream.cli.bench").BENCHES[args.bench][0]
                inner = argparse.ArgumentParser(prog=f"affectstream bench {args.bench}", allow_abbrev=False)
                importlib.import_module(bench).add_arguments(inner)
                if not whole:
                    _not_required(inner)
                inner.parse_args(args.options)
    except SystemExit:
        return stderr.getvalue().strip() or "exited"
    return None


def _not_required(parser: argparse.ArgumentParser) -> None:
    """A mention of a command (`affectstream merge-models`) need not give its required arguments."""
    for group in parser._mutually_exclusive_groups:
        group.required = False
    for action in parser._actions:
        action.required = False
        if not action.option_strings and action.nargs in (None, "+"):  # positionals may be absent too
            action.nargs = {None: "?", "+": "*"}[action.nargs]
        if isinstance(action.choices, dict):  # sub-commands
            for sub in action.choices.values():
                _not_required(sub)


@pytest.mark.parametrize("asset", ASSET_DIRS, ids=lambda p: p.name)
def test_every_asset_has_a_card_naming_its_data_and_terms(asset):
    card = (asset / "MODEL_CARD.md").read_text(encoding="utf-8")
    headings = [line.lower() for line in card.splitlines() if line.startswith("## ")]
    assert any("data" in h for h in headings), f"{asset.name}: no section on its data"
    assert any("terms" in h for h in headings), f"{asset.name}: no section on its licence and terms"
    assert "Not written yet" not in card


@pytest.mark.parametrize("asset", ASSET_DIRS, ids=lambda p: p.name)
def test_every_command_in_a_card_parses_against_todays_cli(asset):
    commands = card_commands((asset / "MODEL_CARD.md").read_text(encoding="utf-8"))
    assert commands, f"{asset.name}: its card gives no command that made it"
    failed = {command: error for command, whole in commands if (error := parse_error(command, whole))}
    assert not failed, f"{asset.name}: commands that today's CLI refuses: {failed}"


@pytest.mark.parametrize("asset", [p for p in ASSET_DIRS if (p / "notes.md").is_file()], ids=lambda p: p.name)
def test_a_rendered_card_is_the_card_its_files_and_notes_give(asset):
    """`train-fer card` writes what is shipped: nobody edited the card instead of its notes."""
    from affectstream.training.fer.card import render_card

    assert render_card(asset) == (asset / "MODEL_CARD.md").read_text(encoding="utf-8")


def test_a_removed_option_or_command_is_caught():
    card = ("Made with\n\n```\naffectstream train-fer train --out runs/a \\\n  --consistent-teacher  # gone\n```\n"
            "and `affectstream train-fer --card-only --export-dir x`, `affectstream merge-models`, "
            "`affectstream bench fer --no-such-option`.\n")
    commands = card_commands(card)
    assert commands == [("affectstream train-fer train --out runs/a    --consistent-teacher", True),
                        ("affectstream train-fer --card-only --export-dir x", False),
                        ("affectstream merge-models", False), ("affectstream bench fer --no-such-option", False)]
    errors = [parse_error(command, whole) for command, whole in commands]
    assert "unrecognized arguments: --consistent-teacher" in errors[0]
    assert errors[1] is not None and errors[2] is None  # a bare mention of a command is fine
    assert "unrecognized arguments: --no-such-option" in errors[3]
    assert parse_error("affectstream train-fer train --out runs/a --seed 1") is None
