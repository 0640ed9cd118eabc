"""What the engine gives: result types (types), the per-frame CSV (csv_file), the one checked reader of it
(csv_read: the table; frames: the table as typed results and back, without a file) and a video's summary plot."""
