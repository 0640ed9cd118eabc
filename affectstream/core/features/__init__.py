"""Per-frame features: the feature store and (later) the extractors that fill it."""
