"""Frame sources: numbering, timestamps, conversions and clear errors on bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectstream.core.images import to_bgr
from affectstream.core.sources.readers import (
    AlignedFolderSource,
    FrameFolderSource,
    ImageSource,
    SourceError,
    VideoFileSource,
    WebcamSource,
    describe_source,
    find_sources,
    list_inputs,
    numbered_images,
    open_source,
    read_image,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared media {path} is absent (see ../shared/README.md)")
    return path


def write_video(path: Path, frames: int, fourcc: str = "MJPG", size=(64, 48)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25.0, size)
    for k in range(frames):
        writer.write(np.full((size[1], size[0], 3), (k * 5) % 256, np.uint8))
    writer.release()
    return path


def test_video_frames_are_numbered_from_one_by_decoding():
    with VideoFileSource(shared(SHARED / "videos" / "single_face.mp4")) as source:
        frames = list(source)
    assert [f.number for f in frames] == list(range(1, 73))
    assert all(f.image.shape == (360, 640, 3) and f.image.dtype == np.uint8 for f in frames)
    stamps = np.array([f.timestamp_ms for f in frames])
    assert stamps[0] == 0 and (np.diff(stamps) > 0).all()
    assert stamps[-1] == pytest.approx(71 * 1000 / 30, abs=1)
    assert frames[0].source == "single_face"


def test_a_variable_rate_video_keeps_its_frames_presentation_times():
    """This phone clip's frames are 13.7 to 41.7 ms apart; its mean rate (26.4/s) put frame 75's
    timestamp 360 ms after the picture's own time."""
    path = shared(SHARED / "videos" / "face_noface.mov")
    capture = cv2.VideoCapture(str(path))
    container = []
    while capture.read()[0]:
        container.append(capture.get(cv2.CAP_PROP_POS_MSEC))
    capture.release()
    with VideoFileSource(path) as source:
        assert source.fps == pytest.approx(26.4, abs=0.1)
        stamps = np.array([f.timestamp_ms for f in source])
    assert len(stamps) == len(container) == 169 and (np.diff(stamps) > 0).all()
    assert np.abs(stamps - np.asarray(container)).max() <= 0.5
    assert 74 * 1000 / source.fps - stamps[74] > 300  # what the mean rate gave


def _capture_times(monkeypatch, times) -> None:
    """cv2.VideoCapture giving ``times(real position)`` as each frame's presentation time."""
    real_capture = cv2.VideoCapture

    class Retimed:  # a wrapper, not a subclass: a Python subclass of the cv2 type crashed in garbage collection
        def __init__(self, *args):
            self._capture = real_capture(*args)

        def get(self, prop):
            value = self._capture.get(prop)
            return times(value) if prop == cv2.CAP_PROP_POS_MSEC else value

        def __getattr__(self, name):
            return getattr(self._capture, name)

    monkeypatch.setattr(cv2, "VideoCapture", Retimed)


def test_a_video_without_presentation_times_is_spaced_by_its_frame_rate(tmp_path, monkeypatch):
    path = write_video(tmp_path / "clip.avi", frames=5)
    _capture_times(monkeypatch, lambda ms: 0.0)
    with VideoFileSource(path) as source:
        assert [f.timestamp_ms for f in source] == [0, 40, 80, 120, 160]


def test_video_times_start_at_zero_whatever_the_container_s_start(tmp_path, monkeypatch):
    path = write_video(tmp_path / "clip.avi", frames=4)
    _capture_times(monkeypatch, lambda ms: ms + 3600_000.0)
    with VideoFileSource(path) as source:
        assert [f.timestamp_ms for f in source] == [0, 40, 80, 120]


def test_frame_count_comes_from_decoding_not_the_container():
    path = shared(SHARED / "videos" / "no_face.mp4")
    with VideoFileSource(path) as source:
        assert source.declared_frames == 98  # what the container claims
        assert len(list(source)) == 95  # what actually decodes


def test_synthetic_video_content_and_order(tmp_path):
    with VideoFileSource(write_video(tmp_path / "ramp.avi", 20)) as source:
        frames = list(source)
    assert len(frames) == 20
    means = [f.image.mean() for f in frames]
    assert means == pytest.approx([k * 5 for k in range(20)], abs=3)  # MJPG is lossy


def test_truncated_mp4_fails_clearly(tmp_path):
    original = shared(SHARED / "videos" / "single_face.mp4")
    cut = tmp_path / "cut.mp4"
    data = original.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match=r"cut\.mp4.*cannot open"):
        VideoFileSource(cut)


def test_truncated_avi_that_opens_fails_after_decoding(tmp_path):
    full = write_video(tmp_path / "full.avi", 50)
    cut = tmp_path / "cut.avi"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with VideoFileSource(cut) as source, pytest.raises(SourceError, match=r"cut\.avi.*truncated"):
        for _ in source:
            pass


def test_zero_frame_video_fails_clearly(tmp_path):
    for name, fourcc in (("empty.avi", "MJPG"), ("empty.mp4", "mp4v")):
        path = write_video(tmp_path / name, 0, fourcc)
        with pytest.raises(SourceError, match=name.replace(".", r"\.")):
            with VideoFileSource(path) as source:
                list(source)


def test_missing_and_undecodable_files(tmp_path):
    with pytest.raises(SourceError, match="no such video"):
        VideoFileSource(tmp_path / "nope.mp4")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 this is not a JPEG")
    with pytest.raises(SourceError, match=r"bad\.jpg.*cannot decode"):
        read_image(bad)
    with pytest.raises(SourceError, match="no such image"):
        ImageSource(tmp_path / "nope.png")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match="cannot decode"):
        read_image(empty)


def test_image_conversions_known_answers():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert (to_bgr(grey) == grey[:, :, None]).all() and to_bgr(grey).shape == (3, 4, 3)
    deep = np.full((2, 2), 0xABCD, np.uint16)
    assert (to_bgr(deep) == 0xAB).all()
    bgra = np.zeros((2, 2, 4), np.uint8)
    bgra[..., :3] = (10, 20, 30)
    bgra[0, 0, 3], bgra[0, 1, 3], bgra[1, :, 3] = 255, 0, 128
    out = to_bgr(bgra)
    assert tuple(out[0, 0]) == (10, 20, 30)  # opaque keeps its colour
    assert tuple(out[0, 1]) == (255, 255, 255)  # transparent becomes white
    assert tuple(out[1, 0]) == pytest.approx((132, 137, 142), abs=1)  # half blends
    with pytest.raises(ValueError):
        to_bgr(np.zeros((2, 2), np.float32))


def test_shared_images_decode():
    image = read_image(shared(SHARED / "images" / "BWPictureHuman.jpg"))
    assert image.shape == (1912, 2560, 3)
    image = read_image(shared(SHARED / "images" / "Image_with_alpha.png"))
    assert image.shape == (1036, 1524, 3)
    frames = list(ImageSource(SHARED / "images" / "single_face.jpg"))
    assert len(frames) == 1 and frames[0].number == 1


def make_aligned_folder(root: Path, numbers, bad: int | None = None) -> Path:
    folder = root / "cropped_aligned" / "video_a"
    folder.mkdir(parents=True)
    for n in numbers:
        cv2.imwrite(str(folder / f"{n:05d}.jpg"), np.full((112, 112, 3), n % 256, np.uint8))
    if bad is not None:
        (folder / f"{bad:05d}.jpg").write_bytes(b"garbage")
    (folder / "notes.txt").write_text("ignored")
    return folder


def test_aligned_folder_uses_file_numbers(tmp_path):
    folder = make_aligned_folder(tmp_path, [3, 1, 2, 10, 7])
    with open_source(folder) as source:
        assert isinstance(source, AlignedFolderSource) and source.aligned
        frames = list(source)
    assert [f.number for f in frames] == [1, 2, 3, 7, 10]
    assert [int(f.image.mean()) for f in frames] == [1, 2, 3, 7, 10]
    assert [f.timestamp_ms for f in frames] == [0, 33, 67, 200, 300]
    assert frames[0].source == "video_a"


def test_aligned_folder_bad_frame_named_or_skipped(tmp_path):
    folder = make_aligned_folder(tmp_path, [1, 2, 4], bad=3)
    with pytest.raises(SourceError, match=r"video_a frame 3.*00003\.jpg"):
        list(AlignedFolderSource(folder))
    source = AlignedFolderSource(folder, skip_unreadable=True)
    assert [f.number for f in source] == [1, 2, 4]
    assert len(source.skipped) == 1 and "00003.jpg" in source.skipped[0]


def test_find_sources_expands_folders_and_keeps_missing_paths(tmp_path):
    make_aligned_folder(tmp_path, [1, 2])
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "clip.avi", 3)
    (videos / "readme.txt").write_text("not a video")
    specs = find_sources([tmp_path / "cropped_aligned", videos, tmp_path / "ghost.mp4", videos / "clip.avi"])
    assert [(s.name, s.kind) for s in specs] == [
        ("video_a", "aligned"), ("clip", "video"), ("ghost", "invalid"), ("clip", "video")]
    with pytest.raises(SourceError, match=r"ghost\.mp4: no such file"):
        specs[2].open()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert find_sources([empty])[0].kind == "invalid"


def test_a_fifo_given_as_a_video_is_named_not_waited_on(tmp_path):
    """annotate fifo.mp4 good.mp4 hung before its first video: opening a FIFO waits for a writer."""
    import os

    fifo = tmp_path / "fifo.mp4"
    os.mkfifo(fifo)
    spec, = find_sources([fifo])
    assert spec.kind == "invalid" and "not a regular file" in spec.problem
    with pytest.raises(SourceError, match=r"fifo\.mp4: not a regular file"):
        spec.open()


def test_whole_frame_folders_are_read_as_scenes_only_when_asked(tmp_path):
    make_aligned_folder(tmp_path, [0, 1, 2, 5])
    root = tmp_path / "cropped_aligned"
    assert [s.kind for s in find_sources([root])] == ["aligned"]
    spec, = find_sources([root], folders="frames")
    assert (spec.name, spec.kind) == ("video_a", "frames")
    with spec.open(fps=25.0) as source:
        assert isinstance(source, FrameFolderSource) and not source.aligned
        frames = list(source)
    # AFEW-VA numbers frames from 0: time still starts at 0, never below (the landmarker needs it increasing).
    assert [f.number for f in frames] == [0, 1, 2, 5]
    assert [f.timestamp_ms for f in frames] == [0, 40, 80, 200]
    with pytest.raises(ValueError, match="folders"):
        find_sources([root], folders="faces")
    # Timestamps are whole milliseconds: a rate above 1000 frames/s (or none) is refused, not left to tie.
    # Too slow a rate puts frames beyond the times the face stage counts (1e-300 aborted MediaPipe).
    for fps in (0.0, -25.0, 2000.0, float("nan"), float("inf"), 1e-300, 0.009):
        with pytest.raises(SourceError, match="frame rate of image folders must be from 0.01 to 1000"):
            spec.open(fps=fps)
    with spec.open(fps=1000.0) as source:
        assert [f.timestamp_ms for f in source] == [0, 1, 2, 5]
    with spec.open(fps=0.01) as source:
        assert [f.timestamp_ms for f in source] == [0, 100_000, 200_000, 500_000]
    folder = Path(spec.location)
    (folder / f"{10**14}.png").write_bytes(next(folder.iterdir()).read_bytes())
    with pytest.raises(SourceError, match=f"frame {10**14} at 0.01 frames/s would come .* years in"):
        spec.open(fps=0.01)


def test_webcam_index_that_does_not_exist():
    with pytest.raises(SourceError, match="webcam 57"):
        WebcamSource(57)
    assert find_sources(["3"])[0].kind == "webcam"


def test_copy_of_shared_video_under_a_new_name(tmp_path):
    copy = tmp_path / "renamed.mov"
    shutil.copy(shared(SHARED / "videos" / "face_noface.mov"), copy)
    with open_source(copy) as source:
        assert source.name == "renamed"
        assert sum(1 for _ in source) == 169


def test_only_ascii_digits_name_a_frame_and_only_small_numbers_a_camera(tmp_path):
    """"².jpg" is a digit to str.isdigit() but not to int(): a whole batch stopped on it; "٣.jpg" was read as
    frame 3 without a word."""
    folder = tmp_path / "clip"
    folder.mkdir()
    for name in ("00001.jpg", "00002.jpg", "².jpg", "٣.jpg"):
        cv2.imwrite(str(folder / name), np.full((20, 20, 3), 50, np.uint8))
    listing = list_inputs([folder])
    assert [n for n, _ in numbered_images(folder)] == [1, 2]
    assert "not read (not images named by number): ².jpg, ٣.jpg" in listing.notes[0]
    assert describe_source("²").kind == "invalid" and describe_source("7").kind == "webcam"
    assert describe_source("99999999999999999999").kind == "invalid"  # a name, not a camera OpenCV could open
    assert describe_source(10**20).problem == "a camera index is 0 to 999"

