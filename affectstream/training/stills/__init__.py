"""Training sequences for the temporal model built from labelled still images (FER2013, CK+, DiffusionFER, CSVs).

``importer`` is the whole import (`import-stills`, `fer-sequences`): ``inputs``
chooses and reads the sets (``sets``), ``extract`` runs each still through the
live pipeline's own path (landmarker -> extractor chain) so the features match
run time, ``parts`` lays each set out by split and fold, ``sequences`` strings
stills into pseudo-videos (held expressions with cross-fades) in the ABAW layout,
``weak_labels`` adds the documented weak valence/arousal and action-unit targets,
and ``outputs`` says what an import writes and replaces.
"""

import json
from pathlib import Path
from typing import Any, Sequence

from affectstream.core.errors import UserInputError

# What `import-stills` writes beside the pseudo-videos: sets, splits, counts (read back by `bench labels`).
SUMMARY_FILE = "summary.json"
# The three annotation files of an import, by split.
SPLIT_FILES = {"train": "training_set_annotations.txt", "val": "validation_set_annotations.txt",
               "test": "test_set_annotations.txt"}


def read_import_summary(data: str | Path) -> dict[str, Any]:
    """An import-stills output's summary.json; a clear error where the folder is not one."""
    path = Path(data) / SUMMARY_FILE
    try:
        summary = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserInputError(f"{path}: not an import-stills output ({exc})") from None
    if not isinstance(summary, dict):
        raise UserInputError(f"{path}: not an import-stills output (not a JSON object)")
    return summary

# Cross-validation folds of `import-stills --cv-folds K`: <out>/folds/<k>/ holds fold k's training and
# validation annotation files, its own per-set files under by_set/ and a copy of the summary.
FOLDS_DIR = "folds"


def fold_dir(k: int) -> str:
    """Fold k's folder (k = 1..K), relative to the import's output folder."""
    return f"{FOLDS_DIR}/{k}"


def fold_dirs(folds: int) -> tuple[str, ...]:
    """Every fold's folder, fold 1 first."""
    return tuple(fold_dir(k + 1) for k in range(folds))


def import_store(data: str | Path, summary: dict[str, Any]) -> Path:
    """An import's feature store: <data>/features, unless the import wrote into another store
    (import-afew-va --features / --join), which its summary names."""
    return Path(summary.get("features") or Path(data) / "features")


def by_set_file(folder: str | Path, set_name: str, split: str) -> Path:
    """A set's own annotation file of one split in an import (or fold) folder: ``by_set/<set>_<split>.txt``."""
    return Path(folder) / "by_set" / f"{set_name}_{split}.txt"


def set_import(data: str | Path, info: dict[str, Any]) -> Path:
    """The import folder holding a set's own files: the one it came from (a set joined by import-afew-va
    --join keeps its files there), else ``data``."""
    return Path(info.get("import") or data)


def set_file(data: str | Path, info: dict[str, Any], split: str) -> Path:
    """A set's own annotation file of one split, in the import it came from."""
    return by_set_file(set_import(data, info), info["name"], split)


def labels_note(summaries: list[dict[str, Any]], weak: bool, weak_sets: Sequence[str] = ()) -> str:
    """Which tasks learn from which sets, for the checkpoint and the app's status bar; ``weak_sets``
    names the sets whose missing labels were made up, when not all of them were."""
    parts = []
    for task in ("valence/arousal", "expression", "action units"):
        sources = [s["name"] for s in summaries if task in s["real_labels"]]
        if sources:
            parts.append(f"{task} real ({', '.join(sources)})")
    if weak:
        of = f" of {', '.join(weak_sets)}" if weak_sets else ""
        parts.append(f"missing valence/arousal and AUs{of} filled with WEAK rule-made labels")
    return "; ".join(parts)
