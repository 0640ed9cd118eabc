"""AffectStream desktop app (Qt): presentation and threads only."""
