"""Training sequences for the temporal model built from labelled still images (FER2013).

FER2013 is the only real expression data here, and it is stills. ``extract``
runs each still through the live pipeline's own path (landmarker -> extractor
chain) so the features match run time; ``weak_labels`` adds the documented weak
valence/arousal and action-unit targets; ``sequences`` strings stills into
pseudo-videos (held expressions with cross-fades) in the ABAW layout.
"""

# What `import-stills` writes beside the pseudo-videos: sets, splits, counts (read back by `bench labels`).
SUMMARY_FILE = "summary.json"
