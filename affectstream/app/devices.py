"""What this machine offers: cameras to pick from and whether CUDA can run the temporal model."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

V4L_ROOT = Path("/sys/class/video4linux")
PROBED_INDICES = 4  # elsewhere cameras are found by opening indices 0..3


@dataclass(frozen=True)
class CameraInfo:
    index: int
    name: str

    @property
    def label(self) -> str:
        return f"Camera {self.index}: {self.name}"


def list_cameras(v4l_root: Path = V4L_ROOT) -> list[CameraInfo]:
    """The webcams OpenCV can open by index. On Linux read from sysfs (no device is opened);
    elsewhere by opening the first few indices."""
    if sys.platform.startswith("linux"):
        found = []
        for node in sorted(v4l_root.glob("video*")) if v4l_root.is_dir() else []:
            suffix = node.name[len("video"):]
            if not (suffix.isascii() and suffix.isdigit()):
                continue
            # Capture devices expose index 0 of their interface; metadata nodes have other indices.
            index_file = node / "index"
            if index_file.is_file() and index_file.read_text().strip() not in ("", "0"):
                continue
            name_file = node / "name"
            name = name_file.read_text().strip() if name_file.is_file() else node.name
            found.append(CameraInfo(int(suffix), name))
        return sorted(found, key=lambda c: c.index)
    import cv2

    found = []
    for index in range(PROBED_INDICES):
        capture = cv2.VideoCapture(index)
        try:
            if capture.isOpened():
                found.append(CameraInfo(index, f"camera {index}"))
        finally:
            capture.release()
    return found


@dataclass(frozen=True)
class CudaStatus:
    available: bool
    reason: str  # why it is (not) available, for the settings dialog


def cuda_status() -> CudaStatus:
    try:
        import onnxruntime as ort
    except ImportError:
        return CudaStatus(False, "onnxruntime is not installed")
    offered = ort.get_available_providers()
    if "CUDAExecutionProvider" in offered:
        return CudaStatus(True, "onnxruntime offers CUDAExecutionProvider")
    return CudaStatus(False, f"onnxruntime offers only {', '.join(offered)}: CUDA needs the onnxruntime-gpu "
                             "build and an NVIDIA GPU")
