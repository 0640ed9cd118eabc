"""What an import-stills run writes into its output folder, and what it removes of an earlier import there."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Sequence

from affectstream.core.atomic import Output, cleared_folder, written_file
from affectstream.training.stills import FOLDS_DIR, SPLIT_FILES, SUMMARY_FILE, by_set_file
from affectstream.training.stills.sets import StillSet


def import_outputs(out: Path, cache: Path | None) -> list[Output]:
    """The files an import writes into ``out``, and the folders whose earlier files it deletes or replaces."""
    replaces = "import-stills replaces an earlier import's files there"
    folders = [cleared_folder("--out", out, replaces, inside) for inside in ("by_set", FOLDS_DIR, "features")]
    stills = cleared_folder("--cache", cache, "import-stills writes its per-still features there") \
        if cache else cleared_folder("--out", out, "import-stills caches per-still features there", "stills")
    files = [written_file("--out", out, name) for name in (*SPLIT_FILES.values(), SUMMARY_FILE)]
    return [*folders, stills, *files]


def forget_earlier_import(out: Path, still_sets: Sequence[StillSet], splits: Sequence[str]) -> None:
    """The annotation files of the splits this import writes, and the summaries (another split's files stay:
    their pseudo-videos, and so their features, are not written again)."""
    folders = [out] + (sorted(p for p in (out / FOLDS_DIR).iterdir() if p.is_dir())
                       if (out / FOLDS_DIR).is_dir() else [])
    for folder in folders:
        for split in splits:
            (folder / SPLIT_FILES[split]).unlink(missing_ok=True)
            for stills in still_sets:
                by_set_file(folder, stills.name, split).unlink(missing_ok=True)
        (folder / SUMMARY_FILE).unlink(missing_ok=True)


def remove_stale_folds(out: Path, folds: int) -> None:
    """Folds of an earlier import into this folder beyond this one's count: they would be taken for its own."""
    root = out / FOLDS_DIR
    ours = lambda name: name.isascii() and name.isdigit() and 1 <= int(name) <= folds  # noqa: E731
    stale = [p for p in root.iterdir() if p.is_dir() and not ours(p.name)] if root.is_dir() else []
    for path in stale:
        shutil.rmtree(path)
    if root.is_dir() and not folds and not any(root.iterdir()):
        root.rmdir()
