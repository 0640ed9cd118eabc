"""The synthetic data set has the planted structure the benchmark relies on."""

from __future__ import annotations

import numpy as np

from affectstream.core.labels import NUM_EXPRESSIONS
from affectstream.training.annotations import read_annotations
from affectstream.training.synthetic import SyntheticConfig, _episodes, write_synthetic


def test_episodes_cross_segment_boundaries():
    # The cue of an episode is only in its first frames: for a large share of frames
    # it lies in an earlier 250-frame segment, reachable only through carried state.
    cfg = SyntheticConfig()
    rng = np.random.default_rng(0)
    earlier, total = 0, 0
    for _ in range(20):
        classes, cue = _episodes(1000, cfg, rng)
        starts = np.flatnonzero(cue & ~np.roll(cue, 1) | (np.arange(1000) == 0))
        last_start = starts[np.searchsorted(starts, np.arange(1000), side="right") - 1]
        earlier += int(np.sum(last_start // 250 < np.arange(1000) // 250))
        total += 1000
        # Episodes change class and cover the whole video.
        assert (classes >= 0).all() and (classes < NUM_EXPRESSIONS).all()
    assert earlier / total > 0.2


def test_written_data_set_reads_back_with_missing_labels_and_faceless_frames(tmp_path):
    data = write_synthetic(tmp_path, SyntheticConfig(train_videos=3, val_videos=2, min_frames=200, max_frames=300,
                                                     missing_task_prob=0.0, seed=5))
    train = read_annotations(data.train_annotations)
    assert sorted(train) == ["train-000", "train-001", "train-002"]
    from affectstream.core.features.store import FeatureStore

    store = FeatureStore(data.features)
    feats = store.read_concat(list(data.backbones), "train-000")
    assert feats.dim == 40 and len(feats.frames) == len(train["train-000"].frames)
    assert 0 < (~feats.face_found).sum() < 0.1 * len(feats.frames)
    assert (feats.features[~feats.face_found] == 0).all()
    labels = train["train-000"]
    assert (labels.expr == -1).any() and (labels.expr >= 0).mean() > 0.9
    assert ((labels.va >= -1) & (labels.va <= 1) | (labels.va == -5)).all()


def test_impossible_sizes_are_refused_before_anything_is_written_and_a_rerun_leaves_no_old_videos(tmp_path, capsys):
    """synth --min-frames 100 --max-frames 10 was numpy's 'low >= high' with a features/ folder left behind;
    a smaller second set into the same folder kept the first set's extra videos in its feature store."""
    from affectstream.cli.main import main
    from affectstream.core.features.store import FeatureStore

    for extra, said in ((["--min-frames", "100", "--max-frames", "10"], "need 1 <= min (100) <= max (10)"),
                        (["--min-frames", "0", "--max-frames", "0"], "need 1 <= min (0) <= max (0)"),
                        (["--train-videos", "0"], "at least one training and one validation video")):
        assert main(["synth", "--out", str(tmp_path / "bad"), *extra]) == 2
        assert said in capsys.readouterr().err
        assert not (tmp_path / "bad").exists()
    small = ["--min-frames", "20", "--max-frames", "30"]
    assert main(["synth", "--out", str(tmp_path / "set"), "--train-videos", "3", "--val-videos", "2", *small]) == 0
    assert main(["synth", "--out", str(tmp_path / "set"), "--train-videos", "1", "--val-videos", "1", *small]) == 0
    store = FeatureStore(tmp_path / "set" / "features")
    assert store.videos("synth-a") == store.videos("synth-b") == ["train-000", "val-000"]


def test_bench_counts_below_one_are_refused_in_one_line(capsys):
    """bench faces --repeat 0 and bench fer --timing-calls 0 ended in Python tracebacks."""
    from affectstream.cli.main import main

    for args, said in ((["faces", "--repeat", "0"], "--repeat must be at least 1"),
                       (["fer", "--timing-calls", "0"], "--timing-calls must be at least 1")):
        assert main(["bench", *args]) == 2
        assert said in capsys.readouterr().err


def test_outputs_that_cannot_be_written_are_refused_before_the_work(tmp_path, capsys, monkeypatch):
    """bench synthetic (then demo) trained every model (75 s) before saying its --out was a folder; cv-thresholds,
    bench labels and bench train ran their models first too."""
    import affectstream.bench.synthetic as synthetic
    from affectstream.cli.main import main

    def no_training(*args, **kwargs):
        raise AssertionError("trained before the output was checked")

    monkeypatch.setattr(synthetic, "train", no_training)
    folder = tmp_path / "a_folder"
    folder.mkdir()
    for args in (["bench", "synthetic", "--out", str(folder)],
                 ["cv-thresholds", str(tmp_path / "model.safetensors"), "--folds", "f1", "f2", "--data", "d",
                  "--out", str(folder)],
                 ["bench", "labels", "--data", str(tmp_path / "nowhere"), "--out", str(folder)],
                 ["bench", "train", "--out", str(folder)]):
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert "is a directory" in err and str(folder) in err, err
    assert main(["bench", "synthetic", "--out", str(tmp_path / "r.json"), "--mlp-epochs", "-1"]) == 2
    assert "--mlp-epochs must be at least 1" in capsys.readouterr().err


def test_a_command_stopped_by_sigterm_cleans_up_as_ctrl_c_does(tmp_path):
    """`timeout` or `kill` (SIGTERM) left the synthetic benchmark's temporary data folder behind; Ctrl-C removed
    it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    env = os.environ | {"TMPDIR": str(tmp_path)}
    command = [sys.executable, "-m", "affectstream.cli", "bench", "synthetic", "--out", str(tmp_path / "r.json"),
               "--no-progress", "--epochs", "50"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("affectstream-bench-synthetic-*/data/features")) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert list(tmp_path.glob("affectstream-bench-synthetic-*")), "bench synthetic did not start"
        time.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    # 130, or death by SIGINT (a shell shows both as 130): CPython sometimes ends by SIGINT after a KeyboardInterrupt
    # the command caught (about 1 run in 6 here); the cleanup has happened either way.
    assert process.returncode in (130, -signal.SIGINT) and "interrupted" in err
    assert not list(tmp_path.glob("affectstream-bench-synthetic-*"))


def test_an_in_process_command_gives_back_the_sigterm_handler_it_found(tmp_path):
    import signal

    from affectstream.cli.main import main

    for found in (signal.SIG_DFL, signal.SIG_IGN):
        before = signal.signal(signal.SIGTERM, found)
        try:
            assert main(["synth", "--out", str(tmp_path / "set"), "--train-videos", "1", "--val-videos", "1",
                         "--min-frames", "20", "--max-frames", "20"]) == 0
            assert signal.getsignal(signal.SIGTERM) == found
        finally:
            signal.signal(signal.SIGTERM, before)


def test_synth_library_call_writes_the_set_it_returns(tmp_path, capsys):
    from affectstream.core.features.store import FeatureStore
    from affectstream.training.synth_run import SynthOptions, synth
    from affectstream.training.synthetic import SyntheticConfig

    data = synth(SynthOptions(str(tmp_path / "set"), SyntheticConfig(train_videos=2, val_videos=1, min_frames=20,
                                                                      max_frames=30, seed=3)))
    printed = capsys.readouterr().out
    assert f"annotations: {data.train_annotations}, {data.val_annotations}" in printed
    assert data.train_annotations.is_file() and data.val_annotations.is_file()
    assert FeatureStore(data.features).videos(data.backbones[0]) == ["train-000", "train-001", "val-000"]
