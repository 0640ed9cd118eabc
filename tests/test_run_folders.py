"""Run folders and outputs (new-user probe A): a command replaces or clears only what it made itself, one command
at a time writes a run folder, a resume refuses data that changed under it, and whatever can be checked before the
epochs is checked then; one unreadable feature file never stops predict or evaluate."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from affectstream.core.atomic import RUN_LOCK
from affectstream.cli.main import main
from affectstream.core.features.store import FeatureStore, VideoFeatures
from affectstream.training.synthetic import BACKBONES
from tests.media import REPO
from tests.test_training_e2e import _train_args


def digests(folder: Path) -> dict[str, str]:
    """Every file of the folder (lock files aside) and its SHA-256: what "left as it was" means."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(folder).iterdir())
            if p.is_file() and not p.name.endswith(".lock")}


def refused(argv: list[str], capsys) -> str:
    """Run the command: exit 2 with one error line, which is returned."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.rstrip("\n")


def refused_while_held(source: Path, run: Path, argv: list[str], held_lock, capsys) -> None:
    """Copy the run ``source`` to ``run`` and hold its lock: the command ``argv`` is refused in one line naming
    the holder, and the folder is left as it was."""
    run = Path(shutil.copytree(source, run))
    before = digests(run)
    pid = held_lock(run)
    line = refused(argv, capsys)
    assert f"--out {run}: another command is writing there (process {pid} on " in line
    assert digests(run) == before


def merge_args(members, data, out) -> list[str]:
    return ["merge-models", *map(str, members), "--val", str(data.val_annotations), "--features",
            str(data.features), "--out", str(out)]


@pytest.fixture(scope="module")
def runs(tiny_data, tmp_path_factory):
    """Two one-epoch train runs and the merge-models output of their models."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("runs")
    for name, seed in (("a", "0"), ("b", "1")):
        assert main(_train_args(tiny_data, root / name, "--epochs", "1", "--seed", seed)) == 0
    members = [root / name / "best.safetensors" for name in ("a", "b")]
    assert main(merge_args(members, tiny_data, root / "merged")) == 0
    return root, members


# ---------------------------------------------------------------------------
# F1, F2: merge-models and train each replace their own kind of folder only
# ---------------------------------------------------------------------------


def test_merge_models_refuses_a_train_run_and_train_refuses_a_merge(runs, tiny_data, tmp_path, capsys):
    root, members = runs
    run3 = Path(shutil.copytree(root / "a", tmp_path / "run3"))
    before = digests(run3)
    line = refused(merge_args(members, tiny_data, run3), capsys)
    assert line.startswith(f"affectstream merge-models: error: --out {run3}: a train run (options.json, data.json, "
                           "last.pt, history.json") and "merge-models did not write it" in line
    assert digests(run3) == before
    # A train run whose model a merge replaced before this check existed is no longer resumed as its own.
    shutil.copy(root / "merged" / "best.safetensors", run3 / "best.safetensors")
    line = refused(_train_args(tiny_data, run3, "--epochs", "2"), capsys)
    assert f"--out {run3}: a merge-models output (best.safetensors) is already there" in line

    mcopy = Path(shutil.copytree(root / "merged", tmp_path / "mcopy"))
    before = digests(mcopy)
    for extra in ([], ["--restart"]):
        line = refused(_train_args(tiny_data, mcopy, "--epochs", "1", *extra), capsys)
        assert line == (f"affectstream train: error: --out {mcopy}: a merge-models output (best.safetensors) is "
                        "already there and train did not write it, so it is not replaced; choose another --out")
    assert digests(mcopy) == before


def test_a_merge_is_written_again_over_its_own_merge_only(runs, tiny_data, tmp_path, capsys):
    root, members = runs
    again = Path(shutil.copytree(root / "merged", tmp_path / "again"))
    assert main(merge_args(members, tiny_data, again)) == 0  # the command run again (finishing a stopped merge)
    other = tmp_path / "other"
    other.mkdir()
    (other / "best.safetensors").write_bytes(b"someone's weights")
    line = refused(merge_args(members, tiny_data, other), capsys)
    assert "a file that is no merge-models output (best.safetensors) is already there" in line
    assert (other / "best.safetensors").read_bytes() == b"someone's weights"


def test_train_run_folders_without_their_options_are_neither_resumed_nor_restarted(runs, tiny_data, tmp_path,
                                                                                  capsys):
    root, _ = runs
    run = Path(shutil.copytree(root / "a", tmp_path / "run"))
    (run / "options.json").write_text(json.dumps({"format": "another-tool", "lr": 1}))
    before = digests(run)
    line = refused(_train_args(tiny_data, run, "--epochs", "1", "--restart"), capsys)
    assert "options.json: unreadable run options" in line and "not known as a train run's" in line
    assert digests(run) == before


# ---------------------------------------------------------------------------
# F5: evaluate and predict replace only their own files
# ---------------------------------------------------------------------------


def test_evaluate_and_predict_replace_only_files_of_their_own(runs, tiny_data, tmp_path, capsys):
    root, members = runs
    run = Path(shutil.copytree(root / "a", tmp_path / "run3b"))
    before = digests(run)
    evaluate = ["evaluate", "--checkpoint", *map(str, members), "--annotations", str(tiny_data.val_annotations),
                "--features", str(tiny_data.features), "--no-progress"]
    line = refused([*evaluate, "--save-ensemble", str(run / "best.safetensors")], capsys)
    assert line == (f"affectstream evaluate: error: --save-ensemble {run / 'best.safetensors'}: a file that is no "
                    "ensemble file is already there and evaluate did not write it, so it is not replaced; "
                    "choose another --save-ensemble")
    predict = ["predict", "--checkpoint", str(members[0]), "--features", str(tiny_data.features),
               "--frames", str(tiny_data.val_annotations), "--no-progress"]
    line = refused([*predict, "--out", str(run / "last.pt")], capsys)
    assert f"--out {run / 'last.pt'}: a file that is no predictions file" in line
    assert digests(run) == before
    # Their own files are written again; a train-fer run's metrics.json is not an evaluation report.
    ensemble, predictions = tmp_path / "ensemble.json", tmp_path / "pred.txt"
    for _ in range(2):
        assert main([*evaluate, "--save-ensemble", str(ensemble), "--out", str(tmp_path / "eval")]) == 0
        assert main([*predict, "--out", str(predictions)]) == 0
    fer_run = tmp_path / "fer"
    fer_run.mkdir()
    (fer_run / "metrics.json").write_text('{"private_test": {"accuracy": 0.7}}\n')
    line = refused([*evaluate, "--out", str(fer_run)], capsys)
    assert f"--out {fer_run}: a metrics.json that is no evaluation report is already there" in line
    assert (fer_run / "metrics.json").read_text() == '{"private_test": {"accuracy": 0.7}}\n'


# ---------------------------------------------------------------------------
# F6: one command at a time writes a run folder
# ---------------------------------------------------------------------------


@pytest.fixture
def held_lock():
    """Hold a folder's run lock from another process, as a running command does; yields the holder's pid."""
    holders = []

    def hold(folder: Path) -> int:
        folder.mkdir(parents=True, exist_ok=True)
        code = ("import sys, time\nfrom pathlib import Path\nfrom affectstream.core.output_lock import output_lock\n"
                f"with output_lock(Path(sys.argv[1]), {RUN_LOCK!r}):\n    print('held', flush=True)\n"
                "    time.sleep(120)\n")
        process = subprocess.Popen([sys.executable, "-c", code, str(folder)], cwd=REPO, stdout=subprocess.PIPE,
                                   text=True)
        holders.append(process)
        assert process.stdout.readline().strip() == "held"
        return process.pid

    yield hold
    for process in holders:
        process.kill()
        process.wait()


def test_a_second_command_on_a_run_folder_being_written_is_refused_naming_the_first(runs, tiny_data, tmp_path,
                                                                                   capsys, held_lock):
    root, members = runs
    run = tmp_path / "busy"
    refused_while_held(root / "a", run, _train_args(tiny_data, run, "--epochs", "2"), held_lock, capsys)
    pid = held_lock(tmp_path / "merging")
    line = refused(merge_args(members, tiny_data, tmp_path / "merging"), capsys)
    assert f"another command is writing there (process {pid} on " in line
    assert not (tmp_path / "merging" / "best.safetensors").exists()


# ---------------------------------------------------------------------------
# F8: a resume refuses features that changed under it
# ---------------------------------------------------------------------------


def test_resume_refuses_a_feature_store_replaced_since_the_run_started(tiny_data, tmp_path, capsys):
    torch.set_num_threads(1)
    data = Path(shutil.copytree(tiny_data.root, tmp_path / "data"))
    features = data / tiny_data.features.relative_to(tiny_data.root)
    args = _train_args(tiny_data, tmp_path / "run", "--epochs", "1")
    args[args.index("--features") + 1] = str(features)
    assert main(args) == 0
    recorded = json.loads((tmp_path / "run" / "data.json").read_text())["features"]
    assert set(recorded) == set(BACKBONES) and "train-000" in recorded[BACKBONES[0]]["videos"]
    # The same spec, one video extracted again: most of its faces lost.
    store = FeatureStore(features)
    old = store.read(BACKBONES[0], "train-000")
    store.write(BACKBONES[0], "train-000", VideoFeatures(old.frames, old.features, old.face_found & (old.frames < 5)))
    args[args.index("--epochs") + 1] = "2"
    line = refused(args, capsys)
    assert line.startswith(f"affectstream train: error: --features {features}: changed since {tmp_path / 'run'}'s "
                           f"run started ({BACKBONES[0]}/train-000.npz is another file; see ")
    assert [h["epoch"] for h in json.loads((tmp_path / "run" / "history.json").read_text())] == [1]


# ---------------------------------------------------------------------------
# F17, F18, F25, F26, F27: options and data that cannot work, refused before anything is written
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("argv, said", [
    (["--seed", "-1"], "argument --seed: a whole number from 0 to 4294967295, got '-1'"),
    (["--seed", "99999999999999999999999"], "argument --seed: a whole number from 0 to 4294967295"),
    (["--threads", "-1"], "argument --threads: a whole number, 1 or more, got '-1'"),
    (["--threads", "0"], "argument --threads: a whole number, 1 or more, got '0'"),
    (["--hidden", "0"], "argument --hidden: a whole number, 1 or more, got '0'"),
    (["--layers", "0"], "argument --layers: a whole number, 1 or more"),
    (["--top-layers", "-1"], "argument --top-layers: a whole number, 1 or more"),
])
def test_numbers_out_of_range_are_refused_where_they_are_read(tiny_data, tmp_path, capsys, argv, said):
    with pytest.raises(SystemExit) as raised:
        main(_train_args(tiny_data, tmp_path / "run", "--epochs", "1", *argv))
    assert raised.value.code == 2 and said in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_bench_synthetic_seed_is_checked_and_train_help_says_what_threads_takes(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["bench", "synthetic", "--seed", "-1", "--out", str(tmp_path / "r.json")])
    assert "argument --seed: a whole number from 0 to 4294967295, got '-1'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "1 or more (default: torch's own choice" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("argv, said", [
    (["--dropout", "1.5"], "dropout must be from 0 to below 1, got 1.5"),
    (["--input-dropout", "1"], "input dropout must be from 0 to below 1, got 1.0"),
])
def test_model_options_that_make_no_model_leave_no_run_folder(tiny_data, tmp_path, capsys, argv, said):
    line = refused(_train_args(tiny_data, tmp_path / "run", "--epochs", "1", *argv), capsys)
    assert said in line and not (tmp_path / "run").exists()


def test_smoothing_that_cannot_be_chosen_is_refused_before_the_first_epoch(tiny_data, tmp_path, capsys, monkeypatch):
    import cv2

    import affectstream.training.loop as loop

    def no_epoch(*args, **kwargs):
        raise AssertionError("an epoch ran before the smoothing options were checked")

    monkeypatch.setattr(loop, "train_epoch", no_epoch)
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (64, 48))
    for _ in range(5):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    line = refused(_train_args(tiny_data, tmp_path / "run", "--epochs", "1", "--smoothing-videos", str(video)),
                   capsys)
    assert "--smoothing-videos: the synth-a features cannot be taken of a video (unknown extractor 'synth-a'" in line
    lines = tiny_data.val_annotations.read_text().splitlines()
    no_va = tmp_path / "no_va.txt"
    no_va.write_text("\n".join([lines[0]] + [",".join(c if k not in (1, 2) else "-5" for k, c in
                                                      enumerate(ln.split(","))) for ln in lines[1:]]) + "\n")
    args = _train_args(tiny_data, tmp_path / "run", "--epochs", "1", "--smoothing-rule", "ccc")
    args[args.index("--val") + 1] = str(no_va)
    line = refused(args, capsys)
    assert f"--smoothing-rule ccc needs valence/arousal labels in --val {no_va}" in line
    assert not (tmp_path / "run").exists()


def test_training_validated_on_its_own_training_file_is_warned_about(tiny_data, tmp_path, capsys):
    torch.set_num_threads(1)
    args = _train_args(tiny_data, tmp_path / "run", "--epochs", "1")
    args[args.index("--val") + 1] = str(tiny_data.train_annotations)
    assert main(args) == 0
    assert (f"warning: --train and --val are the same file ({tiny_data.train_annotations}): validation scores"
            in capsys.readouterr().out)


# ---------------------------------------------------------------------------
# F4: the synthetic benchmark's workdir (bench synthetic, once demo)
# ---------------------------------------------------------------------------


def test_bench_synthetic_refuses_a_workdir_it_did_not_make_and_reuses_its_own(runs, tmp_path, capsys):
    from affectstream.bench.synthetic import check_own_workdir, claim_workdir

    root, _ = runs
    workdir = tmp_path / "wd"
    real = Path(shutil.copytree(root / "a", workdir / "runs" / "gru"))
    before = digests(real)
    small = ["--videos", "3", "--epochs", "1", "--mlp-epochs", "1", "--hidden", "8", "--seq-len", "20"]
    line = refused(["bench", "synthetic", "--workdir", str(workdir), "--out", str(tmp_path / "r.json"),
                    "--no-progress", *small], capsys)
    assert line == (f"affectstream bench: error: --workdir {workdir}: a folder with runs/ but no bench synthetic "
                    "marker (.affectstream-demo.json) is already there and bench synthetic did not write it, so it is "
                    "not replaced; choose another --workdir")
    assert digests(real) == before and not (workdir / "data").exists()
    own = tmp_path / "own"
    claim_workdir(own)  # what the benchmark writes first into its workdir
    (own / "runs").mkdir()
    check_own_workdir(own)


# ---------------------------------------------------------------------------
# F20, F24: predict and evaluate with a bad input
# ---------------------------------------------------------------------------


def test_a_frame_list_that_is_not_text_is_named(runs, tiny_data, tmp_path, capsys):
    _, members = runs
    binary = tmp_path / "binfl.txt"
    binary.write_bytes(b"\xff\xfe\x00\x81binary")
    line = refused(["predict", "--checkpoint", str(members[0]), "--features", str(tiny_data.features),
                    "--frames", str(binary), "--out", str(tmp_path / "p.txt"), "--no-progress"], capsys)
    assert line.startswith(f"affectstream predict: error: {binary}: not a UTF-8 text file")


def test_one_unreadable_feature_file_leaves_out_its_video_only(runs, tiny_data, tmp_path, capsys):
    _, members = runs
    features = Path(shutil.copytree(tiny_data.features, tmp_path / "features"))
    damaged = features / BACKBONES[0] / "val-000.npz"
    damaged.write_bytes(damaged.read_bytes()[:300])
    frames = tmp_path / "frames.txt"
    frames.write_text(tiny_data.val_annotations.read_text() + "ghost/00001.jpg,0,0,0," + ",".join(["0"] * 12) + "\n")
    out = tmp_path / "pred.txt"
    capsys.readouterr()
    assert main(["predict", "--checkpoint", str(members[0]), "--features", str(features), "--frames", str(frames),
                 "--out", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert err[0].startswith("error: video ghost left out (1 frames not predicted): video 'ghost': no feature file")
    assert err[1].startswith(f"error: video val-000 left out (") and f"{damaged}: unreadable or damaged" in err[1]
    written = {line.split("/")[0] for line in out.read_text().splitlines()[1:]}
    assert written == {"val-001"}
    # evaluate scores the rest, says which video it left out and why, and records it.
    assert main(["evaluate", "--checkpoint", str(members[0]), "--annotations", str(tiny_data.val_annotations),
                 "--features", str(features), "--out", str(tmp_path / "eval"), "--no-progress"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: video val-000 left out")
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert list(report["videos_left_out"]) == ["val-000"] and report["frames"] > 0


# ---------------------------------------------------------------------------
# F3, F9 and the minor items: train-fer
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fer_runs(tmp_path_factory):
    """Two tiny finished train-fer runs and a FER2013-shaped .npz of synthetic faces."""
    from affectstream.core.features.expression_cnn import FER_CLASSES
    from affectstream.training.fer.loop import TrainConfig, train
    from tests.test_fer_training import SMALL, _faces

    root = tmp_path_factory.mktemp("fer")
    tr, va = _faces(128, 0), _faces(32, 1)
    for seed in (0, 1):
        cfg = TrainConfig(epochs=1, batch_size=32, model=SMALL, bf16=False, channels_last=False, threads=1, seed=seed)
        train(cfg, tr, va, root / f"run{seed}", progress_bar=False, log=lambda _: None)
    images = np.concatenate([tr.images.numpy(), va.images.numpy(), va.images.numpy()])
    labels = np.concatenate([tr.labels.numpy(), va.labels.numpy(), va.labels.numpy()])
    usage = np.array(["Training"] * 128 + ["PublicTest"] * 32 + ["PrivateTest"] * 32)
    np.savez(root / "fer.npz", images=images, labels=labels.astype(np.int8), usage=usage,
             classes=np.array(FER_CLASSES))
    return root


def fer_args(root: Path, out: Path, *extra: str) -> list[str]:
    return ["train-fer", "train", "--data", str(root / "fer.npz"), "--out", str(out), "--threads", "1", "--no-bf16",
            "--batch-size", "32", "--widths", "8,8,16,16", "--no-progress", *extra]


def ensemble_args(root: Path, out: Path, *runs: str) -> list[str]:
    return ["train-fer", "ensemble", "--data", str(root / "fer.npz"), "--out", str(out), "--threads", "1", *runs]


def test_train_fer_ensemble_refuses_another_training_run_and_rewrites_its_own(fer_runs, tmp_path, capsys):
    runs = [str(fer_runs / "run0"), str(fer_runs / "run1")]
    other = Path(shutil.copytree(fer_runs / "run0", tmp_path / "tfx2"))
    before = digests(other)
    line = refused(ensemble_args(fer_runs, other, *runs), capsys)
    assert line.startswith(f"affectstream train-fer: error: --out {other}: a train-fer training run (config.json, "
                           "last.pt, history.json, best.safetensors) is already there and train-fer ensemble did "
                           "not write it")
    assert digests(other) == before
    ensemble = tmp_path / "ens"
    for _ in range(2):  # its own ensemble is written again
        assert main(ensemble_args(fer_runs, ensemble, *runs)) == 0
    line = refused(fer_args(fer_runs, ensemble, "--epochs", "1"), capsys)  # training over an ensemble
    assert f"--out {ensemble}: a train-fer ensemble (members.json, best.safetensors, " in line
    assert "is already there and train-fer train did not write it" in line


def test_train_fer_resume_refuses_another_data_file_and_another_network_in_one_line(fer_runs, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(fer_args(fer_runs, run, "--epochs", "1")) == 0
    other = tmp_path / "other.npz"
    with np.load(fer_runs / "fer.npz") as data:
        np.savez(other, **{k: data[k] for k in data.files} | {"images": 255 - data["images"]})
    before = digests(run)
    args = fer_args(fer_runs, run, "--epochs", "2")
    args[args.index("--data") + 1] = str(other)
    line = refused(args, capsys)
    assert f"last.pt: this run trained on another data file, not --data {other}" in line
    wider = fer_args(fer_runs, run, "--epochs", "2")
    wider[wider.index("--widths") + 1] = "8,12,16,24"
    line = refused(wider, capsys)
    assert "its network differs from this run's (" in line and "saved" in line
    assert digests(run) == before
    assert main(fer_args(fer_runs, run, "--epochs", "2")) == 0  # its own data: resumed
    assert len(json.loads((run / "history.json").read_text())) == 2


def test_train_fer_metrics_hold_null_where_a_figure_has_nothing_to_count(fer_runs, tmp_path):
    from affectstream.training.fer.finalize import finalize
    from tests.test_fer_training import _faces

    run = Path(shutil.copytree(fer_runs / "run0", tmp_path / "run"))
    # Ten synthetic faces: some classes have none (recall NaN) and the landmarker finds no face in them.
    finalize(run, _faces(32, 1), _faces(10, 2), threads=1, runtime_sample=4)
    text = (run / "metrics.json").read_text()

    def no_constant(name):
        raise ValueError(f"{name} in metrics.json")

    metrics = json.loads(text, parse_constant=no_constant)
    assert None in metrics["private_test"]["per_class_recall"].values()
    assert metrics["runtime_path"]["accuracy_runtime_path"] is None


def test_train_fer_on_a_folder_being_written_is_refused_naming_the_first(fer_runs, tmp_path, capsys, held_lock):
    run = tmp_path / "run"
    refused_while_held(fer_runs / "run0", run, fer_args(fer_runs, run, "--epochs", "2"), held_lock, capsys)
