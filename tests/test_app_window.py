"""The desktop app, offscreen with pytest-qt, on the shared videos with a tiny random checkpoint.

Window, live playback through the engine, several faces, a camera that drops,
review (seek, export, reopen the CSV beside its video), demo keys, settings,
bad input, and closing within a second.
"""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before Qt is imported

import gc  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent  # noqa: E402

from affectstream.app.demo import DemoWindow  # noqa: E402
from affectstream.app.devices import CameraInfo, CudaStatus  # noqa: E402
from affectstream.app.main_window import MainWindow  # noqa: E402
from affectstream.app.plots import INVISIBLE_CHANGE  # noqa: E402
from affectstream.app.settings import AppSettings, engine_config, open_store, save_settings  # noqa: E402
from affectstream.core.labels import EXPRESSIONS  # noqa: E402
from affectstream.core.results.csv_file import column_values, read_results_csv  # noqa: E402
from affectstream.core.sources.readers import FrameSource, SourceError, VideoFileSource  # noqa: E402
from tests.media import decode_frames, shared_file  # noqa: E402

NO_CUDA = CudaStatus(False, "onnxruntime offers only CPUExecutionProvider (test)")
WAIT_MS = 30000  # generous: the engine and the landmarker start in a few seconds, the CPU may be shared


pytestmark = pytest.mark.usefixtures("private_qt_settings")  # conftest.py: QSettings in a temporary folder


def make_window(qtbot, tmp_path, checkpoint, cameras=(), **settings) -> MainWindow:
    store = open_store(tmp_path / "settings.ini")
    save_settings(store, AppSettings(model_path=str(checkpoint), **settings))
    window = MainWindow(store, cameras=list(cameras), cuda=NO_CUDA)
    qtbot.addWidget(window)  # closed (and its threads stopped) at teardown
    window.show()
    return window


def messages(window) -> str:
    return "\n".join(text for text, _ in window.messages)


def test_window_builds_with_sources_settings_and_cuda_greyed(qtbot, tmp_path, checkpoint):
    window = make_window(qtbot, tmp_path, checkpoint, cameras=[CameraInfo(2, "Test Cam")])
    items = [window.source_box.itemText(i) for i in range(window.source_box.count())]
    assert items == ["Camera 2: Test Cam", "Open a video file…"]
    assert window.tabs.count() == 2 and window.live.worker.isRunning()
    assert not window.pause_action.isEnabled() and not window.stop_action.isEnabled()
    dashboard = window.dashboard
    assert len(dashboard.expressions.values) == len(EXPRESSIONS) and len(dashboard.action_units.probs) == 12
    dialog = window.open_settings()
    assert not dialog.cuda.isEnabled() and dialog.cpu.isChecked()
    assert "CPUExecutionProvider" in dialog.cuda_reason.text()
    assert dialog.model_edit.text() == str(checkpoint)
    dialog.reject()


def test_a_video_plays_through_the_engine_and_the_plots_grow(qtbot, tmp_path, checkpoint):
    video = shared_file("videos", "single_face.mp4")
    window = make_window(qtbot, tmp_path, checkpoint)
    assert window.start(str(video))
    live, dashboard = window.live, window.dashboard
    qtbot.waitUntil(lambda: live.history.frames_added >= 8 and dashboard.va_time.points() >= 4, timeout=WAIT_MS)
    early_points, early_frame = dashboard.va_time.points(), dashboard.video.frame_number
    qtbot.waitUntil(lambda: live.state == "idle", timeout=WAIT_MS)  # played to the end
    assert "end of single_face" in messages(window)
    # Paced at 30 fps on a shared CPU some frames may be dropped, never most of them.
    assert 36 <= live.history.frames_added <= 72 and live.timings.frames > 0
    assert dashboard.va_time.points() > early_points and dashboard.video.frame_number > early_frame
    assert dashboard.video.frame_number >= 60
    # The box drawn is the engine's, on the man's face in the middle of the 640x360 frame.
    latest = live.history.latest
    assert len(latest.faces) == 1
    (x0, y0, x1, y1), = dashboard.video.visible_boxes()
    np.testing.assert_allclose((x0, y0, x1, y1), latest.faces[0].box, atol=0.5)
    assert 200 < (x0 + x1) / 2 < 440 and 100 < (y0 + y1) / 2 < 300 and 60 < x1 - x0 < 300
    face = latest.faces[0]
    assert dashboard.headline.text().startswith(f"#0  {face.expression}")
    # Bars skip redraws smaller than a pixel, so what is shown may lag the newest values by that much.
    np.testing.assert_allclose(dashboard.expressions.values, face.expr_probs, atol=INVISIBLE_CHANGE)
    np.testing.assert_array_equal(dashboard.action_units.on, face.au_on)
    np.testing.assert_allclose(dashboard.action_units.thresholds, 0.5)
    np.testing.assert_allclose(dashboard.circumplex.current(), (face.valence, face.arousal), atol=1e-6)
    assert " fps · latency " in window.stats_label.text()
    assert "tiny-test-gru" in window.model_label.text() and "no provenance" in window.model_label.text()
    # Once the engine is loaded its long-lived objects are out of the garbage collector's way.
    assert gc.get_freeze_count() > 10_000


def test_several_faces_are_boxed_and_the_plots_follow_the_chosen_one(qtbot, tmp_path, checkpoint):
    image = shared_file("images", "multi_face.jpg")
    window = make_window(qtbot, tmp_path, checkpoint, max_faces=5, show_landmarks=True)
    window.start(str(image))
    qtbot.waitUntil(lambda: window.live.history.latest is not None and window.live.state == "idle", timeout=WAIT_MS)
    faces = window.live.history.latest.faces
    ids = sorted(f.track_id for f in faces)
    assert len(faces) >= 2 and len(set(ids)) == len(ids)
    assert len(window.dashboard.video.visible_boxes()) == len(faces)
    assert len(window.dashboard.video.landmarks.data) == 478 * len(faces)
    follow_ids = [window.follow_box.itemData(i) for i in range(window.follow_box.count())]
    assert follow_ids == [None, *ids]
    smallest = min(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
    largest = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
    assert window.live.followed == largest.track_id  # auto follows the largest face
    window.follow_box.setCurrentIndex(window.follow_box.findData(smallest.track_id))
    assert window.live.followed == smallest.track_id
    assert window.dashboard.headline.text().startswith(f"#{smallest.track_id} ")
    np.testing.assert_allclose(window.dashboard.expressions.values, smallest.expr_probs, atol=INVISIBLE_CHANGE)


class _DroppingCamera(FrameSource):
    """Real frames, then nothing: what WebcamSource does when the camera is unplugged."""

    def __init__(self, video, frames: int) -> None:
        self.name, self.frames = "webcam0", frames
        self._video = VideoFileSource(video)

    def __iter__(self):
        for frame in self._video:
            if frame.number > self.frames:
                return
            yield frame

    def close(self) -> None:
        self._video.close()


def test_a_camera_that_disappears_gives_a_message_and_demo_mode_retries(qtbot, tmp_path, checkpoint, monkeypatch):
    # Looked up here, not in the app's worker thread: a skip raised there would fail the test instead.
    video = shared_file("videos", "single_face.mp4")
    opened = []

    def open_camera(index):
        opened.append(index)
        if len(opened) == 1:
            return _DroppingCamera(video, 12)
        raise SourceError(f"webcam {index}: cannot open the camera (absent or busy)")

    monkeypatch.setattr("affectstream.core.sources.pacing.open_camera", open_camera)
    window = make_window(qtbot, tmp_path, checkpoint, cameras=[CameraInfo(0, "Fake")])
    window.startup()  # a camera is listed: it starts by itself
    qtbot.waitUntil(lambda: "stopped giving frames" in messages(window), timeout=WAIT_MS)
    assert window.live.history.frames_added >= 1 and window.live.state == "idle"
    assert "camera 0 stopped giving frames" in window.dashboard.video.message_text
    assert window.live.worker.isRunning()  # the app goes on

    opened.clear()
    demo = DemoWindow(0, engine_config(window.settings))
    qtbot.addWidget(demo)
    demo.show()
    demo.start()
    qtbot.waitUntil(lambda: "trying again" in demo.status.text(), timeout=WAIT_MS)
    assert opened[:2] == [0, 0] and demo.live.state == "loading"
    started = time.perf_counter()
    demo.close()  # also while it waits to reconnect
    assert not demo.live.worker.isRunning() and time.perf_counter() - started < 1.5


def test_no_camera_at_start_says_so_and_opens_the_file_picker(qtbot, tmp_path, checkpoint):
    window = make_window(qtbot, tmp_path, checkpoint, cameras=[])
    window.startup()
    assert "No camera found" in messages(window) and window.messages[-1][1]
    assert window.file_dialog is not None and window.file_dialog.isVisible()
    assert window.live.state == "idle"
    window.file_dialog.reject()


def test_bad_input_gives_messages_naming_the_file(qtbot, tmp_path, checkpoint, monkeypatch):
    window = make_window(qtbot, tmp_path, checkpoint)
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video")
    window.start(str(broken))
    qtbot.waitUntil(lambda: "broken.mp4" in messages(window), timeout=WAIT_MS)
    assert "cannot open the video" in messages(window) and window.live.state == "idle"

    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 64)
    window.apply_settings(AppSettings(model_path=str(garbage)))
    window.start(str(shared_file("videos", "single_face.mp4")))
    qtbot.waitUntil(lambda: "garbage.safetensors" in messages(window), timeout=WAIT_MS)
    assert "not a safetensors checkpoint" in messages(window)

    monkeypatch.setattr("affectstream.core.default_model.ASSET_DIR", tmp_path / "no-assets")
    window.apply_settings(AppSettings(model_path=""))
    assert not window.start(str(shared_file("videos", "single_face.mp4")))
    assert "default model not found" in window.messages[-1][0] and window.messages[-1][1]
    assert window.live.worker.isRunning()


def test_review_seeks_video_and_cursor_together_exports_and_reopens_the_csv(qtbot, tmp_path, checkpoint):
    video = shared_file("videos", "single_face.mp4")
    window = make_window(qtbot, tmp_path, checkpoint)
    review = window.review
    window.tabs.setCurrentWidget(review)
    with qtbot.waitSignal(review.data_ready, timeout=WAIT_MS):
        review.analyse(video)
    data = review.data
    assert [r.frame_index for r in data.results] == list(range(1, 73))
    assert review.slider.minimum() == 1 and review.slider.maximum() == 72
    frames = decode_frames(video)

    for target in (50, 12):
        review.slider.setValue(target)
        qtbot.waitUntil(lambda: review.dashboard.video.frame_number == target, timeout=WAIT_MS)
        assert review.frame_box.value() == target
        assert review.dashboard.va_time.cursor_time == pytest.approx(data.time_of(target))
        shown = review.dashboard.video.image.image  # RGB view of the frame on screen
        np.testing.assert_array_equal(shown, frames[target - 1][..., ::-1])
        face = data.result_at(target).faces[0]
        np.testing.assert_allclose(review.dashboard.circumplex.current(), (face.valence, face.arousal), atol=1e-6)
    review.frame_box.setValue(30)  # jump to a frame
    qtbot.waitUntil(lambda: review.dashboard.video.frame_number == 30, timeout=WAIT_MS)

    out = tmp_path / "export"
    out.mkdir()
    csv_path = out / "single_face.csv"
    with qtbot.waitSignal(review.export_done, timeout=WAIT_MS):
        review.export_csv(csv_path)
    rows = read_results_csv(csv_path)
    assert [int(r["frame"]) for r in rows] == list(range(1, 73))
    np.testing.assert_allclose(column_values(rows, "valence"), [r.faces[0].valence for r in data.results], atol=1e-4)
    # Offline, valence/arousal are smoothed with the checkpoint's centred window, as `annotate` does.
    raw = np.array(column_values(rows, "valence_raw"))
    assert np.abs(np.array(column_values(rows, "valence")) - raw).max() > 1e-4
    with qtbot.waitSignal(review.export_done, timeout=WAIT_MS):
        review.export_png(out / "single_face.png")
    assert cv2.imread(str(out / "single_face.png")).shape[0] > 300
    # ELAN from the review tab: the same document `export --format elan` writes of the same rows.
    import pympi

    from affectstream.cli.main import main

    with qtbot.waitSignal(review.export_done, timeout=WAIT_MS):
        review.export_eaf(out / "single_face.eaf")
    eaf = pympi.Elan.Eaf(str(out / "single_face.eaf"))
    labels = [value for _, _, value in eaf.get_annotation_data_for_tier("Expression face0")]
    assert labels[0] == data.results[0].faces[0].expression and "Happiness" in labels
    assert main(["export", str(csv_path), "--format", "elan", "--video", str(video), "--out",
                 str(out / "cli.eaf")]) == 0
    cli = pympi.Elan.Eaf(str(out / "cli.eaf"))
    assert eaf.get_tier_names() == cli.get_tier_names()
    # Expression and AU tiers alike (valence/arousal bins may differ where the CSV's 4-digit rounding crosses a
    # bin edge).
    for tier in (t for t in eaf.get_tier_names() if not t.startswith(("Valence", "Arousal"))):
        assert eaf.get_annotation_data_for_tier(tier) == cli.get_annotation_data_for_tier(tier), tier

    # The CSV beside (a link to) its video, dropped on the window, opens in review without the engine.
    (out / "single_face.mp4").symlink_to(video)
    drop_file(window, csv_path)
    assert review.data is not data and review.video == out / "single_face.mp4"
    assert len(review.data.results) == 72
    review.seek(40)
    qtbot.waitUntil(lambda: review.dashboard.video.frame_number == 40, timeout=WAIT_MS)
    assert review.data.result_at(40).faces[0].valence == pytest.approx(data.result_at(40).faces[0].valence, abs=1e-4)
    np.testing.assert_array_equal(review.dashboard.video.image.image, frames[39][..., ::-1])

    lonely = tmp_path / "lonely.csv"
    lonely.write_text(csv_path.read_text())
    assert not review.load_csv(lonely)
    assert "no video named lonely" in window.messages[-1][0] and review.dialog.isVisible()
    review.dialog.reject()


def drop_file(window, path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    where = QPointF(window.width() / 2, window.height() / 2)
    enter = QDragEnterEvent(where.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(enter)
    assert enter.isAccepted()
    window.dropEvent(QDropEvent(where, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier))


def test_demo_mode_keys_pause_and_quit(qtbot, tmp_path, checkpoint):
    demo = DemoWindow(str(shared_file("videos", "single_face.mp4")),
                      engine_config(AppSettings(model_path=str(checkpoint))))
    qtbot.addWidget(demo)
    demo.enter_full_screen()
    demo.start()
    qtbot.waitUntil(lambda: demo.live.state == "playing" and demo.live.history.frames_added >= 3,
                    timeout=WAIT_MS)
    assert demo.windowState() & Qt.WindowState.WindowFullScreen and demo.dashboard.theme.name == "demo"
    qtbot.keyClick(demo, Qt.Key.Key_Space)
    assert demo.live.state == "paused"
    time.sleep(0.3)
    qtbot.wait(200)
    frozen = demo.live.history.frames_added
    qtbot.wait(400)
    assert demo.live.history.frames_added <= frozen + 1  # nothing new while paused (one may be in flight)
    qtbot.keyClick(demo, Qt.Key.Key_Space)
    assert demo.live.state == "playing"
    qtbot.waitUntil(lambda: demo.live.history.frames_added > frozen + 3, timeout=WAIT_MS)
    qtbot.keyClick(demo, Qt.Key.Key_F)
    assert not demo.windowState() & Qt.WindowState.WindowFullScreen
    started = time.perf_counter()
    qtbot.keyClick(demo, Qt.Key.Key_Q)
    assert not demo.isVisible() and not demo.live.worker.isRunning()
    assert time.perf_counter() - started < 1.5


def test_settings_are_kept_between_runs(qtbot, tmp_path, checkpoint):
    window = make_window(qtbot, tmp_path, checkpoint)
    chosen = AppSettings(model_path=str(checkpoint), smoothing_strength=0.6, au_threshold_offset=-0.15, camera_index=3,
                         max_faces=2, show_landmarks=True)
    window.apply_settings(chosen)
    assert window.landmarks_box.isChecked()
    again = MainWindow(open_store(tmp_path / "settings.ini"), cameras=[], cuda=NO_CUDA)
    qtbot.addWidget(again)
    assert again.settings == chosen
    options = engine_config(again.settings).options
    assert options.post.va_filter == {"kind": "ema", "alpha": pytest.approx(0.4)}
    assert options.post.expr_alpha == pytest.approx(0.4)
    assert options.post.au_threshold_offset == -0.15 and options.faces.max_faces == 2
    assert options.runtime.provider == "cpu"


def test_closing_the_window_stops_the_worker_within_a_second(qtbot, tmp_path, checkpoint):
    window = make_window(qtbot, tmp_path, checkpoint, loop_video=True)
    window.start(str(shared_file("videos", "single_face.mp4")))
    qtbot.waitUntil(lambda: window.live.history.frames_added >= 5, timeout=WAIT_MS)
    worker = window.live.worker
    started = time.perf_counter()
    window.close()
    elapsed = time.perf_counter() - started
    assert not worker.isRunning() and elapsed < 1.0, elapsed


def test_a_failed_model_leaves_no_model_named_in_the_status_bar(qtbot, tmp_path, checkpoint):
    window = make_window(qtbot, tmp_path, checkpoint)
    window.start(str(shared_file("videos", "single_face.mp4")))
    qtbot.waitUntil(lambda: "tiny-test-gru" in window.model_label.text(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.live.state == "idle", timeout=WAIT_MS)  # played to the end
    folder = tmp_path / "folder.safetensors"
    folder.mkdir()
    window.apply_settings(AppSettings(model_path=str(folder)))
    window.start(str(shared_file("videos", "single_face.mp4")))
    qtbot.waitUntil(lambda: "folder.safetensors" in messages(window), timeout=WAIT_MS)
    assert "is a folder, not a model file" in messages(window)
    qtbot.waitUntil(lambda: window.model_label.text() == "model: none loaded", timeout=WAIT_MS)
    assert window.live.dashboard.action_units.thresholds is None


def test_review_says_when_results_go_past_their_video_and_never_shows_another_frame(qtbot, tmp_path, checkpoint):
    video = shared_file("videos", "single_face.mp4")
    frames = decode_frames(video)
    short = tmp_path / "single_face.avi"  # the first 30 frames only: the CSV's 72 are of a longer cut
    writer = cv2.VideoWriter(str(short), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 360))
    for frame in frames[:30]:
        writer.write(frame)
    writer.release()
    from affectstream.cli.main import main

    assert main(["annotate", str(video), "--out", str(tmp_path), "--checkpoint", str(checkpoint), "--no-plot",
                 "--no-progress"]) == 0
    window = make_window(qtbot, tmp_path, checkpoint)
    review = window.review
    window.tabs.setCurrentWidget(review)
    assert review.load_csv(tmp_path / "single_face.csv", short)
    qtbot.waitUntil(lambda: "are they of another video?" in messages(window), timeout=WAIT_MS)
    assert "results go to frame 72 but single_face.avi has 30 frames" in messages(window)
    review.seek(20)
    qtbot.waitUntil(lambda: review.dashboard.video.frame_number == 20, timeout=WAIT_MS)
    review.seek(50)
    qtbot.waitUntil(lambda: "frame 50 is not in single_face.avi (30 frames)" in
                    review.dashboard.video.message_text, timeout=WAIT_MS)
    assert review.dashboard.video.frame_number is None and review.frame == 50


def test_review_says_once_why_a_file_cannot_be_analysed_and_when_an_analysis_is_cancelled(qtbot, tmp_path,
                                                                                         checkpoint):
    window = make_window(qtbot, tmp_path, checkpoint)
    review = window.review
    window.tabs.setCurrentWidget(review)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    folder = tmp_path / "clips.mp4"
    folder.mkdir()
    for bad, said in ((text, "cannot open the video"), (folder, "a folder, not a video file")):
        before = len(window.messages)
        review.analyse(bad)
        qtbot.wait(300)  # a second message from a thread would arrive by now
        assert [m for m, _ in list(window.messages)[before:]] == [f"{bad}: {said}" + (
            " (truncated, corrupt or not a video file)" if bad == text else "")]
    review.analyse(shared_file("videos", "face_noface.mov"))
    qtbot.waitUntil(lambda: review.progress.isVisible(), timeout=WAIT_MS)
    review.cancel_button.click()
    assert "analysis of face_noface.mov cancelled" in window.messages[-1][0]
    assert review.file_label.text() == "face_noface.mov: analysis cancelled" and not review.cancel_button.isVisible()
