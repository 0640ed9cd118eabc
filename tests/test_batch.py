"""What annotate and extract share: input names checked, reports in input order."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest

from affectstream.cli.main import main
from affectstream.core.errors import UserInputError
from affectstream.jobs.batch import check_names, in_input_order
from tests.media import shared_file


def test_two_inputs_with_one_name_are_refused_before_any_work():
    check_names([SimpleNamespace(name="a"), SimpleNamespace(name="b")])
    with pytest.raises(UserInputError, match="share a video name: a"):
        check_names([SimpleNamespace(name="a"), SimpleNamespace(name="b"), SimpleNamespace(name="a")])


def test_reports_come_back_in_input_order():
    sources = [SimpleNamespace(name=n) for n in "cab"]
    reports = [SimpleNamespace(name=n) for n in "abc"]
    assert [r.name for r in in_input_order(reports, sources)] == ["c", "a", "b"]


@pytest.mark.parametrize("command", ["annotate", "extract"])
def test_both_commands_refuse_one_name_twice(command, tmp_path, capsys):
    video = shared_file("videos", "single_face.mp4")
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        shutil.copy(video, tmp_path / folder / "clip.mp4")
    args = [command, str(tmp_path / "one" / "clip.mp4"), str(tmp_path / "two" / "clip.mp4"),
            "--out", str(tmp_path / "out"), "--no-progress"]
    assert main(args) == 2
    assert "several inputs share a video name: clip" in capsys.readouterr().err
    assert not list((tmp_path / "out").rglob("*.csv")) and not list((tmp_path / "out").rglob("*.npz"))
