"""Whole-video jobs: one pass of a video through the engine (video), annotate (a results CSV and
summary plot per video) and extract (per-frame features into the feature store)."""
