"""FER2013 faces through the run-time path: landmarker -> five points -> FER-framed crop.

FER2013 faces fill their 48x48 image, which is small for the face detector; each
is padded by repeating its border and upscaled before the MediaPipe Face
Landmarker runs on it (IMAGE mode, no tiled search). The five points found there
give (a) the FER template (``measure_template``, on Training faces) and (b) the
run-time crops (``runtime_crops``): the same affectstream.core.features.expression_cnn.fer_crop_from_face
that the live extractor calls, applied to the padded, upscaled image as the frame.
Landmarks are cached in an .npz since they do not depend on the CNN.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectstream.core.atomic import atomic_write
from affectstream.core.faces.alignment import five_points
from affectstream.core.features.expression_cnn import fer_crop_from_points
from affectstream.training.stills.framing import SMALL_CROP

# SMALL_CROP's geometry on a 48x48 face: 8 px of repeated border, then 64 px -> 256 px.
PAD = 8
UPSCALE = 4


@dataclass(frozen=True)
class FerLandmarks:
    indices: np.ndarray  # (N,) indices into the split the images came from
    found: np.ndarray  # (N,) bool: the landmarker found a face
    points: np.ndarray  # (N, 5, 2) five points in the padded, upscaled frame (NaN where not found)


def detector_frame(image_u8: np.ndarray) -> np.ndarray:
    """The BGR frame the landmarker sees for one 48x48 FER2013 face."""
    return SMALL_CROP.frame(image_u8)


def detect_points(images_u8: np.ndarray, indices: np.ndarray, cache: Path | None = None) -> FerLandmarks:
    """Five points of each face (largest face when several), cached by index list."""
    indices = np.asarray(indices)
    if cache is not None and Path(cache).is_file():
        with np.load(cache) as data:
            if np.array_equal(data["indices"], indices):
                return FerLandmarks(data["indices"], data["found"], data["points"])
    from affectstream.core.faces.landmarker import FaceAnalyzer

    found = np.zeros(len(indices), dtype=bool)
    points = np.full((len(indices), 5, 2), np.nan)
    with FaceAnalyzer.create(tile_search=0) as analyzer:
        for k, i in enumerate(indices):
            face = analyzer.analyze(detector_frame(images_u8[i])).largest()
            if face is not None:
                found[k] = True
                points[k] = five_points(face.landmarks)
    result = FerLandmarks(indices, found, points)
    if cache is not None:
        with atomic_write(cache) as fh:
            np.savez(fh, indices=indices, found=found, points=points)
    return result


def points_in_fer_pixels(points: np.ndarray) -> np.ndarray:
    """Landmarker frame coordinates -> the 48x48 image's pixel-centre coordinates.

    MediaPipe's coordinates are fractions of the image size (0 at the left edge);
    OpenCV's warps put pixel i's centre at i, hence the half pixel.
    """
    return np.asarray(points) / UPSCALE - PAD - 0.5


def measure_template(landmarks: FerLandmarks) -> np.ndarray:
    """Median five points on 48x48 faces, averaged with their mirror image (training uses flips)."""
    pts = points_in_fer_pixels(landmarks.points[landmarks.found])
    if len(pts) == 0:
        raise ValueError("no face found: cannot measure a template")
    median = np.median(pts, axis=0)
    mirrored = median[[1, 0, 2, 4, 3]].copy()  # swap left/right eyes and mouth corners
    mirrored[:, 0] = 47.0 - mirrored[:, 0]  # pixel centres: x -> 47 - x
    return (median + mirrored) / 2.0


def runtime_crops(images_u8: np.ndarray, landmarks: FerLandmarks) -> np.ndarray:
    """(n_found, 48, 48) uint8: the run-time crops of the faces where one was found."""
    crops = [
        fer_crop_from_points(detector_frame(images_u8[i]), p)
        for i, p, ok in zip(landmarks.indices, landmarks.points, landmarks.found)
        if ok
    ]
    return np.stack(crops) if crops else np.zeros((0, 48, 48), np.uint8)
