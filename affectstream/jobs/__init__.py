"""Whole-video jobs on the engine: annotate (a results CSV and summary plot per video)."""
