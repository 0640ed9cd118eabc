"""Resume files holding more than tensors: refused, without pointing at the unsafe option (issue 13, D)."""

from __future__ import annotations

import io
import pickle

import pytest
import torch

from affectstream.core.errors import UserInputError


class _Payload:
    """Unpickling this would create a file: the code a planted last.pt could carry."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


def _planted(tmp_path, how: str):
    marker = tmp_path / "pwned"
    path = tmp_path / "last.pt"
    state = {"model": _Payload(marker), "epoch": 0}
    if how == "pickle":
        path.write_bytes(pickle.dumps(state))
    else:  # torch's own zip format, as a real last.pt is
        buffer = io.BytesIO()
        torch.save(state, buffer)
        path.write_bytes(buffer.getvalue())
    return path, marker


def _check_message(message: str, path) -> None:
    assert str(path) in message
    assert "weights_only" not in message and "likely succeed" not in message
    assert "possibly code" in message and "for safety" in message


@pytest.mark.parametrize("how", ["pickle", "torch.save"])
def test_train_resume_refuses_code_and_says_restart(tmp_path, how):
    from affectstream.training.loop import _load_last

    path, marker = _planted(tmp_path, how)
    with pytest.raises(UserInputError) as caught:
        _load_last(path)
    _check_message(str(caught.value), path)
    assert "--restart" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert not marker.exists()


@pytest.mark.parametrize("how", ["pickle", "torch.save"])
def test_fer_resume_refuses_code_without_the_unsafe_hint(tmp_path, how):
    from affectstream.training.fer.loop import _resume

    path, marker = _planted(tmp_path, how)
    with pytest.raises(UserInputError) as caught:
        _resume(path, None, torch.nn.Linear(2, 2), None, torch.Generator(), print)
    _check_message(str(caught.value), path)
    assert not marker.exists()


def test_a_damaged_resume_file_is_named_too(tmp_path):
    from affectstream.training.loop import _load_last

    path = tmp_path / "last.pt"
    buffer = io.BytesIO()
    torch.save({"epoch": 1}, buffer)
    path.write_bytes(buffer.getvalue()[:100])
    with pytest.raises(UserInputError, match=r"last\.pt: cannot resume .*use --restart") as caught:
        _load_last(path)
    assert "weights_only" not in str(caught.value)
