"""AffectStream training: datasets, training, evaluation and export."""
