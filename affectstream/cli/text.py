"""Text from files (model names, video names) made safe to print on a terminal."""

from __future__ import annotations

import re

# C0 and C1 control characters (ESC among them: ANSI colour, cursor and title sequences) and DEL;
# newlines and tabs stay, as messages use them.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: object) -> str:
    """``text`` with control characters shown as escapes, so a name cannot drive the terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


class PrintableStream:
    """A text stream that writes through ``printable``: for a command's standard output."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(printable(text))
        return len(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)
