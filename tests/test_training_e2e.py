"""Every encoder x framework trained end to end on synthetic data through the CLI:
`train`, `evaluate` and `predict`, plus resuming and bad input."""

from __future__ import annotations

import json
import re
import shutil

import cv2
import numpy as np
import pytest
import torch

from affectstream.core.temporal.checkpoint import load_checkpoint
from affectstream.cli.main import main
from affectstream.training.evaluate_run import EvaluateOptions, evaluate
from affectstream.training.model_choice import ModelChoice
from affectstream.training.predict_run import PredictOptions, predict
from affectstream.training.synthetic import BACKBONES

ENCODERS = ("gru", "lstm", "transformer", "mlp")
FRAMEWORKS = ("basic", "share-bottom", "feedback")


def _train_args(data, out, *extra):
    return ["train", "--train", str(data.train_annotations), "--val", str(data.val_annotations),
            "--features", str(data.features), "--backbones", *BACKBONES, "--out", str(out),
            "--hidden", "16", "--seq-len", "24", "--batch-size", "3", "--lr", "1e-3",
            "--no-progress", *extra]


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("encoder", ENCODERS)
def test_train_evaluate_predict(tiny_data, tmp_path, encoder, framework, capsys):
    torch.set_num_threads(1)
    out = tmp_path / "run"
    assert main(_train_args(tiny_data, out, "--encoder", encoder, "--framework", framework, "--epochs", "2")) == 0
    for name in ("best.safetensors", "last.pt", "history.json", "history.csv", "curves.png", "options.json"):
        assert (out / name).is_file(), name
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]

    loaded = load_checkpoint(out / "best.safetensors")
    assert loaded.meta.model_config.framework == framework
    assert loaded.meta.feature_names == list(BACKBONES)
    assert loaded.meta.post.offline_window >= 1 and len(loaded.meta.au_thresholds) == 12
    assert "val_metrics_smoothed" in loaded.meta.provenance

    model = ModelChoice((str(out / "best.safetensors"),))
    evaluated = evaluate(EvaluateOptions(model, str(tiny_data.val_annotations), str(tiny_data.features),
                                         out=str(tmp_path / "eval"), progress=False))
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert evaluated.metrics_file == tmp_path / "eval" / "metrics.json" and evaluated.ensemble_file is None
    assert json.loads(json.dumps(evaluated.report)) == report and not evaluated.videos_left_out
    assert report["metrics_smoothed"]["p_mtl"] is not None and not report["retuned_on_these_labels"]
    assert (tmp_path / "eval" / "evaluation.png").stat().st_size > 1000

    pred = tmp_path / "pred.txt"
    predicted = predict(PredictOptions(model, str(tiny_data.features), str(pred),
                                       frames=str(tiny_data.val_annotations), progress=False))
    lines = pred.read_text().splitlines()
    labelled = tiny_data.val_annotations.read_text().splitlines()
    assert (predicted.out, predicted.frames, predicted.failures) == (pred, len(labelled) - 1, ())
    assert lines[0] == "image,valence,arousal,expression,aus"
    assert len(lines) == len(labelled)
    assert [line.split(",")[0] for line in lines[1:]] == [line.split(",")[0] for line in labelled[1:]]
    for line in lines[1:]:
        cols = line.split(",")
        assert len(cols) == 16
        assert -1 <= float(cols[1]) <= 1 and -1 <= float(cols[2]) <= 1
        assert 0 <= int(cols[3]) <= 7 and set(cols[4:]) <= {"0", "1"}


def test_resume_continues_where_it_stopped_and_matches_an_uninterrupted_run(tiny_data, tmp_path):
    torch.set_num_threads(1)
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert main(_train_args(tiny_data, straight, "--epochs", "3")) == 0
    # "Interrupted" after epoch 1, then the same command with the full epoch count.
    assert main(_train_args(tiny_data, stopped, "--epochs", "1")) == 0
    assert main(_train_args(tiny_data, stopped, "--epochs", "3")) == 0
    a = json.loads((straight / "history.json").read_text())
    b = json.loads((stopped / "history.json").read_text())
    assert [h["epoch"] for h in b] == [1, 2, 3]
    np.testing.assert_allclose([h["train_loss"] for h in a], [h["train_loss"] for h in b], rtol=1e-5)
    np.testing.assert_allclose([h["val_p_mtl"] for h in a], [h["val_p_mtl"] for h in b], rtol=1e-5)


def test_resume_with_other_options_is_refused(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_train_args(tiny_data, out, "--epochs", "1")) == 0
    assert main(_train_args(tiny_data, out, "--epochs", "2", "--encoder", "lstm")) == 2
    err = capsys.readouterr().err
    assert "other options" in err and "encoder: 'gru' then, 'lstm' now" in err
    assert main(_train_args(tiny_data, out, "--epochs", "1", "--encoder", "lstm", "--restart")) == 0


def test_resume_by_another_spelling_of_the_same_paths_or_after_moving_the_run(tiny_data, tmp_path, monkeypatch):
    torch.set_num_threads(1)
    out = tmp_path / "run"
    monkeypatch.chdir(tiny_data.train_annotations.parent)
    relative = ["train", "--train", tiny_data.train_annotations.name, "--val", tiny_data.val_annotations.name,
                "--features", str(tiny_data.features), "--backbones", *BACKBONES, "--hidden", "16",
                "--seq-len", "24", "--batch-size", "3", "--lr", "1e-3", "--no-progress"]
    assert main([*relative, "--out", str(out), "--epochs", "1"]) == 0
    assert main(_train_args(tiny_data, out, "--epochs", "2")) == 0  # absolute paths now: same run, resumed
    moved = tmp_path / "moved"
    out.rename(moved)
    assert main(_train_args(tiny_data, moved, "--epochs", "3")) == 0
    assert [h["epoch"] for h in json.loads((moved / "history.json").read_text())] == [1, 2, 3]


def test_missing_or_garbage_run_options_are_named(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_train_args(tiny_data, out, "--epochs", "1")) == 0
    (out / "options.json").write_text("{not json")
    assert main(_train_args(tiny_data, out, "--epochs", "2")) == 2
    assert "options.json: unreadable run options" in capsys.readouterr().err
    (out / "options.json").unlink()
    assert main(_train_args(tiny_data, out, "--epochs", "2")) == 2
    assert "options.json is missing" in capsys.readouterr().err


def test_annotations_with_every_label_missing_are_refused(tiny_data, tmp_path, capsys):
    lines = tiny_data.train_annotations.read_text().splitlines()
    empty = tmp_path / "nothing.txt"
    empty.write_text("\n".join([lines[0]] + [line.split(",")[0] + ",-5,-5,-1," + ",".join(["-1"] * 12)
                                             for line in lines[1:]]) + "\n")
    args = _train_args(tiny_data, tmp_path / "run", "--epochs", "1")
    args[args.index("--train") + 1] = str(empty)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "nothing.txt: every valence/arousal, expression and AU label is missing" in err
    assert not (tmp_path / "run" / "best.safetensors").exists()


def test_checkpoint_that_does_not_match_the_features_is_a_clear_error(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_train_args(tiny_data, out, "--epochs", "1")) == 0
    # A store whose first backbone has another dimension under the same name.
    store = tmp_path / "features"
    shutil.copytree(tiny_data.features, store)
    from affectstream.core.features.store import FeatureSpec, FeatureStore, VideoFeatures

    fs = FeatureStore(store)
    spec_path = fs.backbone_dir("synth-a") / "spec.json"
    spec_path.write_text(json.dumps(FeatureSpec("synth-a", 7).to_json()))
    for video in fs.videos("synth-a"):
        fs.write("synth-a", video, VideoFeatures([1, 2], np.ones((2, 7)), [True, True]))
    code = main(["evaluate", "--checkpoint", str(out / "best.safetensors"), "--annotations",
                 str(tiny_data.val_annotations), "--features", str(store), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "expects 40 feature dimensions" in err and "synth-a(20)" in err


def test_malformed_annotation_line_stops_training_naming_file_and_line(tiny_data, tmp_path, capsys):
    bad = tmp_path / "train.txt"
    lines = tiny_data.train_annotations.read_text().splitlines()
    lines[5] = lines[5].rsplit(",", 1)[0] + ",2"  # AU value 2
    bad.write_text("\n".join(lines) + "\n")
    args = _train_args(tiny_data, tmp_path / "run", "--epochs", "1")
    args[args.index("--train") + 1] = str(bad)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{bad}:6:" in err


def test_not_a_checkpoint_is_a_clear_error(tiny_data, tmp_path, capsys):
    fake = tmp_path / "model.safetensors"
    fake.write_bytes(b"this is not a model")
    code = main(["predict", "--checkpoint", str(fake), "--features", str(tiny_data.features),
                 "--out", str(tmp_path / "p.txt"), "--no-progress"])
    assert code == 2
    assert "not a safetensors checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "p.txt").exists()


def _without_neutral_frames(data, tmp_path):
    """The validation annotations cut to video val-000, which has no frame labelled Neutral."""
    lines = data.val_annotations.read_text().splitlines()
    path = tmp_path / "no_neutral.txt"
    path.write_text("\n".join([lines[0]] + [line for line in lines[1:] if line.startswith("val-000/")]) + "\n")
    return path


def _va_rows(path):
    rows = [line.split(",") for line in path.read_text().splitlines()[1:]]
    return [r[0] for r in rows], np.array([[float(r[1]), float(r[2])] for r in rows])


def test_ensemble_averages_members_and_retunes_thresholds(tiny_data, tmp_path, capsys):
    torch.set_num_threads(1)
    members = []
    for encoder in ("gru", "mlp"):
        out = tmp_path / encoder
        assert main(_train_args(tiny_data, out, "--encoder", encoder, "--epochs", "1")) == 0
        members.append(str(out / "best.safetensors"))
    ens = tmp_path / "ensemble.json"
    evaluated = evaluate(EvaluateOptions(ModelChoice(tuple(members)), str(tiny_data.val_annotations),
                                         str(tiny_data.features), save_ensemble=str(ens), progress=False))
    assert "re-tuned" in capsys.readouterr().out  # several checkpoints: re-tuned without being asked
    assert evaluated.ensemble_file == ens and evaluated.report["retuned_on_these_labels"]
    saved = json.loads(ens.read_text())
    assert len(saved["members"]) == 2 and len(saved["au_thresholds"]) == 12

    # --au-neutral-cap 0 keeps every AU off on the Neutral frames where a threshold can; refused without re-tuning.
    capped = tmp_path / "capped.json"
    assert main(["evaluate", "--checkpoint", *members, "--annotations", str(tiny_data.val_annotations),
                 "--features", str(tiny_data.features), "--save-ensemble", str(capped), "--au-neutral-cap", "0",
                 "--out", str(tmp_path / "capped"), "--no-progress"]) == 0
    from affectstream.training.evaluation import load_models, predict_videos
    from affectstream.training.annotations import read_annotations
    from affectstream.core.features.store import FeatureStore
    from affectstream.training.metrics import tune_au_thresholds
    labels = read_annotations(tiny_data.val_annotations)
    raw = predict_videos(load_models(members), FeatureStore(tiny_data.features),
                         {v: lab.frames for v, lab in labels.items()}, smooth=False, progress=False)
    au = np.concatenate([p.preds.au_probs for p in raw])
    au_true = np.concatenate([labels[p.video].au for p in raw])
    neutral = au[np.concatenate([labels[p.video].expr for p in raw]) == 0]
    want = tune_au_thresholds(au, au_true, quiet=[neutral], max_quiet_rate=0.0)
    assert not np.array_equal(want, saved["au_thresholds"])  # the cap binds here
    np.testing.assert_allclose(json.loads(capped.read_text())["au_thresholds"], want, atol=1e-6)
    assert json.loads((tmp_path / "capped" / "metrics.json").read_text())["au_neutral_cap"] == 0.0
    assert json.loads(capped.read_text())["provenance"]["au_neutral_cap"] == 0.0
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", members[0], "--annotations", str(tiny_data.val_annotations),
                 "--features", str(tiny_data.features), "--au-neutral-cap", "0.2", "--no-progress"]) == 2
    assert "add --retune" in capsys.readouterr().err
    no_neutral = _without_neutral_frames(tiny_data, tmp_path)
    assert main(["evaluate", "--checkpoint", *members, "--annotations", str(no_neutral), "--features",
                 str(tiny_data.features), "--au-neutral-cap", "0.2", "--no-progress"]) == 2
    assert "no_neutral.txt: no frame labelled Neutral" in capsys.readouterr().err

    common = ["--features", str(tiny_data.features), "--frames", str(tiny_data.val_annotations), "--no-smooth",
              "--no-progress"]
    outputs = []
    for choice in (["--checkpoint", members[0]], ["--checkpoint", members[1]]):
        path = tmp_path / f"pred{len(outputs)}.txt"
        assert main(["predict", *choice, *common, "--out", str(path)]) == 0
        outputs.append(_va_rows(path))
    path = tmp_path / "pred_ensemble.txt"
    predict(PredictOptions(ModelChoice(ensemble=str(ens)), str(tiny_data.features), str(path),
                           frames=str(tiny_data.val_annotations), smooth=False, progress=False))
    outputs.append(_va_rows(path))
    (names_a, va_a), (names_b, va_b), (names_e, va_e) = outputs
    assert names_a == names_b == names_e
    # Mean VA of the members (files hold 6 decimals).
    np.testing.assert_allclose(va_e, (va_a + va_b) / 2, atol=2e-6)


def test_merge_models_makes_one_checkpoint_that_predicts_the_members_mean(tiny_data, tmp_path, capsys):
    from affectstream.core.features.store import FeatureStore
    from affectstream.core.labels import EXPRESSIONS
    from affectstream.training.metrics import tune_au_thresholds
    from affectstream.training.dataset import load_split
    from affectstream.training.loop import run_validation
    from tests.test_merge_models import mean_of_members

    torch.set_num_threads(1)
    members = []
    for seed, hidden in ((0, "16"), (1, "12")):
        out = tmp_path / f"m{seed}"
        args = _train_args(tiny_data, out, "--epochs", "1", "--seed", str(seed))
        args[args.index("--hidden") + 1] = hidden
        assert main(args) == 0
        members.append(str(out / "best.safetensors"))
    capsys.readouterr()
    from affectstream.training.merge_run import MergeOptions, merge_run

    merged_dir = tmp_path / "merged"
    result = merge_run(MergeOptions(tuple(members), str(tiny_data.val_annotations), str(tiny_data.features),
                                    str(merged_dir), name="both"))
    assert result.best_path == merged_dir / "best.safetensors" and result.val_metrics["p_mtl"] is not None
    printed = capsys.readouterr().out
    assert printed.count("val P_MTL") >= 3 and "merged:" in printed  # each member, then the merge
    merged = load_checkpoint(merged_dir / "best.safetensors")
    assert merged.meta.name == "both" and merged.meta.model_config.encoder.hidden_size == 28
    assert [m["model"] for m in merged.meta.provenance["merged_from"]] == members
    assert "val_metrics_smoothed" in merged.meta.provenance and len(merged.meta.au_thresholds) == 12
    x = torch.randn(2, 30, merged.meta.model_config.input_dim)
    with torch.no_grad():
        want = mean_of_members([load_checkpoint(m).model for m in members], x)
        assert torch.allclose(merged.model(x).expr, want["expr"], atol=1e-5)
    # A missing member is named, without a traceback.
    assert main(["merge-models", members[0], str(tmp_path / "nope.safetensors"), "--val", "v", "--features", "f",
                 "--out", str(tmp_path / "x")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    # One model twice would weigh double in the mean: refused, naming it.
    assert main(["merge-models", members[0], members[0], "--val", "v", "--features", "f",
                 "--out", str(tmp_path / "x")]) == 2
    assert f"{members[0]} is given twice" in capsys.readouterr().err

    # --au-neutral-cap as `train`'s: the merge's thresholds keep each AU quiet on the Neutral validation frames.
    capped_dir = tmp_path / "capped"
    assert main(["merge-models", *members, "--val", str(tiny_data.val_annotations), "--features",
                 str(tiny_data.features), "--out", str(capped_dir), "--au-neutral-cap", "0"]) == 0
    capped = load_checkpoint(capped_dir / "best.safetensors")
    seqs, _ = load_split(tiny_data.val_annotations, FeatureStore(tiny_data.features), capped.meta.feature_names)
    val = run_validation(capped.model, seqs, capped.meta.seq_len, capped.meta.carry_state)
    neutral = val.au_probs[val.expr_true == EXPRESSIONS.index("Neutral")]
    want = tune_au_thresholds(val.au_probs, val.au_true, quiet=[neutral], max_quiet_rate=0.0)
    assert not np.array_equal(want, tune_au_thresholds(val.au_probs, val.au_true))  # the cap binds here
    np.testing.assert_allclose(capped.meta.au_thresholds, want, atol=1e-6)
    assert capped.meta.provenance["au_neutral_cap"] == 0.0
    # Validation without a frame labelled Neutral: refused by file, nothing written.
    no_neutral = _without_neutral_frames(tiny_data, tmp_path)
    assert main(["merge-models", *members, "--val", str(no_neutral), "--features", str(tiny_data.features),
                 "--out", str(tmp_path / "refused"), "--au-neutral-cap", "0.2"]) == 2
    assert "no_neutral.txt: no frame labelled Neutral" in capsys.readouterr().err
    assert not (tmp_path / "refused" / "best.safetensors").exists()
    # Bad smoothing options and an --out that is a file are refused before the merge: nothing written.
    common = [*members, "--val", str(tiny_data.val_annotations), "--features", str(tiny_data.features)]
    (tmp_path / "afile").write_text("mine")
    for extra, said in ((["--max-lag-ms", "-5"], "max lag (ms) must be >= 0"),
                        (["--smoothing-videos", str(tmp_path / "nosuch.mp4")], "nosuch.mp4: no such video file")):
        assert main(["merge-models", *common, "--out", str(tmp_path / "early"), *extra]) == 2
        assert said in capsys.readouterr().err
        assert not (tmp_path / "early").exists()
    assert main(["merge-models", *common, "--out", str(tmp_path / "afile")]) == 2
    assert "--out" in capsys.readouterr().err and (tmp_path / "afile").read_text() == "mine"
    # A merge whose smoothing fails after the merge (here: these test models' synthetic features cannot be
    # taken of a video) is marked unfinished, as a training stopped before its smoothing is: predict and the
    # app say so.
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (64, 48))
    for _ in range(5):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    assert main(["merge-models", *common, "--out", str(tmp_path / "late"), "--smoothing-videos", str(video)]) == 2
    assert "unknown extractor 'synth-a'" in capsys.readouterr().err
    left = load_checkpoint(tmp_path / "late" / "best.safetensors")
    assert "run the merge-models command again" in left.meta.provenance["unfinished"]


def test_au_neutral_cap_tunes_each_epochs_thresholds_quiet_on_the_neutral_validation_frames(tiny_data, tmp_path,
                                                                                            capsys):
    from affectstream.core.labels import EXPRESSIONS
    from affectstream.training.metrics import tune_au_thresholds
    from affectstream.training.dataset import load_split
    from affectstream.core.features.store import FeatureStore
    from affectstream.training.loop import run_validation

    torch.set_num_threads(1)
    assert main(_train_args(tiny_data, tmp_path / "run", "--epochs", "1", "--au-neutral-cap", "0")) == 0
    loaded = load_checkpoint(tmp_path / "run" / "best.safetensors")
    assert loaded.meta.provenance["options"]["au_neutral_cap"] == 0.0
    seqs, _ = load_split(tiny_data.val_annotations, FeatureStore(tiny_data.features), loaded.meta.feature_names)
    val = run_validation(loaded.model, seqs, loaded.meta.seq_len, loaded.meta.carry_state)
    neutral = val.au_probs[val.expr_true == EXPRESSIONS.index("Neutral")]
    assert len(neutral) > 20
    want = tune_au_thresholds(val.au_probs, val.au_true, quiet=[neutral], max_quiet_rate=0.0)
    assert not np.array_equal(want, tune_au_thresholds(val.au_probs, val.au_true))  # the cap binds here
    np.testing.assert_allclose(loaded.meta.au_thresholds, want, atol=1e-6)

    # Validation without a frame labelled Neutral cannot cap anything: refused before training, by file.
    no_neutral = _without_neutral_frames(tiny_data, tmp_path)
    args = _train_args(tiny_data, tmp_path / "run2", "--epochs", "1", "--au-neutral-cap", "0.2")
    args[args.index("--val") + 1] = str(no_neutral)
    assert main(args) == 2
    assert "no_neutral.txt: no frame labelled Neutral" in capsys.readouterr().err
    assert not (tmp_path / "run2" / "best.safetensors").exists()
    with pytest.raises(SystemExit):
        main(_train_args(tiny_data, tmp_path / "run3", "--au-neutral-cap", "-0.1"))
    assert "a fraction from 0 to 1" in capsys.readouterr().err


def test_options_and_outputs_that_cannot_work_are_refused_before_any_work(tiny_data, tmp_path, capsys):
    """A bad learning rate leaves no run folder; an output under a file is named before the data is read or any
    prediction is made; an unknown --baseline is named before the predictions."""
    assert main(_train_args(tiny_data, tmp_path / "run", "--epochs", "1", "--lr", "-1")) == 2
    assert "learning rate must be > 0, got -1.0" in capsys.readouterr().err and not (tmp_path / "run").exists()
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    assert main(_train_args(tiny_data, blocker / "run", "--epochs", "1")) == 2
    captured = capsys.readouterr()
    assert f"{blocker / 'run'}: cannot write there" in captured.err and "train:" not in captured.out

    run = tmp_path / "ok"
    assert main(_train_args(tiny_data, run, "--epochs", "1")) == 0
    model = str(run / "best.safetensors")
    evaluate = ["evaluate", "--checkpoint", model, "--annotations", str(tiny_data.val_annotations),
                "--features", str(tiny_data.features), "--no-progress"]
    capsys.readouterr()
    for extra, named in ((["--out", str(blocker / "eval")], f"{blocker / 'eval'}: cannot write there"),
                         (["--save-ensemble", str(blocker / "e.safetensors")], f"{blocker} is a file"),
                         (["--baseline", "no-such-backbone"], "no features for backbone 'no-such-backbone'")):
        assert main(evaluate + extra) == 2
        captured = capsys.readouterr()
        assert named in captured.err and "labelled frames" not in captured.out, extra
    assert main(["predict", "--checkpoint", model, "--features", str(tiny_data.features),
                 "--frames", str(tiny_data.val_annotations), "--out", str(blocker / "p.txt"), "--no-progress"]) == 2
    assert f"{blocker} is a file" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: an empty output path would quietly mean the current folder
        main(_train_args(tiny_data, "", "--epochs", "1"))
    assert "an output path, got an empty one" in capsys.readouterr().err


def test_resuming_on_changed_data_is_refused_and_refused_runs_leave_no_folder(tiny_data, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(tiny_data.root, data)
    train_file = data / tiny_data.train_annotations.relative_to(tiny_data.root)
    val_file = data / tiny_data.val_annotations.relative_to(tiny_data.root)
    args = ["train", "--train", str(train_file), "--val", str(val_file), "--features",
            str(data / tiny_data.features.relative_to(tiny_data.root)), "--backbones", *BACKBONES, "--hidden", "16",
            "--seq-len", "24", "--batch-size", "3", "--lr", "1e-3", "--no-progress"]
    out = tmp_path / "run"
    assert main([*args, "--out", str(out), "--epochs", "1"]) == 0
    lines = train_file.read_text().splitlines()
    first_video = lines[1].split("/")[0]
    train_file.write_text("\n".join([lines[0]] + [ln for ln in lines[1:] if not ln.startswith(first_video)]) + "\n")
    capsys.readouterr()
    assert main([*args, "--out", str(out), "--epochs", "2"]) == 2  # the same path, other contents
    assert f"{train_file}: changed since" in capsys.readouterr().err
    assert [h["epoch"] for h in json.loads((out / "history.json").read_text())] == [1]
    assert main([*args, "--out", str(out), "--epochs", "1", "--restart"]) == 0
    # Refused for its data: no run folder is left behind.
    other = [a if a != BACKBONES[1] else "no-such-backbone" for a in args]
    assert main([*other, "--out", str(tmp_path / "nothing"), "--epochs", "1"]) == 2
    assert "no-such-backbone" in capsys.readouterr().err and not (tmp_path / "nothing").exists()
    with pytest.raises(SystemExit):  # no abbreviations: --rest is not --restart
        main([*args, "--out", str(out), "--epochs", "1", "--rest"])


def test_evaluate_scores_a_split_without_expression_labels_saying_n_a(tiny_data, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(_train_args(tiny_data, run, "--epochs", "1")) == 0
    lines = tiny_data.val_annotations.read_text().splitlines()
    au_only = tmp_path / "au_only.txt"
    au_only.write_text("\n".join([lines[0]] + [",".join(c if k != 3 else "-1" for k, c in enumerate(ln.split(",")))
                                               for ln in lines[1:]]) + "\n")
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(run / "best.safetensors"), "--annotations", str(au_only),
                 "--features", str(tiny_data.features), "--out", str(tmp_path / "eval"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"expression macro-F1 +n/a", out) and "accuracy n/a" in out
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert report["metrics_smoothed"]["expr_f1"] is None and report["metrics_smoothed"]["au_f1_mean"] is not None
    # A header and no frame: named (it was a numpy traceback), as predict and merge-models name it.
    header_only = tmp_path / "header_only.txt"
    header_only.write_text(lines[0] + "\n")
    assert main(["evaluate", "--checkpoint", str(run / "best.safetensors"), "--annotations", str(header_only),
                 "--features", str(tiny_data.features), "--no-progress"]) == 2
    assert "header_only.txt: no labelled frame to score" in capsys.readouterr().err


def test_smoothed_predictions_of_a_frame_do_not_depend_on_which_frames_are_asked_for(tiny_data, tmp_path):
    from affectstream.core.features.store import FeatureStore
    from affectstream.training.annotations import read_annotations
    from affectstream.training.evaluation import Ensemble, load_models, predict_videos

    run = tmp_path / "run"
    assert main(_train_args(tiny_data, run, "--epochs", "1")) == 0
    model = load_models([run / "best.safetensors"])
    ensemble = Ensemble(model.members, model.au_thresholds, offline_window=9)
    store = FeatureStore(tiny_data.features)
    labels = read_annotations(tiny_data.val_annotations)
    video, lab = next(iter(labels.items()))
    every = predict_videos(ensemble, store, {video: lab.frames})[0]
    picked = lab.frames[::7]
    some = predict_videos(ensemble, store, {video: picked})[0]
    np.testing.assert_allclose(some.preds.va, every.preds.va[::7], atol=1e-6)
    raw = predict_videos(ensemble, store, {video: lab.frames}, smooth=False)[0]
    assert np.abs(raw.preds.va - every.preds.va).max() > 1e-4  # the window does smooth


def test_a_model_saved_mid_training_says_so_until_its_training_finishes(tiny_data, tmp_path, capsys, monkeypatch):
    import affectstream.training.loop as loop
    from affectstream.core.temporal.checkpoint import UNFINISHED_KEY, read_meta

    run = tmp_path / "run"

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "finalize", stopped)  # Ctrl-C after the last epoch, before smoothing is chosen
    assert main(_train_args(tiny_data, run, "--epochs", "1")) == 130
    assert UNFINISHED_KEY in read_meta(run / "best.safetensors").provenance
    capsys.readouterr()
    evaluate = ["evaluate", "--checkpoint", str(run / "best.safetensors"), "--annotations",
                str(tiny_data.val_annotations), "--features", str(tiny_data.features), "--no-progress"]
    assert main(evaluate) == 0
    assert "training stopped before smoothing was chosen" in capsys.readouterr().err
    monkeypatch.undo()
    # Its command finishes it, with other smoothing options if need be: they act only after the last epoch.
    assert main(_train_args(tiny_data, run, "--epochs", "1", "--max-lag-ms", "120")) == 0
    assert UNFINISHED_KEY not in read_meta(run / "best.safetensors").provenance
    capsys.readouterr()
    assert main(evaluate) == 0 and "warning" not in capsys.readouterr().err


def test_the_curves_are_drawn_after_the_first_and_last_epochs_not_after_every_one(tiny_data, tmp_path, monkeypatch):
    import affectstream.training.loop as loop

    drawn = []
    real = loop.plot_training_curves
    monkeypatch.setattr(loop, "plot_training_curves", lambda history, path, title: (drawn.append(len(history)),
                                                                                     real(history, path, title)))
    torch.set_num_threads(1)
    out = tmp_path / "run"
    assert main(_train_args(tiny_data, out, "--epochs", "4")) == 0
    # A tiny epoch takes well under CURVES_EVERY_S: the first epoch shows the curves early, the last one completes them.
    assert drawn == [1, 4]
    assert (out / "curves.png").stat().st_size > 1000 and len(json.loads((out / "history.json").read_text())) == 4
    # A run stopped after its third epoch (Ctrl-C during the fourth): curves.png shows the three in history.json.
    real_epoch = loop.train_epoch

    def stopped_in_the_fourth(model, optimizer, seqs, options, epoch, progress):
        if epoch == 3:
            raise KeyboardInterrupt
        return real_epoch(model, optimizer, seqs, options, epoch, progress)

    monkeypatch.setattr(loop, "train_epoch", stopped_in_the_fourth)
    drawn.clear()
    assert main(_train_args(tiny_data, tmp_path / "stopped", "--epochs", "6")) != 0  # the command says interrupted
    assert drawn == [1, 3]
    monkeypatch.setattr(loop, "train_epoch", real_epoch)
    monkeypatch.setattr(loop, "CURVES_EVERY_S", 0.0)  # a slow run: every epoch is drawn
    drawn.clear()
    assert main(_train_args(tiny_data, tmp_path / "slow", "--epochs", "3")) == 0
    assert drawn == [1, 2, 3]

