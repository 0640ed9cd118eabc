"""An asset's notes.md: the human-written parts of its model card (history, commands, data, terms).

Settings lines (``key: value``) come first, then sections under ``## Title`` headings; a section's key is its
title in lower case with spaces as underscores (``## How it was made`` -> ``how_it_was_made``). A card is
rendered without notes too: each missing section then says that it is not written yet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from affectstream.core.errors import UserInputError

NOTES_FILE = "notes.md"
SECTIONS = ("about", "commands", "how_it_was_made", "data", "earlier_models", "limitations", "terms")
SETTINGS = ("target accuracy", "target ms per face", "compare with")
_HEADING = re.compile(r"^## +(.+?) *$")
_SETTING = re.compile(r"^([a-z][a-z ]*[a-z]): *(.+)$")


@dataclass(frozen=True)
class CardNotes:
    settings: dict[str, str] = field(default_factory=dict)
    sections: dict[str, str] = field(default_factory=dict)

    def section(self, key: str) -> str:
        return self.sections.get(key, "")

    def setting(self, key: str, default: str = "") -> str:
        return self.settings.get(key, default)


def read_notes(asset_dir: Path) -> CardNotes:
    path = Path(asset_dir) / NOTES_FILE
    if not path.is_file():
        return CardNotes()
    settings: dict[str, str] = {}
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    in_comment = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        heading = _HEADING.match(line)
        if heading:
            key = heading.group(1).lower().replace(" ", "_")
            if key not in SECTIONS:
                raise UserInputError(f"{path}:{number}: unknown section {heading.group(1)!r}; sections: "
                                     f"{', '.join(s.replace('_', ' ') for s in SECTIONS)}")
            current = sections.setdefault(key, [])
        elif current is not None:
            current.append(line)
        elif in_comment or line.startswith("<!--"):  # a comment for whoever edits the file
            in_comment = "-->" not in line
        elif (setting := _SETTING.match(line)) and setting.group(1) in SETTINGS:
            settings[setting.group(1)] = setting.group(2).strip()
        elif line.strip():
            raise UserInputError(f"{path}:{number}: before the first section only settings ({', '.join(SETTINGS)})")
    return CardNotes(settings, {key: "\n".join(lines).strip("\n") for key, lines in sections.items()})
