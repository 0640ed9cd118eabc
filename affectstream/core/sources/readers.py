"""Frame sources: video files, folders of cropped-aligned faces, still images, webcams.

Every source yields ``Frame`` objects: an 8-bit BGR image, its frame number in the
ABAW convention, and a timestamp in milliseconds that increases strictly.

* Video file: frame numbers are the 1-based index of the decoded frame (frame 1
  is ``00001.jpg`` in the ABAW layout). Frames are counted by decoding, because
  container frame counts can be wrong. Timestamps are the frames' presentation
  times, which a variable-rate video does not space 1/fps apart.
* Folder of cropped and aligned faces (s-Aff-Wild2 ``cropped_aligned/<video>/``):
  one image per frame named by its number; numbers may skip (frames without a
  face are not in the folder). No face detection is needed on these.
* Folder of whole frames (e.g. an AFEW-VA clip, ``<clip>/00000.png`` ...): named by
  number as above, but each image is a scene in which faces are found, as in a video.
  A folder is read this way only when asked (``find_sources(..., folders="frames")``):
  both kinds look the same on disk.
* Still image: one frame, number 1. Grey, 16-bit and alpha images are converted, and
  a photo is turned upright by its EXIF orientation, as every viewer shows it.
* Webcam: an integer index; timestamps from a monotonic clock.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from affectstream.core.errors import UserInputError
from affectstream.core.images import exif_orientation, to_bgr, upright

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"})
DEFAULT_FPS = 30.0
# Decoding that stops before this fraction of the container's declared frame
# count means a truncated or corrupt file (the counts are only a little off otherwise).
MIN_DECODED_FRACTION = 0.9


class SourceError(UserInputError):
    """A source cannot be opened or read; the message names the file and frame."""


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # (H, W, 3) uint8 BGR
    number: int  # ABAW frame number
    timestamp_ms: int
    source: str  # the source's name (video name)


class FrameSource:
    """Base of all sources: iterate for frames; close() or use as a context manager."""

    name: str
    # True when every frame already is a cropped, aligned face (no detection needed).
    aligned: bool = False

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file to 8-bit BGR, upright as a viewer shows it (its EXIF orientation applied), or
    raise SourceError naming it."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path}: no such image file")
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise SourceError(f"{path}: cannot decode the image (corrupt, empty or not an image)")
    try:
        return upright(to_bgr(image), exif_orientation(data))  # the bytes read: not the file again
    except ValueError as exc:
        raise SourceError(f"{path}: {exc}") from exc


class VideoFileSource(FrameSource):
    def __init__(self, path: str | Path, name: str | None = None) -> None:
        self.path = Path(path)
        self.name = name or self.path.stem
        if not self.path.exists():
            raise SourceError(f"{self.path}: no such video file")
        if not self.path.is_file():
            raise SourceError(f"{self.path}: not a file")
        self._capture = cv2.VideoCapture(str(self.path))
        if not self._capture.isOpened():
            self._capture.release()
            raise SourceError(
                f"{self.path}: cannot open the video (truncated, corrupt or not a video file)"
            )
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and np.isfinite(fps) and 1.0 <= fps <= 1000.0 else DEFAULT_FPS
        declared = self._capture.get(cv2.CAP_PROP_FRAME_COUNT)
        self.declared_frames = int(declared) if declared and declared > 0 else None

    def __iter__(self) -> Iterator[Frame]:
        count, last_timestamp, last_pts, first_pts = 0, -1, -1.0, 0.0
        while True:
            try:
                ok, image = self._capture.read()
            except cv2.error as exc:
                raise SourceError(f"{self.path}: decoding failed after frame {count}: {exc}") from exc
            if not ok:
                break
            count += 1
            # The frame's own presentation time: frames of a variable-rate video (a phone's) are not
            # 1/fps apart. Where the container gives none that increases, the nominal step from the last.
            pts = self._capture.get(cv2.CAP_PROP_POS_MSEC)
            if count == 1 and np.isfinite(pts) and pts >= 0:
                first_pts = pts  # times count from the first frame, whatever the container's start
            if np.isfinite(pts) and pts > last_pts:  # last_pts starts below 0, so a first frame at 0 counts
                timestamp, last_pts = int(round(pts - first_pts)), pts
            else:
                timestamp = last_timestamp + int(round(1000.0 / self.fps))
            timestamp = max(timestamp, last_timestamp + 1)
            last_timestamp = timestamp
            yield Frame(to_bgr(image), count, timestamp, self.name)
        if count == 0:
            raise SourceError(f"{self.path}: no frames could be decoded (empty or corrupt video)")
        if self.declared_frames and count < MIN_DECODED_FRACTION * self.declared_frames - 1:
            raise SourceError(
                f"{self.path}: decoding stopped at frame {count} of the {self.declared_frames} the file "
                "declares: the video looks truncated or corrupt"
            )

    def close(self) -> None:
        self._capture.release()


def is_frame_image(path: Path) -> bool:
    """An image named by its frame number in ASCII digits ("00042.jpg"; "².jpg" or "٣.jpg" are digits to
    Python but no frame number anyone wrote)."""
    return path.suffix.lower() in IMAGE_SUFFIXES and path.stem.isascii() and path.stem.isdigit()


def numbered_images(folder: Path) -> list[tuple[int, Path]]:
    """(frame number, path) of the images in a folder named by number, sorted."""
    found = []
    for path in folder.iterdir():
        if is_frame_image(path) and path.is_file():
            found.append((int(path.stem), path))
    found.sort()
    for (a, pa), (b, pb) in zip(found, found[1:]):
        if a == b:
            raise SourceError(f"{folder}: frame {a} appears twice ({pa.name}, {pb.name})")
    return found


MAX_FOLDER_FPS = 1000.0  # timestamps are whole milliseconds: above this, two frames would share one

MIN_FOLDER_FPS = 0.01  # one frame per 100 s (a time-lapse); slower, a frame's time soon outgrows the face stage's
# The face stage (MediaPipe) counts microseconds in 64 bits: a timestamp is at most 10^15 ms (about 31,700 years).
MAX_TIMESTAMP_MS = 10**15


def folder_frame_rate(fps: float) -> float:
    """The frame rate of a folder of numbered images, checked (timestamps come from it)."""
    # A number, not text or a flag: "25" and True read as numbers would be a typo taken at its word.
    if isinstance(fps, (bool, np.bool_)) or not isinstance(fps, (int, float, np.integer, np.floating)):
        raise SourceError(f"the frame rate of image folders is a number of frames/s, not {fps!r}")
    try:
        fps = float(fps)
    except OverflowError:  # a whole number beyond any float
        raise SourceError(f"the frame rate of image folders must be from {MIN_FOLDER_FPS:g} to "
                          f"{MAX_FOLDER_FPS:g} frames/s, not a number of {len(str(abs(fps)))} digits") from None
    if not MIN_FOLDER_FPS <= fps <= MAX_FOLDER_FPS:  # NaN fails too
        raise SourceError(f"the frame rate of image folders must be from {MIN_FOLDER_FPS:g} to {MAX_FOLDER_FPS:g} "
                          f"frames/s, not {fps:g}")
    return fps


class NumberedImagesSource(FrameSource):
    """A folder of images named by frame number, read in number order."""

    def __init__(self, folder: str | Path, name: str | None = None, fps: float = DEFAULT_FPS,
                 skip_unreadable: bool = False) -> None:
        self.folder = Path(folder)
        self.name = name or self.folder.name
        self.fps = folder_frame_rate(fps)
        if not self.folder.is_dir():
            raise SourceError(f"{self.folder}: no such folder of frames")
        self.skip_unreadable = skip_unreadable
        self.skipped: list[str] = []  # messages for frames skipped as unreadable
        self._files = numbered_images(self.folder)
        if not self._files:
            raise SourceError(f"{self.folder}: no frame images named by number (e.g. 00001.jpg)")
        # ABAW numbers frames from 1; some sets (AFEW-VA) from 0. Time starts at 0 either way, so that the
        # landmarker never sees a negative timestamp.
        self._first_number = min(1, self._files[0][0])
        last = self._files[-1][0]
        if self._timestamp(last) > MAX_TIMESTAMP_MS:
            raise SourceError(f"{self.folder}: frame {last} at {self.fps:g} frames/s would come "
                              f"{self._timestamp(last) / 3.15576e10:.3g} years in, beyond the timestamps faces are "
                              "followed with; check the frame numbers or --folder-fps")

    def _timestamp(self, number: int) -> int:
        return int(round((number - self._first_number) * 1000.0 / self.fps))

    def __iter__(self) -> Iterator[Frame]:
        for number, path in self._files:
            try:
                image = read_image(path)
            except SourceError as exc:
                if not self.skip_unreadable:
                    raise SourceError(f"{self.name} frame {number}: {exc}") from exc
                self.skipped.append(str(exc))
                continue
            # The landmarker needs time to move on: each number appears once and the rate is at most 1000
            # frames/s, so the whole milliseconds of two frames are at least 1 apart.
            yield Frame(image, number, self._timestamp(number), self.name)

    def __len__(self) -> int:
        return len(self._files)


class AlignedFolderSource(NumberedImagesSource):
    """``cropped_aligned/<video>/<frame>.jpg``: already cropped and aligned faces."""

    aligned = True


class FrameFolderSource(NumberedImagesSource):
    """``<clip>/<frame>.png``: whole frames of a video stored as images; faces are found in each."""

    aligned = False


class ImageSource(FrameSource):
    def __init__(self, path: str | Path, name: str | None = None) -> None:
        self.path = Path(path)
        self.name = name or self.path.stem
        self._image = read_image(self.path)

    def __iter__(self) -> Iterator[Frame]:
        yield Frame(self._image, 1, 0, self.name)


class WebcamSource(FrameSource):
    def __init__(self, index: int, name: str | None = None) -> None:
        self.index = int(index)
        self.name = name or f"webcam{self.index}"
        self._capture = cv2.VideoCapture(self.index)
        if not self._capture.isOpened():
            self._capture.release()
            raise SourceError(f"webcam {self.index}: cannot open the camera (absent or busy)")

    def __iter__(self) -> Iterator[Frame]:
        start, count, last_timestamp = time.monotonic(), 0, -1
        while self._capture.isOpened():
            ok, image = self._capture.read()
            if not ok:
                if count == 0:
                    raise SourceError(f"webcam {self.index}: the camera gives no frames")
                return
            count += 1
            timestamp = max(int((time.monotonic() - start) * 1000.0), last_timestamp + 1)
            last_timestamp = timestamp
            yield Frame(to_bgr(image), count, timestamp, self.name)

    def close(self) -> None:
        self._capture.release()


# -- choosing a source for a path -----------------------------------------------------

@dataclass(frozen=True)
class SourceSpec:
    """A source to open later (so a batch can list its inputs before reading any)."""

    name: str
    kind: str  # "video", "aligned", "frames", "image", "webcam", or "invalid" (see problem)
    location: str
    problem: str = ""

    def open(self, fps: float = DEFAULT_FPS, skip_unreadable: bool = False) -> FrameSource:
        if self.kind == "video":
            return VideoFileSource(self.location, self.name)
        if self.kind in FOLDER_SOURCES:
            return FOLDER_SOURCES[self.kind](self.location, self.name, fps=fps, skip_unreadable=skip_unreadable)
        if self.kind == "image":
            return ImageSource(self.location, self.name)
        if self.kind == "webcam":
            return WebcamSource(int(self.location), self.name)
        raise SourceError(f"{self.location}: {self.problem or 'not a usable source'}")

    def orientation(self) -> int:
        """The EXIF orientation an image is turned upright by when read (1: as stored; always 1 but for images)."""
        return exif_orientation(self.location) if self.kind == "image" else 1

    def fingerprint(self) -> str | None:
        """What tells this source from another of the same name, or from itself before it changed: a file's
        size and first and last MiB (affectstream.core.digest.file_fingerprint); a folder's frame names and sizes
        (reading every frame would cost as much as the work). None for cameras and what is not there."""
        from affectstream.core.digest import file_fingerprint

        path = Path(self.location)
        try:
            if self.kind in ("video", "image") and path.is_file():
                return file_fingerprint(path)
            if self.kind in FOLDER_SOURCES and path.is_dir():
                listing = "\n".join(f"{p.name} {p.stat().st_size}" for _, p in numbered_images(path))
                return "folder:" + hashlib.sha256(listing.encode()).hexdigest()[:16]
        except (OSError, SourceError):  # unreadable: reported when the source is opened, not here
            return None
        return None


@dataclass(frozen=True)
class FolderContents:
    """What a folder holds, sorted by name, from one listing (hidden entries are no inputs and left out)."""

    videos: tuple[Path, ...]
    frames: tuple[Path, ...]  # images named by frame number
    stills: tuple[Path, ...]  # other images
    folders: tuple[Path, ...]
    others: tuple[Path, ...]  # anything else

    @property
    def is_one_video(self) -> bool:
        """Numbered images and no video file: one video stored as images (a photo named by number beside
        videos, ``2023.jpg``, does not make the folder a video)."""
        return bool(self.frames) and not self.videos


def folder_contents(folder: Path) -> FolderContents:
    # os.scandir knows each entry's kind from the listing itself: no stat per file of a folder of thousands.
    kinds: dict[str, list[Path]] = {"videos": [], "frames": [], "stills": [], "folders": [], "others": []}
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            path, suffix = Path(entry.path), Path(entry.name).suffix.lower()
            if entry.is_dir():
                kind = "folders"
            elif not entry.is_file():
                kind = "others"
            elif suffix in VIDEO_SUFFIXES:
                kind = "videos"
            elif suffix in IMAGE_SUFFIXES:
                kind = "frames" if is_frame_image(path) else "stills"
            else:
                kind = "others"
            kinds[kind].append(path)
    return FolderContents(**{kind: tuple(paths) for kind, paths in kinds.items()})


def is_aligned_folder(folder: Path) -> bool:
    """Whether a folder is one video stored as numbered images (FolderContents.is_one_video)."""
    return folder.is_dir() and folder_contents(folder).is_one_video


# How a folder of numbered images is read: as aligned faces, or as whole frames of a video.
FOLDER_SOURCES = {"aligned": AlignedFolderSource, "frames": FrameFolderSource}
FOLDER_KINDS = tuple(FOLDER_SOURCES)
PATH_KINDS = ("video", "image", *FOLDER_KINDS)  # sources that are a path: a video, an image, a folder of frames


def folder_kind(whole_frames: bool) -> str:
    """The kind of source a folder of numbered images is: whole frames of a video, or aligned faces."""
    return "frames" if whole_frames else "aligned"


MAX_CAMERA_INDEX = 999  # OpenCV takes camera indices as C ints; a longer number is a file's name


def is_camera_index(location: str | Path | int, most: int = MAX_CAMERA_INDEX) -> bool:
    """Whether a source names a camera: a whole number from 0 to ``most`` (as typed: ASCII digits, since
    ``str.isdigit`` also takes '²', which int() refuses)."""
    if isinstance(location, bool):
        return False
    if isinstance(location, int):
        return 0 <= location <= most
    return isinstance(location, str) and location.isascii() and location.isdigit() and int(location) <= most


def check_folder_kind(folders: str) -> str:
    if folders not in FOLDER_KINDS:
        raise ValueError(f"folders must be one of {FOLDER_KINDS}, not {folders!r}")
    return folders


def describe_source(location: str | Path | int, folders: str = "aligned") -> SourceSpec:
    """What one path (or webcam index) is, without opening it; a folder of numbered images is of
    the kind ``folders`` ("aligned" faces or whole "frames")."""
    check_folder_kind(folders)
    if is_camera_index(location):
        return SourceSpec(f"webcam{int(location)}", "webcam", str(int(location)))
    if isinstance(location, int):
        return SourceSpec(f"webcam{location}", "invalid", str(location), f"a camera index is 0 to {MAX_CAMERA_INDEX}")
    path = Path(location)
    if path.is_dir():
        if is_aligned_folder(path):
            return SourceSpec(path.name, folders, str(path))
        return SourceSpec(path.name, "invalid", str(path), "a folder without frame images named by number")
    if not path.exists():
        return SourceSpec(path.stem, "invalid", str(path), "no such file or folder")
    if not path.is_file():  # a FIFO or device: opening it to read would wait for a writer, maybe forever
        return SourceSpec(path.stem, "invalid", str(path), "not a regular file (a FIFO, device or socket)")
    kind = "image" if path.suffix.lower() in IMAGE_SUFFIXES else "video"
    return SourceSpec(path.stem, kind, str(path))


@dataclass(frozen=True)
class InputListing:
    """The sources that command-line inputs name, and for each folder given, one line saying what it was read
    as and what in it was not read (so that nothing is skipped without a word)."""

    sources: tuple[SourceSpec, ...]
    notes: tuple[str, ...]


def list_inputs(inputs: Sequence[str | Path], folders: str = "aligned") -> InputListing:
    """Expand command-line inputs into sources, one per video or image.

    A file is a video or an image. A folder of numbered images without videos is one video, of aligned
    faces or of whole frames as ``folders`` says. Any other folder contributes its videos, its images (each
    one frame; a numbered one too, since the folder is not one video) and its folders of numbered images
    (e.g. an s-Aff-Wild2 ``cropped_aligned`` root). A path that does not exist stays in the list as an
    "invalid" source, so that the batch reports it and carries on.
    """
    check_folder_kind(folders)
    sources: list[SourceSpec] = []
    notes: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found, note = _read_folder(path, folders)
            sources += found
            notes.append(note)
        else:
            sources.append(describe_source(item, folders))
    return InputListing(tuple(sources), tuple(notes))


def find_sources(inputs: Sequence[str | Path], folders: str = "aligned") -> list[SourceSpec]:
    """The sources of ``list_inputs``, without its notes."""
    return list(list_inputs(inputs, folders).sources)


_FOLDER_READ_AS = {"aligned": "aligned faces", "frames": "whole frames"}


def _read_folder(path: Path, folders: str) -> tuple[list[SourceSpec], str]:
    """The sources one folder given as an input holds, and the line that says so."""
    contents = folder_contents(path)
    if contents.is_one_video:
        unread = sorted(p.name for p in (*contents.stills, *contents.folders, *contents.others))
        note = f"{path}: one video of {len(contents.frames)} numbered frames, read as {_FOLDER_READ_AS[folders]}"
        return [SourceSpec(path.name, folders, str(path))], note + _not_read(unread, "not images named by number")
    videos, images = contents.videos, sorted((*contents.frames, *contents.stills))
    frame_folders = [p for p in contents.folders if is_aligned_folder(p)]
    unread = sorted([p.name + "/" for p in set(contents.folders) - set(frame_folders)]
                    + [p.name for p in contents.others])
    specs = ([describe_source(p, folders) for p in videos] + [SourceSpec(p.name, folders, str(p)) for p in frame_folders]
             + [describe_source(p, folders) for p in images])
    if not specs:
        problem = "a folder with no videos, images or folders of numbered frames"
        return [SourceSpec(path.name, "invalid", str(path), problem)], f"{path}: {problem}" + _not_read(unread, _OTHER)
    parts = [_counted(len(videos), "video"), _counted(len(frame_folders), "folder") + " of numbered frames "
             f"(each one video, read as {_FOLDER_READ_AS[folders]})" if frame_folders else "",
             _counted(len(images), "image") + " (one frame each)" if images else ""]
    note = f"{path}: " + ", ".join(part for part in parts if part)
    if videos and contents.frames:
        note += "; its numbered images are single images, not frames of one video, since the folder holds videos"
    return specs, note + _not_read(unread, _OTHER)


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}" if count else ""


_OTHER = "neither videos, images nor folders of numbered frames"


def _not_read(names: Sequence[str], why: str, shown: int = 5) -> str:
    if not names:
        return ""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"; not read ({why}): {', '.join(names[:shown])}{more}"


def open_source(location: str | Path | int, **options) -> FrameSource:
    """Open a video file, aligned-face folder, image or webcam index."""
    return describe_source(location).open(**options)
