"""Photos are read as a viewer shows them: their EXIF orientation applied (a phone's upside-down or sideways
JPEG gave no face, or boxes in stored-pixel coordinates), and the results say so."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

import affectstream
from affectstream.core.images import ORIENTATIONS, exif_orientation, upright
from affectstream.core.sources.readers import read_image
from affectstream.training.stills.framing import read_image as read_still
from tests.media import shared_file

# What each orientation's viewer does, undone: the stored pixels of an upright picture.
STORED = {1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
          5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, 1), 7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
          8: lambda a: np.rot90(a, -1)}


def save_with_orientation(path, upright_bgr: np.ndarray, orientation: int, quality: int = 100):
    stored = np.ascontiguousarray(STORED[orientation](upright_bgr))
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored[:, :, ::-1]).save(path, exif=exif, quality=quality)
    return path


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_every_orientation_is_turned_upright_as_opencv_and_pillow_show_it(tmp_path, orientation):
    from PIL import ImageOps

    picture = np.zeros((40, 64, 3), np.uint8)
    picture[:10, :20] = (255, 255, 255)  # a corner mark: any wrong turn moves it
    picture[30:, 50:] = (0, 0, 255)
    path = save_with_orientation(tmp_path / "o.jpg", picture, orientation)
    assert exif_orientation(path) == orientation
    viewer = cv2.imread(str(path), cv2.IMREAD_COLOR)  # OpenCV's own reader applies the tag
    pillow = np.asarray(ImageOps.exif_transpose(Image.open(path)))[:, :, ::-1]
    for ours in (read_image(path), read_still(path)):
        assert ours.shape == picture.shape
        np.testing.assert_array_equal(ours, viewer)
        np.testing.assert_array_equal(ours, pillow)
    assert np.abs(read_image(path).astype(int) - picture).mean() < 4  # jpeg: close to the upright picture


def test_a_file_without_orientation_or_not_an_image_is_as_stored(tmp_path):
    plain = tmp_path / "plain.png"
    cv2.imwrite(str(plain), np.zeros((5, 7, 3), np.uint8))
    (tmp_path / "junk.jpg").write_bytes(b"not an image")
    assert exif_orientation(plain) == 1 and exif_orientation(tmp_path / "junk.jpg") == 1
    assert exif_orientation(tmp_path / "missing.jpg") == 1
    assert upright(np.arange(6).reshape(2, 3), 1).tolist() == [[0, 1, 2], [3, 4, 5]]


@pytest.mark.parametrize("orientation", [3, 6])
def test_a_phone_photo_is_annotated_upright_and_the_table_says_so(tmp_path, orientation):
    """Orientation 3 gave "face in 0"; with 6 the boxes were in stored-pixel coordinates."""
    original = shared_file("images", "single_face.jpg")
    photo = save_with_orientation(tmp_path / "phone.jpg", cv2.imread(str(original)), orientation, quality=95)
    seen, reference = affectstream.analyze(photo), affectstream.analyze(original)
    assert seen["success"].iloc[0] == 1
    box = ["x0", "y0", "x1", "y1"]
    np.testing.assert_allclose(seen[box].to_numpy(), reference[box].to_numpy(), atol=6)
    assert f"exif_orientation={orientation}" in seen["settings"].iloc[0]
    assert "exif_orientation" not in reference["settings"].iloc[0]
