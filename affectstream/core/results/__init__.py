"""What the engine gives: result types (types), the per-frame CSV (csv_file) and a video's summary plot."""
