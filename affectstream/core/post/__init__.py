"""After the temporal model: run-time filters for valence/arousal and expression, AU hysteresis."""
