"""Atomic writes: whole files or nothing, and never over something that is not a regular file."""

from __future__ import annotations

import os
import socket
import stat

import pytest

from affectstream.core.atomic import OutputPathError, atomic_write, write_text_atomic


def test_a_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(path, "w") as handle:
            handle.write("new, half")
            raise RuntimeError("disk full")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]


def test_a_fifo_or_a_directory_is_refused_and_left_as_it_was(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OutputPathError, match="pipe is not a regular file"):
        write_text_atomic(fifo, "x")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    with pytest.raises(OutputPathError, match="is a directory"):
        write_text_atomic(tmp_path, "x")
    assert sorted(os.listdir(tmp_path)) == ["pipe"]


def test_a_socket_is_refused(tmp_path):
    path = tmp_path / "s.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    try:
        with pytest.raises(OutputPathError, match="not a regular file"):
            write_text_atomic(path, "x")
        assert stat.S_ISSOCK(os.stat(path).st_mode)
    finally:
        server.close()


def test_a_character_device_is_refused_when_one_can_be_made(tmp_path):
    device = tmp_path / "null"
    try:
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod needs root here")
    with pytest.raises(OutputPathError, match="not a regular file"):
        write_text_atomic(device, "x")
    assert stat.S_ISCHR(os.stat(device).st_mode)


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    write_text_atomic(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    dangling = tmp_path / "dangling.txt"
    dangling.symlink_to(tmp_path / "made.txt")
    write_text_atomic(dangling, "made")
    assert dangling.is_symlink() and (tmp_path / "made.txt").read_text() == "made"
    to_dev = tmp_path / "to-dir"
    to_dev.symlink_to(tmp_path)
    with pytest.raises(OutputPathError, match="a link to"):
        write_text_atomic(to_dev, "x")


def test_a_failed_replace_names_the_output_not_its_hidden_temporary_file(tmp_path, monkeypatch):
    """annotate said 'cannot write the outputs for v1 (.../.v1.csv.eli2_c17.tmp: Operation not permitted)'."""
    from affectstream.core.results.csv_file import ResultsCsvWriter, RowMaker

    real_replace = os.replace

    def refused(src, dst):
        raise PermissionError(1, "Operation not permitted", str(src), None, str(dst))

    monkeypatch.setattr(os, "replace", refused)
    with pytest.raises(PermissionError) as raised:
        with atomic_write(tmp_path / "v1.png", "w") as handle:
            handle.write("x")
    assert raised.value.filename == str(tmp_path / "v1.png")
    writer = ResultsCsvWriter(tmp_path / "v1.csv", RowMaker())
    with pytest.raises(PermissionError) as raised:
        writer.commit()
    writer.close()
    assert raised.value.filename == str(tmp_path / "v1.csv") and "v1.csv" in str(raised.value)
    monkeypatch.setattr(os, "replace", real_replace)
    assert os.listdir(tmp_path) == []  # no temporary file left either
