"""No command writes over its own inputs (issue 36, item 1): a --out that names an input, through any spelling or
link, or a folder a command clears that holds an input, is refused before any work, and the input is left as it was."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from affectstream.core.atomic import OutputPathError, check_inputs_kept, cleared_folder, written_file
from affectstream.cli.main import main
from affectstream.core.features.store import FeatureStore
from affectstream.core.temporal.checkpoint import ModelMeta, save_checkpoint
from affectstream.core.temporal.config import GRUConfig, ModelConfig
from affectstream.core.temporal.multitask import MultiTaskModel
from affectstream.training.synthetic import BACKBONES


# ---------------------------------------------------------------------------
# The check itself, on temporary files
# ---------------------------------------------------------------------------


@pytest.fixture
def labels(tmp_path) -> Path:
    path = tmp_path / "ann.txt"
    path.write_text("image,valence\n")
    return path


def test_an_output_that_is_the_input_is_refused_naming_option_and_both_paths(labels):
    with pytest.raises(OutputPathError) as refused:
        check_inputs_kept({"--frames": str(labels)}, [written_file("--out", str(labels))])
    assert str(refused.value) == (f"--out {labels} is the --frames file {labels} itself (same file); "
                                  "choose another --out")


@pytest.mark.parametrize("spelling, how", [
    ("./ann.txt", "same file"),
    ("sub/../ann.txt", "same file"),
    ("link.txt", "same file, through a symbolic link"),
    ("hard.txt", "same file, through a hard link"),
])
def test_every_spelling_and_link_of_the_input_is_the_input(labels, tmp_path, monkeypatch, spelling, how):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    os.symlink("ann.txt", tmp_path / "link.txt")
    os.link(labels, tmp_path / "hard.txt")
    with pytest.raises(OutputPathError, match=rf"is the --frames file ann.txt itself \({how}\)"):
        check_inputs_kept({"--frames": "ann.txt"}, [written_file("--out", spelling)])


def test_a_file_written_inside_the_output_folder_names_both(tmp_path):
    member = tmp_path / "mm" / "best.safetensors"
    member.parent.mkdir()
    member.write_bytes(b"weights")
    with pytest.raises(OutputPathError) as refused:
        check_inputs_kept({"checkpoint": [str(tmp_path / "other"), str(member)]},
                          [written_file("--out", str(tmp_path / "mm"), "best.safetensors")])
    assert str(refused.value) == (f"--out {tmp_path / 'mm'} would write {member} over the checkpoint file {member} "
                                  "(same file); choose another --out")


def test_a_cleared_folder_may_not_hold_an_input_nor_be_one(tmp_path, labels):
    run = tmp_path / "run"
    (run / "deep").mkdir(parents=True)
    inside = run / "deep" / "train.txt"
    inside.write_text("x")
    clears = cleared_folder("--out", str(run), "--restart discards the run there")
    with pytest.raises(OutputPathError) as refused:
        check_inputs_kept({"--val": labels, "--train": inside}, [clears])
    assert str(refused.value) == (f"--out {run}: --restart discards the run there, and the --train file {inside} "
                                  "lies inside it; choose another --out")
    with pytest.raises(OutputPathError, match=rf"the --features folder {run} is that folder;"):
        check_inputs_kept({"--features": run}, [clears])
    # A link into the folder reaches what is cleared; so does a link that lies in it (it goes with the folder).
    os.symlink(inside, tmp_path / "into.txt")
    with pytest.raises(OutputPathError, match="lies inside it"):
        check_inputs_kept({"--train": tmp_path / "into.txt"}, [clears])
    os.symlink(labels, run / "out-of.txt")
    with pytest.raises(OutputPathError, match="lies inside it"):
        check_inputs_kept({"--train": run / "out-of.txt"}, [clears])
    # The folder reached through a link of its own is the same folder.
    os.symlink(run, tmp_path / "run-link")
    with pytest.raises(OutputPathError, match="lies inside it"):
        check_inputs_kept({"--train": inside}, [cleared_folder("--out", str(tmp_path / "run-link"), "clears")])


def test_only_an_input_that_is_there_and_reached_is_refused(tmp_path, labels):
    other = tmp_path / "other.txt"
    other.write_text("y")
    (tmp_path / "runs").mkdir()
    absent = tmp_path / "absent.txt"
    # Not there (nor listed): left to the checks that read inputs. Another file, a folder the output only
    # lies in, a cleared folder beside the input or not there yet: nothing of the input is replaced.
    check_inputs_kept({"--frames": absent, "--train": None, "--videos": []}, [written_file("--out", str(absent))])
    check_inputs_kept({"--frames": labels}, [written_file("--out", str(other)), written_file("--out", str(tmp_path)),
                                             cleared_folder("--out", str(tmp_path / "runs"), "clears"),
                                             cleared_folder("--out", str(tmp_path / "not-there"), "clears")])
    with pytest.raises(OutputPathError, match="is the --frames file"):
        check_inputs_kept({"--frames": [absent, labels]}, [written_file("--out", str(other)),
                                                           written_file("--out", str(labels))])


# ---------------------------------------------------------------------------
# The commands: exit status 2, one line, the input's bytes unchanged
# ---------------------------------------------------------------------------


def untrained_model(path: Path, data, seed: int = 0) -> Path:
    """A small GRU on the tiny data's features: loads and runs like a trained one, with no training."""
    specs = FeatureStore(data.features).specs(BACKBONES)
    torch.manual_seed(seed)
    config = ModelConfig(input_dim=sum(s.dim for s in specs), encoder=GRUConfig(hidden_size=8), head_hidden=(8,))
    path.parent.mkdir(parents=True, exist_ok=True)
    return Path(save_checkpoint(path, MultiTaskModel(config).eval(), ModelMeta(f"tiny-{seed}", config, specs,
                                                                               seq_len=24)))


def refused(argv: list[str], capsys, kept: Path) -> str:
    """Run the command; it must exit 2 with one error line and leave ``kept`` as it was. Returns the line."""
    before = kept.read_bytes()
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert kept.read_bytes() == before
    assert err.count("\n") == 1, err
    return err.rstrip("\n")


def test_predict_refuses_writing_over_its_frame_list(tiny_data, tmp_path, capsys):
    frames = Path(shutil.copy(tiny_data.val_annotations, tmp_path / "ann.txt"))
    model = untrained_model(tmp_path / "ck.safetensors", tiny_data)
    line = refused(["predict", "--checkpoint", str(model), "--features", str(tiny_data.features),
                    "--frames", str(frames), "--out", str(frames), "--no-progress"], capsys, frames)
    assert line == (f"affectstream predict: error: --out {frames} is the --frames file {frames} itself (same file); "
                    "choose another --out")


def test_predict_refuses_writing_over_its_model(tiny_data, tmp_path, capsys):
    model = untrained_model(tmp_path / "ck.safetensors", tiny_data)
    line = refused(["predict", "--checkpoint", str(model), "--features", str(tiny_data.features),
                    "--frames", str(tiny_data.val_annotations), "--out", str(model), "--no-progress"], capsys, model)
    assert line == (f"affectstream predict: error: --out {model} is the --checkpoint file {model} itself "
                    "(same file); choose another --out")


@pytest.mark.parametrize("spelling, how", [
    ("sub/../ann.txt", "same file"),
    ("link.txt", "same file, through a symbolic link"),
    ("hard.txt", "same file, through a hard link"),
])
def test_predict_knows_its_frame_list_by_another_spelling_or_link(tiny_data, tmp_path, capsys, monkeypatch,
                                                                  spelling, how):
    monkeypatch.chdir(tmp_path)
    frames = Path(shutil.copy(tiny_data.val_annotations, tmp_path / "ann.txt"))
    (tmp_path / "sub").mkdir()
    os.symlink("ann.txt", "link.txt")
    os.link("ann.txt", "hard.txt")
    model = untrained_model(tmp_path / "ck.safetensors", tiny_data)
    line = refused(["predict", "--checkpoint", str(model), "--features", str(tiny_data.features),
                    "--frames", "ann.txt", "--out", spelling, "--no-progress"], capsys, frames)
    assert line == (f"affectstream predict: error: --out {spelling} is the --frames file ann.txt itself ({how}); "
                    "choose another --out")
    assert os.path.islink("link.txt") and os.path.samefile("hard.txt", frames)


def test_evaluate_refuses_saving_the_ensemble_over_a_member(tiny_data, tmp_path, capsys):
    members = [untrained_model(tmp_path / f"ck{i}.safetensors", tiny_data, seed=i) for i in (1, 2)]
    line = refused(["evaluate", "--checkpoint", *map(str, members), "--annotations", str(tiny_data.val_annotations),
                    "--features", str(tiny_data.features), "--save-ensemble", str(members[1]), "--no-progress"],
                   capsys, members[1])
    assert line == (f"affectstream evaluate: error: --save-ensemble {members[1]} is the --checkpoint file "
                    f"{members[1]} itself (same file); choose another --save-ensemble")


def test_merge_models_refuses_an_out_whose_best_model_is_a_member(tiny_data, tmp_path, capsys):
    first = untrained_model(tmp_path / "mm" / "best.safetensors", tiny_data, seed=1)
    second = untrained_model(tmp_path / "m2.safetensors", tiny_data, seed=2)
    line = refused(["merge-models", str(first), str(second), "--val", str(tiny_data.val_annotations),
                    "--features", str(tiny_data.features), "--out", str(tmp_path / "mm")], capsys, first)
    assert line == (f"affectstream merge-models: error: --out {tmp_path / 'mm'} would write {first} over the "
                    f"checkpoint file {first} (same file); choose another --out")


def test_train_restart_refuses_a_run_folder_holding_its_annotations(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    train = Path(shutil.copy(tiny_data.train_annotations, out / "train.txt"))
    line = refused(["train", "--train", str(train), "--val", str(tiny_data.val_annotations),
                    "--features", str(tiny_data.features), "--backbones", *BACKBONES, "--out", str(out),
                    "--hidden", "8", "--seq-len", "24", "--epochs", "1", "--restart", "--no-progress"], capsys, train)
    assert line == (f"affectstream train: error: --out {out}: --restart discards the run there, and the --train "
                    f"file {train} lies inside it; choose another --out")
    assert sorted(p.name for p in out.iterdir()) == ["train.txt"]  # no run was started there


def test_cv_thresholds_refuses_an_out_that_is_a_fold_model(tiny_data, tmp_path, capsys):
    final = untrained_model(tmp_path / "final.safetensors", tiny_data)
    fold = untrained_model(tmp_path / "fold1.safetensors", tiny_data, seed=1)
    line = refused(["cv-thresholds", str(final), "--folds", str(fold), "--data", str(tmp_path),
                    "--out", str(fold)], capsys, fold)
    assert line.endswith(f"--out {fold} is the --folds file {fold} itself (same file); choose another --out")


def test_train_fer_refuses_starting_from_weights_its_run_writes_over(tmp_path, capsys):
    start = tmp_path / "run" / "best.safetensors"
    start.parent.mkdir()
    start.write_bytes(b"earlier weights")
    line = refused(["train-fer", "train", "--data", str(tmp_path / "fer.npz"), "--out", str(tmp_path / "run"),
                    "--init-from", str(start), "--no-progress"], capsys, start)
    assert line.endswith(f"--out {tmp_path / 'run'} would write {start} over the --init-from file {start} "
                         "(same file); choose another --out")


def test_import_stills_refuses_a_csv_inside_the_folders_it_replaces(tmp_path, capsys):
    mine = tmp_path / "data" / "by_set" / "mine.csv"
    mine.parent.mkdir(parents=True)
    mine.write_text("image,expression\n")
    line = refused(["import-stills", "--sets", "--csv", str(mine), "--out", str(tmp_path / "data")], capsys, mine)
    assert line.endswith(f"--out {tmp_path / 'data'}: import-stills replaces an earlier import's files there, and the "
                         f"--csv file {mine} lies inside {tmp_path / 'data' / 'by_set'}; choose another --out")


def test_a_bench_refuses_an_out_that_is_a_model_it_reads(tiny_data, tmp_path, capsys):
    model = untrained_model(tmp_path / "m.safetensors", tiny_data)
    line = refused(["bench", "labels", "--data", str(tmp_path), "--models", str(model), "--out", str(model)],
                   capsys, model)
    assert line == (f"affectstream bench: error: --out {model} is the --models file {model} itself (same file); "
                    "choose another --out")
