"""The desktop app (`affectstream app`): it presents the engine's results and runs threads; all
analysis happens in the engine (affectstream.core.engine).

launch        the command's entry: main window or demo screen, settings store
main_window   sources, start/pause/stop, the live and review tabs, status bar, drag and drop
live          live mode: the analysis worker feeding a dashboard, timer-driven plot refresh
worker        the analysis thread: engine, stream commands, newest-frame hand-over
playback      pause, stop and loop for a frame source
dashboard     video beside the plots (one per tab and for the demo)
text_line     the headline and values above the video: a line of text that repaints only itself
video_view    the video with face boxes, ids, expressions, landmarks
plots         valence/arousal over time, circumplex, expression and AU bars
history       the last seconds of every face track, in fixed-size buffers
review        review mode: background analysis, timeline, export, CSV beside its video
review_data   a whole annotated video in memory; an `annotate` CSV read back by core.results.frames
annotation_worker, frame_reader, tasks   review's threads: analysis, frame-accurate seeking, exports
demo          full-screen, high-contrast demo mode
settings, settings_dialog   what the user chose (QSettings) and the engine it asks for
devices       cameras and CUDA availability
status, theme  status-bar text; colours and fonts
"""
