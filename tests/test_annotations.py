import numpy as np
import pytest

from affectstream.core.errors import UserInputError
from affectstream.training.annotations import (
    AnnotationError,
    VideoLabels,
    format_image_name,
    read_annotations,
    write_annotations,
)

HEADER = "image,valence,arousal,expression,AU1,AU2,AU4,AU6,AU7,AU10,AU12,AU15,AU23,AU24,AU25,AU26"
AUS_A = "1,0,0,1,0,0,1,0,0,0,1,0"
AUS_MISSING = ",".join(["-1"] * 12)


def _write(tmp_path, body, name="train.txt"):
    path = tmp_path / name
    path.write_text(body)
    return path


def test_reads_groups_and_sorts_frames(tmp_path):
    path = _write(
        tmp_path,
        f"{HEADER}\n"
        f"video-1_left/00003.jpg,0.5,-0.25,4,{AUS_A}\n"
        f"12-24-1920x1080/00001.jpg,-5,-5,-1,{AUS_MISSING}\n"
        "\n"
        f"video-1_left/00001.jpg,-1,1,0,{AUS_MISSING}\n"
        f"video-1_left/2.png,0.1,0.2,7,{AUS_A}\n",
    )
    labels = read_annotations(path)
    assert list(labels) == ["12-24-1920x1080", "video-1_left"]
    v = labels["video-1_left"]
    assert v.frames.dtype == np.int64 and v.frames.tolist() == [1, 2, 3]
    np.testing.assert_allclose(v.va, [[-1, 1], [0.1, 0.2], [0.5, -0.25]], rtol=1e-6)
    assert v.va.dtype == np.float32
    assert v.expr.tolist() == [0, 7, 4]
    assert v.au.tolist()[0] == [-1] * 12
    assert v.au.tolist()[2] == [int(a) for a in AUS_A.split(",")]
    other = labels["12-24-1920x1080"]
    assert other.va.tolist() == [[-5.0, -5.0]] and other.expr.tolist() == [-1]


def test_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    labels = {}
    for name in ("b_vid-2", "a-vid_1"):
        n = 30
        va = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
        va[:3] = -5
        labels[name] = VideoLabels(
            video=name,
            frames=np.sort(rng.choice(200000, n, replace=False)),
            va=va,
            expr=rng.integers(-1, 8, n),
            au=rng.integers(-1, 2, (n, 12)),
        )
    path = tmp_path / "out" / "labels.txt"
    write_annotations(path, labels)
    text = path.read_text().splitlines()
    assert text[0] == HEADER
    assert text[1].startswith(f"a-vid_1/{labels['a-vid_1'].frames[0]:05d}.jpg,-5,-5,")
    back = read_annotations(path)
    assert list(back) == ["a-vid_1", "b_vid-2"]
    for name, item in labels.items():
        got = back[name]
        np.testing.assert_array_equal(got.frames, item.frames)
        np.testing.assert_array_equal(got.va, item.va)  # exact: float32 written as shortest repr
        np.testing.assert_array_equal(got.expr, item.expr)
        np.testing.assert_array_equal(got.au, item.au)


def test_format_image_name():
    assert format_image_name("12-24_x", 7) == "12-24_x/00007.jpg"
    assert format_image_name("v", 123456) == "v/123456.jpg"


GOOD = f"v/00001.jpg,0.1,0.2,3,{AUS_A}"


@pytest.mark.parametrize(
    "lines, line_no, fragment",
    [
        ([GOOD, "v/00002.jpg,0.1,0.2,3,1,0"], 3, "expected 16 columns, found 6"),
        ([GOOD, f"v/00002.jpg,0.1,abc,3,{AUS_A}"], 3, "arousal 'abc' is not a number"),
        ([GOOD, f"v/00002.jpg,0.1,,3,{AUS_A}"], 3, "arousal '' is not a number"),
        ([GOOD, f"v/00002.jpg,1.5,0.2,3,{AUS_A}"], 3, "valence 1.5 is outside"),
        ([GOOD, f"v/00002.jpg,0.1,-4,3,{AUS_A}"], 3, "arousal -4 is outside"),
        ([GOOD, f"v/00002.jpg,nan,0.2,3,{AUS_A}"], 3, "valence nan is outside"),
        ([GOOD, f"v/00002.jpg,0.1,0.2,8,{AUS_A}"], 3, "expression 8 is not an integer"),
        ([GOOD, f"v/00002.jpg,0.1,0.2,-2,{AUS_A}"], 3, "expression -2 is not an integer"),
        ([GOOD, f"v/00002.jpg,0.1,0.2,2.5,{AUS_A}"], 3, "expression 2.5 is not an integer"),
        ([GOOD, "v/00002.jpg,0.1,0.2,3,1,0,0,1,0,0,1,0,0,0,1,2"], 3, "AU26 2 is not one of"),
        ([GOOD, "v/00002.jpg,0.1,0.2,3,0.5,0,0,1,0,0,1,0,0,0,1,0"], 3, "AU1 0.5 is not one of"),
        ([GOOD, f"v/frame2.jpg,0.1,0.2,3,{AUS_A}"], 3, "is not of the form"),
        ([GOOD, f"00002.jpg,0.1,0.2,3,{AUS_A}"], 3, "is not of the form"),
        ([GOOD, f"v/00002,0.1,0.2,3,{AUS_A}"], 3, "is not of the form"),
        ([GOOD, f"a/b/00002.jpg,0.1,0.2,3,{AUS_A}"], 3, "is not of the form"),
        ([GOOD, f"v/-2.jpg,0.1,0.2,3,{AUS_A}"], 3, "is not of the form"),
        ([GOOD, f"w/00002.jpg,0,0,0,{AUS_A}", "", f"v/1.jpg,0,0,0,{AUS_A}"], 5, "is also on line 2"),
    ],
)
def test_errors_name_file_and_line(tmp_path, lines, line_no, fragment):
    path = _write(tmp_path, HEADER + "\n" + "\n".join(lines) + "\n", name="bad_labels.txt")
    with pytest.raises(AnnotationError) as info:
        read_annotations(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line_no}: "), message
    assert fragment in message, message


def test_duplicate_names_both_lines_and_video(tmp_path):
    body = f"{HEADER}\n{GOOD}\nv/00002.jpg,0,0,0,{AUS_A}\nv/00002.jpg,0,0,0,{AUS_A}\n"
    with pytest.raises(AnnotationError, match=r"bad\.txt:4: frame 2 of video 'v' is also on line 3"):
        read_annotations(_write(tmp_path, body, name="bad.txt"))


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("", "missing header"),
        (f"\n{GOOD}\n", "missing header"),
        (f"{GOOD}\n", "invalid header"),
        (HEADER.replace("AU26", "AU27") + "\n", "invalid header"),
    ],
)
def test_header_errors(tmp_path, body, fragment):
    path = _write(tmp_path, body, name="hdr.txt")
    with pytest.raises(AnnotationError, match=fragment) as info:
        read_annotations(path)
    assert str(info.value).startswith(f"{path}:1: ")


def test_missing_file_and_header_only(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(AnnotationError, match="nope.txt: annotation file not found"):
        read_annotations(missing)
    assert issubclass(AnnotationError, UserInputError)
    # header only, CRLF line ends and no trailing newline are fine
    assert read_annotations(_write(tmp_path, HEADER)) == {}
    crlf = _write(tmp_path, f"{HEADER}\r\n{GOOD}\r\n\r\n", name="crlf.txt")
    assert read_annotations(crlf)["v"].frames.tolist() == [1]
