"""AffectStream core: faces, features, models, streaming inference and post-processing (no Qt)."""
