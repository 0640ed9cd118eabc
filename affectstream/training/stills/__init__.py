"""Training sequences for the temporal model built from labelled still images (FER2013).

FER2013 is the only real expression data here, and it is stills. ``extract``
runs each still through the live pipeline's own path (landmarker -> extractor
chain) so the features match run time; ``weak_labels`` adds the documented weak
valence/arousal and action-unit targets; ``sequences`` strings stills into
pseudo-videos (held expressions with cross-fades) in the ABAW layout.
"""

# What `import-stills` writes beside the pseudo-videos: sets, splits, counts (read back by `bench labels`).
SUMMARY_FILE = "summary.json"

# Cross-validation folds of `import-stills --cv-folds K`: <out>/folds/<k>/ holds fold k's training and
# validation annotation files, its own per-set files under by_set/ and a copy of the summary.
FOLDS_DIR = "folds"


def fold_dir(k: int) -> str:
    """Fold k's folder (k = 1..K), relative to the import's output folder."""
    return f"{FOLDS_DIR}/{k}"
