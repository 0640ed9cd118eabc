"""A benchmark's --out replaces only that benchmark's own earlier output, never another file.

A bench's JSON carries ``"bench": "<name>"`` and its PNG (bench labels) a PNG text entry of the same
name: that is how a later run knows the file at its --out is its own. Anything else already there (a
video, notes, another bench's results) is refused before the work, in one line.
"""

from __future__ import annotations

import json
from pathlib import Path

from affectstream.core.atomic import not_ours, require_writable_file

MARKER = "bench"  # the JSON key, and the PNG text key, that names the bench which wrote the file
MAX_JSON_BYTES = 64 << 20  # far above any bench's JSON: a bigger file is not read to be recognised


def json_bench(path: Path) -> str | None:
    """The bench that wrote the JSON file at ``path`` (its ``"bench"`` value), or None where it is no
    bench's JSON (not JSON, not an object, no marker, too big to be one)."""
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            return None
        with open(path, "rb") as handle:
            if handle.read(64).lstrip()[:1] != b"{":  # a video or a text file: not read whole
                return None
            handle.seek(0)
            data = json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None
    name = data.get(MARKER) if isinstance(data, dict) else None
    return name if isinstance(name, str) else None


def png_bench(path: Path) -> str | None:
    """The bench named in a PNG's text entries (written by ``png_metadata``), or None (not a PNG, none named)."""
    from PIL import Image

    try:
        with Image.open(path) as image:  # reads the header chunks only, not the pixels
            name = image.info.get(MARKER) if image.format == "PNG" else None
    except Exception:  # noqa: BLE001 - whatever the file is, it is then not our PNG
        return None
    return name if isinstance(name, str) else None


def png_metadata(bench: str) -> dict[str, str]:
    """The text entries a bench's PNG carries (matplotlib's savefig ``metadata``)."""
    return {MARKER: bench}


def require_own_output(path: str | Path, bench: str, option: str = "--out", kind: str = "json",
                       shown: str | None = None) -> Path:
    """``path`` as a file ``bench`` may write: nothing there yet, or its own earlier output (``kind`` "json"
    or "png"); checked before the work. Anything else is refused (OutputPathError: one line, exit 2) naming
    ``shown`` (default: ``path``), e.g. the --out a PNG is written beside."""
    target = require_writable_file(path, option)  # a folder, FIFO or device, or an unwritable folder
    if not target.exists():
        return target
    found = json_bench(target) if kind == "json" else png_bench(target)
    if found == bench:
        return target
    what = "result JSON" if kind == "json" else "plot PNG"
    there = f"a bench {found} {what}" if found else f"a file that is no bench {bench} {what}"
    raise not_ours(option, shown or path, there, f"bench {bench}")


def json_and_plot_paths(out: Path, bench: str) -> Path:
    """The PNG written beside a bench's result JSON (``out`` with .png), both checked as ``bench``'s to write."""
    from affectstream.core.errors import UserInputError

    png = out.with_suffix(".png")
    if png == out:
        raise UserInputError(f"--out {out}: the plot is written beside the JSON as {png}, so the JSON's name "
                             "must not end in .png; use e.g. .json")
    require_own_output(out, bench)  # before the work, not after; and only over its own output
    require_own_output(png, bench, kind="png", shown=f"{out} (its plot {png})")
    return png


def publish(result: dict, table: str, out: Path, png: Path, plot) -> None:
    """Print the table, then write the JSON (with the table) and the plot, each atomically."""
    from affectstream.core.atomic import write_text_atomic

    print(table)
    result["table_markdown"] = table
    write_text_atomic(out, json.dumps(result, indent=2) + "\n")
    plot(result, png)
    print(f"wrote {out} and {png}")
