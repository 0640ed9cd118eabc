"""After the temporal model: run-time filters for valence/arousal and expression, AU hysteresis (per face
track: tracks), and the one spelling of smoothing (modes)."""
