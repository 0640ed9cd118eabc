"""Training sequences for the temporal model built from labelled still images (FER2013).

FER2013 is the only real expression data here, and it is stills. ``extract``
runs each still through the live pipeline's own path (landmarker -> extractor
chain) so the features match run time; ``weak_labels`` adds the documented weak
valence/arousal and action-unit targets; ``sequences`` strings stills into
pseudo-videos (held expressions with cross-fades) in the ABAW layout.
"""

import json
from pathlib import Path
from typing import Any

from affectstream.errors import UserInputError

# What `import-stills` writes beside the pseudo-videos: sets, splits, counts (read back by `bench labels`).
SUMMARY_FILE = "summary.json"


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
