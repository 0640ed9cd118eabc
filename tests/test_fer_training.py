"""FER2013 training side: data checks, augmentation, metrics, schedule, resumable loop, ONNX export."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from affectstream.core.errors import UserInputError
from affectstream.core.features.expression_cnn import FER_CLASSES
from affectstream.training.fer.augment import CROP, AugmentConfig, augment, centre_crop
from affectstream.training.fer.data import FerDataError, FerSplit, load_fer2013
from affectstream.training.fer.evaluate import fer_metrics, predict_probs
from affectstream.training.fer.model import ExprNet, ExprNetConfig
from affectstream.training.fer.loop import TrainConfig, TrainStateError, load_weights, lr_at, train

SMALL = ExprNetConfig(widths=(8, 8, 16, 16))
WIDER = ExprNetConfig(widths=(8, 12, 16, 24))


def _faces(n: int, seed: int = 0) -> FerSplit:
    """Synthetic 48x48 'faces' whose class is a bright blob position (learnable)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 7, n)
    images = rng.integers(0, 60, (n, 48, 48)).astype(np.uint8)
    for i, c in enumerate(labels):
        y = 8 + 4 * c
        images[i, y : y + 6, 10:38] = 230
    return FerSplit("synthetic", torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)))


def test_load_fer2013_errors(tmp_path):
    with pytest.raises(FerDataError, match="not found"):
        load_fer2013(tmp_path / "nope.npz")
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=np.zeros((3, 48, 48), np.uint8), labels=np.zeros(3, np.int8))
    with pytest.raises(FerDataError, match="missing arrays"):
        load_fer2013(bad)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, images=np.zeros((3, 48, 48), np.uint8), labels=np.zeros(3, np.int8),
             usage=np.array(["Training", "PublicTest", "PrivateTest"]), classes=np.array(FER_CLASSES[::-1]))
    with pytest.raises(FerDataError, match="FER2013 order"):
        load_fer2013(wrong)


def test_a_fer2013_file_that_is_not_one_is_named_not_a_traceback(tmp_path):
    """Each of these gave a numpy/zipfile traceback from fer-sequences, import-stills, train-fer and bench fer."""
    usage = np.array(["Training", "PublicTest", "PrivateTest"])

    def archive(name, **arrays):
        np.savez(tmp_path / name, **arrays)
        return tmp_path / name

    text = tmp_path / "notes.npz"
    text.write_text("not an archive")
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, images=np.array([object()] * 3, dtype=object), labels=np.zeros(3, np.int64), usage=usage,
             classes=np.array(FER_CLASSES))
    one_array = tmp_path / "one_array.npz"
    np.save(tmp_path / "one_array.npy", np.zeros((3, 48, 48), np.uint8))
    (tmp_path / "one_array.npy").rename(one_array)
    cases = {
        text: "not a readable FER2013 .npz",
        empty: "not a readable FER2013 .npz",
        pickled: "not a readable FER2013 .npz .*allow_pickle",
        one_array: "one array, not an .npz archive",
        archive("label9.npz", images=np.zeros((3, 48, 48), np.uint8), labels=np.array([0, 9, 1]), usage=usage,
                classes=np.array(FER_CLASSES)): "image 1 has 9",
        archive("short.npz", images=np.zeros((3, 48, 48), np.uint8), labels=np.zeros(2, np.int64), usage=usage,
                classes=np.array(FER_CLASSES)): "one entry per image",
    }
    for path, message in cases.items():
        with pytest.raises(FerDataError, match=message):
            load_fer2013(path)


def test_augment_shapes_determinism_and_identity():
    x = torch.randint(0, 256, (16, 48, 48), dtype=torch.uint8)
    a = augment(x, torch.Generator().manual_seed(1))
    b = augment(x, torch.Generator().manual_seed(1))
    assert a.shape == (16, 1, CROP, CROP) and a.dtype == torch.float32
    assert torch.equal(a, b)
    # With every random part switched off, the warp is exactly the centre crop.
    off = AugmentConfig(max_shift_px=0, max_rotation_deg=0, max_zoom=0, flip_p=0, brightness=0, contrast=0, erase_p=0)
    assert torch.allclose(augment(x, torch.Generator().manual_seed(0), off), centre_crop(x), atol=1e-4)
    flipped = augment(x, torch.Generator().manual_seed(0), replace(off, flip_p=1.0))
    assert torch.allclose(flipped, torch.flip(centre_crop(x), dims=[3]), atol=1e-4)


def test_metrics_and_schedule():
    labels = np.array([0, 0, 1, 3, 3, 6])
    pred = np.array([0, 1, 1, 3, 6, 6])
    m = fer_metrics(labels, pred)
    assert m.accuracy == pytest.approx(4 / 6)
    assert m.per_class_recall["angry"] == 0.5 and m.per_class_recall["disgust"] == 1.0
    assert np.isnan(m.per_class_recall["fear"])  # no support
    assert sum(map(sum, m.confusion)) == 6 and m.confusion[3][6] == 1
    cfg = TrainConfig(lr=0.1, warmup_frac=0.1)
    assert lr_at(0.0, cfg) == 0.0 and lr_at(0.1, cfg) == pytest.approx(0.1)
    assert lr_at(0.55, cfg) == pytest.approx(0.05) and lr_at(1.0, cfg) == pytest.approx(0.0)


def test_train_learns_resumes_and_saves_weights_only_state(tmp_path):
    tr, va = _faces(384, 0), _faces(96, 1)
    cfg = TrainConfig(epochs=2, batch_size=32, lr=0.05, model=SMALL, bf16=False, channels_last=False, threads=1,
                      augment=AugmentConfig(max_rotation_deg=0, erase_p=0))
    first = train(cfg, tr, va, tmp_path, progress_bar=False, log=lambda _: None)
    assert [h.epoch for h in first.history] == [1, 2]
    state = torch.load(tmp_path / "last.pt", weights_only=True)  # plain tensors and values only
    assert state["epoch"] == 2
    # Asking for more epochs continues from epoch 2 rather than starting again.
    more = train(replace(cfg, epochs=3), tr, va, tmp_path, progress_bar=False, log=lambda _: None)
    assert [h.epoch for h in more.history] == [1, 2, 3]
    assert more.best_val_acc > 0.5  # chance is 1/7
    assert json.loads((tmp_path / "history.json").read_text())[-1]["epoch"] == 3
    assert (tmp_path / "curves.png").stat().st_size > 1000
    net = load_weights(tmp_path / "best.safetensors")
    acc = (predict_probs(net, va.images).argmax(1) == va.labels.numpy()).mean()
    assert acc == pytest.approx(more.best_val_acc)
    with pytest.raises(TrainStateError):
        train(replace(cfg, model=ExprNetConfig(widths=(8, 16, 16, 32))), tr, va, tmp_path, progress_bar=False,
              log=lambda _: None)


def test_time_budget_stops_the_run(tmp_path):
    tr, va = _faces(256, 0), _faces(64, 1)
    cfg = TrainConfig(epochs=50, budget_minutes=0.0005, batch_size=64, model=SMALL, bf16=False, threads=1)
    result = train(cfg, tr, va, tmp_path, progress_bar=False, log=lambda _: None)
    assert len(result.history) == 1 and result.history[0].lr == pytest.approx(0.0, abs=1e-3)


def test_onnx_export_agrees_with_torch(tmp_path):
    from affectstream.core.features.expression_cnn import ExpressionCNN
    from affectstream.training.fer.export import check_onnx, export_onnx

    torch.manual_seed(0)
    net = ExprNet(SMALL).eval()
    for m in net.modules():  # non-trivial BN statistics, so that the check means something
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    faces = _faces(32).images.numpy()
    for tta in (False, True):
        path = export_onnx(net, tmp_path / f"m{tta}.onnx", flip_tta=tta)
        check = check_onnx(net, path, faces, flip_tta=tta)
        assert check.ok, check
        assert ExpressionCNN(path).flip_tta == tta and ExpressionCNN(path).members == 1
        assert check.max_abs_diff_probs < 1e-4 and check.max_abs_diff_embedding < 1e-3
    # The check notices a graph that is not the model's.
    other = check_onnx(net, tmp_path / "mTrue.onnx", faces, flip_tta=False)
    assert other.max_abs_diff_embedding > 1e-3


def test_ensemble_of_two_runs_averages_probabilities_and_exports(tmp_path):
    from affectstream.core.features.expression_cnn import ExpressionCNN
    from affectstream.core.errors import UserInputError
    from affectstream.training.fer.compare import passes_text
    from affectstream.training.fer.ensemble import combine_runs
    from affectstream.training.fer.export import check_onnx, export_onnx
    from affectstream.training.fer.model import ExprEnsemble

    tr, va = _faces(256, 0), _faces(64, 1)
    cfg = TrainConfig(epochs=1, batch_size=32, lr=0.05, model=SMALL, bf16=False, channels_last=False, threads=1)
    runs = []
    # Members may differ in width (a wider second network): their embeddings differ in size.
    for seed, shape in ((0, SMALL), (1, WIDER)):
        run = tmp_path / f"run{seed}"
        train(replace(cfg, seed=seed, model=shape), tr, va, run, progress_bar=False, log=lambda _: None)
        runs.append(run)
    with pytest.raises(UserInputError, match="at least two"):
        combine_runs(runs[:1], tmp_path / "ens")
    weights = combine_runs(runs, tmp_path / "ens")
    members = json.loads((tmp_path / "ens" / "members.json").read_text())
    assert [m["seed"] for m in members] == [0, 1] and all(m["epochs"] == 1 for m in members)
    assert all((tmp_path / "ens" / f"curves_member{i}.png").stat().st_size > 1000 for i in (1, 2))

    ensemble = load_weights(weights)
    both = SMALL.embedding_dim + WIDER.embedding_dim
    assert isinstance(ensemble, ExprEnsemble) and ensemble.embedding_dim == both
    singles = [load_weights(run / "best.safetensors") for run in runs]
    expected = np.mean([predict_probs(net, va.images, flip_tta=False) for net in singles], axis=0)
    np.testing.assert_allclose(predict_probs(ensemble, va.images, flip_tta=False), expected, atol=1e-5)

    path = export_onnx(ensemble, tmp_path / "ens.onnx")
    check = check_onnx(ensemble, path, va.images.numpy()[:32])
    assert check.ok, check
    session = ExpressionCNN(path, threads=1)
    assert session.members == 2 and not session.flip_tta and passes_text(session) == "2 passes (2 networks)"
    out = session.predict(va.images.numpy()[:8])
    assert out.embedding.shape == (8, both)
    np.testing.assert_allclose(out.probs_fer, expected[:8], atol=1e-4)
    # An ensemble cannot be a member of another one.
    nested = tmp_path / "nested"
    nested.mkdir()
    (nested / "best.safetensors").write_bytes(weights.read_bytes())
    with pytest.raises(UserInputError, match="not a single expr-cnn"):
        combine_runs([runs[0], nested], tmp_path / "ens2")


def test_int8_graph_keeps_its_metadata_and_is_checked_against_the_float_graph(tmp_path):
    from affectstream.core.features.expression_cnn import ExpressionCNN
    from affectstream.training.fer.finalize import export_checked, float_path
    from affectstream.training.fer.quantize import QuantOptions, calibration_sample, check_int8, quantize_int8

    tr, va = _faces(512, 0), _faces(256, 1)
    cfg = TrainConfig(epochs=2, batch_size=32, lr=0.05, model=SMALL, bf16=False, channels_last=False, threads=1)
    train(cfg, tr, va, tmp_path / "run", progress_bar=False, log=lambda _: None)
    net = load_weights(tmp_path / "run" / "best.safetensors")
    faces = va.images.numpy()
    path, check, quant = export_checked(net, tmp_path / "m.onnx", True, faces, tr.images.numpy())
    assert check.ok and quant.ok and quant.n == len(faces)
    int8, reference = ExpressionCNN(path, threads=1), ExpressionCNN(float_path(path), threads=1)
    assert (int8.precision, reference.precision) == ("int8", "float32")
    assert int8.flip_tta and int8.members == 1 and int8.embedding_dim == reference.embedding_dim
    # The synthetic task is learnt, and quantization keeps it: the same accuracy within a few faces.
    labels = va.labels.numpy()
    acc_float = (reference.probs_fer(faces).argmax(1) == labels).mean()
    acc_int8 = (int8.probs_fer(faces).argmax(1) == labels).mean()
    assert acc_float > 0.4 and abs(acc_int8 - acc_float) <= 0.02  # chance is 1/7
    assert quant.mean_abs_diff_probs < 0.02
    # One face at a time gives what a batch gives (the live loop sends one face per call).
    batch = int8.predict(faces[:4])
    single = np.concatenate([int8.predict(f).probs_fer for f in faces[:4]])
    np.testing.assert_allclose(single, batch.probs_fer, atol=1e-5)
    # The calibration sample is reproducible and drawn from the faces given.
    sample = calibration_sample(tr.images.numpy(), QuantOptions(calibration_faces=50, seed=3))
    assert sample.shape == (50, 48, 48)
    np.testing.assert_array_equal(sample, calibration_sample(tr.images.numpy(), QuantOptions(calibration_faces=50, seed=3)))
    # The check notices an int8 graph that is not this model's (an untrained network's).
    torch.manual_seed(5)
    stranger = export_checked(ExprNet(SMALL).eval(), tmp_path / "other.onnx", True, faces[:64], tr.images.numpy())[0]
    assert not check_int8(float_path(path), stranger, faces).ok
    # Quantizing writes atomically and leaves the float graph as it was.
    before = float_path(path).read_bytes()
    quantize_int8(float_path(path), tmp_path / "again.onnx", tr.images.numpy()[:100])
    assert float_path(path).read_bytes() == before and ExpressionCNN(tmp_path / "again.onnx").precision == "int8"


def test_distillation_loss_known_answers():
    from affectstream.training.fer.distill import DistillConfig, distillation_loss

    logits = torch.tensor([[2.0, 0.5, -1.0, 0.0, 0.0, 0.0, 0.3]])
    labels = torch.tensor([0])
    teacher = torch.softmax(logits, 1)
    hard_only = distillation_loss(logits, labels, teacher, DistillConfig("t", weight=0.0), 0.1)
    assert hard_only == pytest.approx(float(torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.1)))
    # A student that already says what the teacher says pays nothing for the soft term, at any temperature.
    for t in (1.0, 2.0, 4.0):
        assert float(distillation_loss(logits, labels, teacher, DistillConfig("t", 1.0, t), 0.1)) == pytest.approx(
            0.0, abs=1e-6)
    assert float(distillation_loss(-logits, labels, teacher, DistillConfig("t", 1.0, 2.0), 0.1)) > 0.5
    with pytest.raises(UserInputError):
        DistillConfig("t", weight=1.5)


def test_a_student_learns_the_teacher_not_only_the_labels(tmp_path):
    """With the labels scrambled, only the teacher can teach the student the classes."""
    from affectstream.training.fer.distill import TARGETS_FILE, DistillConfig

    tr, va = _faces(384, 0), _faces(96, 1)
    cfg = TrainConfig(epochs=3, batch_size=32, lr=0.05, model=SMALL, bf16=False, channels_last=False, threads=1,
                      augment=AugmentConfig(max_rotation_deg=0, erase_p=0))
    teacher = train(cfg, tr, va, tmp_path / "teacher", progress_bar=False, log=lambda _: None)
    assert teacher.best_val_acc > 0.6
    scrambled = FerSplit(tr.name, tr.images, tr.labels[torch.randperm(len(tr), generator=torch.Generator().manual_seed(0))])
    plain = train(cfg, scrambled, va, tmp_path / "plain", progress_bar=False, log=lambda _: None)
    distil = DistillConfig(str(tmp_path / "teacher" / "best.safetensors"), weight=1.0, temperature=2.0)
    student = train(replace(cfg, epochs=5, distill=distil), scrambled, va, tmp_path / "student", progress_bar=False,
                    log=lambda _: None)
    assert plain.best_val_acc < 0.35 and student.best_val_acc > 0.55  # chance 1/7
    # The teacher's targets are made once and kept with the run; a resumed run reads them back.
    cache = tmp_path / "student" / TARGETS_FILE
    stamp = cache.stat().st_mtime_ns
    train(replace(cfg, epochs=6, distill=distil), scrambled, va, tmp_path / "student", progress_bar=False,
          log=lambda _: None)
    assert cache.stat().st_mtime_ns == stamp
    assert json.loads((tmp_path / "student" / "config.json").read_text())["distill"]["temperature"] == 2.0


def test_architecture_shows_in_the_card_text():
    from affectstream.training.fer.card_text import architecture

    plain = {"model": {"widths": [32, 64, 128, 256], "dropout": 0.3}}
    assert "widths 32-64-128-256" in architecture([plain])
    wide = {"model": {"widths": [48, 96, 192, 384], "dropout": 0.2}}
    pair = architecture([plain, wide])
    assert "48-96-192-384 (member 2)" in pair and "0.3 (member 1), 0.2 (member 2)" in pair


def test_an_interrupted_run_resumes_as_if_it_had_not_stopped(tmp_path):
    tr, va = _faces(256, 0), _faces(64, 1)
    cfg = TrainConfig(epochs=2, batch_size=32, lr=0.05, model=replace(SMALL, dropout=0.0), bf16=False,
                      channels_last=False, threads=1)
    whole = train(cfg, tr, va, tmp_path / "whole", progress_bar=False, log=lambda _: None)

    def stop_after_the_first_epoch(line: str) -> None:
        if line.startswith("epoch 1:"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, tr, va, tmp_path / "cut", progress_bar=False, log=stop_after_the_first_epoch)
    resumed = train(cfg, tr, va, tmp_path / "cut", progress_bar=False, log=lambda _: None)
    assert [h.train_loss for h in resumed.history] == [h.train_loss for h in whole.history]
    a, b = (torch.load(p / "last.pt", weights_only=True)["model"] for p in (tmp_path / "whole", tmp_path / "cut"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_train_fer_widths_option():
    import argparse

    from affectstream.cli.train_fer import _widths

    assert _widths("48,96,192,384") == (48, 96, 192, 384)
    for bad in ("48,96", "a,b,c,d", "0,1,2,3"):
        with pytest.raises(argparse.ArgumentTypeError, match="four positive channel counts"):
            _widths(bad)


def test_train_fer_refuses_impossible_options_and_non_weights_in_one_line(tmp_path, capsys):
    """Each of these was a Python traceback (ZeroDivisionError, torch's learning-rate check, SafetensorError)."""
    from affectstream.cli.main import main

    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not weights")
    base = ["train-fer", "train", "--data", str(tmp_path / "absent.npz"), "--out", str(tmp_path / "run")]
    for extra, said in ((["--batch-size", "0"], "--batch-size: a whole number, 1 or more"),
                        (["--lr", "-1"], "--lr: a number above 0"),
                        (["--device", "tpu"], "--device: auto, cpu, cuda or cuda:N, got 'tpu'"),
                        (["--limit-train", "-5"], "--limit-train: a whole number, 1 or more"),
                        (["--budget-minutes", "-1"], "--budget-minutes: a number above 0")):
        with pytest.raises(SystemExit) as raised:
            main([*base, *extra])
        assert raised.value.code == 2 and said in capsys.readouterr().err
    with pytest.raises(UserInputError, match="junk.safetensors: not a safetensors weights file"):
        load_weights(junk)
    a_file = tmp_path / "afile"
    a_file.write_text("mine")
    assert main(["train-fer", "train", "--data", str(tmp_path / "absent.npz"), "--out", str(a_file)]) == 2
    assert f"--out {a_file} is a file, not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as raised:
        main(["bench", "annotate", "--seconds", "0"])
    assert raised.value.code == 2 and "argument --seconds: a finite number from 1 to 600, got '0'" in \
        capsys.readouterr().err


def test_curves_are_drawn_at_most_every_half_minute_and_at_the_end(tmp_path, monkeypatch):
    import affectstream.training.fer.report as report

    import affectstream.training.fer.loop as loop

    drawn = []
    monkeypatch.setattr(report, "plot_curves", lambda history, path: drawn.append(len(history)))
    monkeypatch.setattr(loop, "PLOT_EVERY_S", 1e9)
    tr, va = _faces(128, 0), _faces(32, 1)
    cfg = TrainConfig(epochs=4, batch_size=32, model=SMALL, bf16=False, channels_last=False, threads=1)
    train(cfg, tr, va, tmp_path, progress_bar=False, log=lambda _: None)
    assert drawn == [1, 4]  # the first epoch, then the last
    assert len(json.loads((tmp_path / "history.json").read_text())) == 4  # the history itself after every epoch

    # Stopped with Ctrl-C after epoch 2 of 5: the drawing still shows both epochs.
    def stop_after_the_second_epoch(line: str) -> None:
        if line.startswith("epoch 2:"):
            raise KeyboardInterrupt

    drawn.clear()
    with pytest.raises(KeyboardInterrupt):
        train(replace(cfg, epochs=5), tr, va, tmp_path / "cut", progress_bar=False, log=stop_after_the_second_epoch)
    assert drawn == [1, 2]


def test_average_state_known_answer():
    from affectstream.training.fer.soup import average_state

    a = {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(5), "h": torch.tensor([1.0, 3.0], dtype=torch.bfloat16)}
    b = {"w": torch.tensor([3.0, -2.0]), "n": torch.tensor(9), "h": torch.tensor([2.0, 4.0], dtype=torch.bfloat16)}
    mean = average_state([a, b])
    assert torch.equal(mean["w"], torch.tensor([2.0, 0.0]))
    assert mean["n"].item() == 5 and mean["n"].dtype == a["n"].dtype  # a counter is not averaged
    assert mean["h"].dtype == torch.bfloat16 and torch.equal(mean["h"].float(), torch.tensor([1.5, 3.5]))


def _soup_ingredients(tmp_path):
    """A trained run; a shipped-asset-style near copy of it, distilled by its config (the same predictions, other
    weights); and a copy whose classifier points one class further at ten times the scale (known to hurt)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    tr, va = _faces(384, 0), _faces(96, 1)
    cfg = TrainConfig(epochs=2, batch_size=32, lr=0.05, model=SMALL, bf16=False, channels_last=False, threads=1,
                      augment=AugmentConfig(max_rotation_deg=0, erase_p=0))
    a = tmp_path / "a"
    train(cfg, tr, va, a, progress_bar=False, log=lambda _: None)
    with safe_open(str(a / "best.safetensors"), framework="pt") as fh:
        meta = fh.metadata()
    state = load_weights(a / "best.safetensors").state_dict()
    noise = torch.Generator().manual_seed(0)
    near = {k: v + 1e-4 * v.abs().mean() * torch.randn(v.shape, generator=noise) if v.is_floating_point() else v
            for k, v in state.items()}
    shifted = dict(state)
    shifted["head.weight"] = 10 * torch.roll(state["head.weight"], 1, dims=0)
    shifted["head.bias"] = 10 * torch.roll(state["head.bias"], 1, dims=0)
    config = json.loads((a / "config.json").read_text())
    distilled = config | {"init_from": str(a / "best.safetensors"),
                          "distill": {"teacher": "teacher.safetensors", "weight": 0.7, "temperature": 2.0}}
    for name, weights, cfg_json in (("near", near, distilled), ("shifted", shifted, config)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "history.json").write_text((a / "history.json").read_text())
        (tmp_path / name / "config.json").write_text(json.dumps(cfg_json))
        file = "expr_cnn.safetensors" if name == "near" else "best.safetensors"  # "near" is laid out as an asset
        save_file({k: v.contiguous() for k, v in weights.items()}, str(tmp_path / name / file), metadata=meta)
    return va, [tmp_path / "shifted", a, tmp_path / "near"]


def test_a_greedy_soup_keeps_what_does_not_hurt_on_publictest(tmp_path):
    from affectstream.training.fer.soup import SOUP_FILE, average_state, greedy_soup, write_soup

    va, runs = _soup_ingredients(tmp_path)
    shifted, a, near = runs
    soup = greedy_soup(runs, va, log=lambda _: None)
    alone = soup.ingredients[0].public_test_accuracy
    # Tried best first (the near copy ties with its original and keeps the given order); the shifted head last.
    assert [i.folder for i in soup.ingredients] == [a, near, shifted]
    assert [i.kept for i in soup.ingredients] == [True, True, False]
    assert alone > 0.5 and soup.ingredients[2].public_test_accuracy < 0.3  # one class off on nearly every face
    assert soup.ingredients[2].soup_accuracy < alone and soup.kept == (a, near)
    assert [i.weights for i in soup.ingredients] == ["best.safetensors", "expr_cnn.safetensors", "best.safetensors"]
    written = load_weights(write_soup(soup, tmp_path / "soup")).state_dict()
    originals = [load_weights(a / "best.safetensors").state_dict(), load_weights(near / "expr_cnn.safetensors").state_dict()]
    expected = average_state(originals)
    assert all(torch.equal(written[k], expected[k]) for k in expected)  # the mean of both, not either one
    assert not torch.equal(written["head.weight"], originals[0]["head.weight"])
    record = json.loads((tmp_path / "soup" / SOUP_FILE).read_text())
    assert [i["kept"] for i in record["ingredients"]] == [True, True, False]
    assert record["ingredients"][0]["run"]["epochs"] == 2 and record["public_test_accuracy"] == soup.public_test_accuracy
    assert (tmp_path / "soup" / "soup.png").stat().st_size > 1000
    # Nothing is written over a run: neither an ingredient's folder nor another run's.
    with pytest.raises(UserInputError, match="is one of the soup's runs"):
        write_soup(soup, a)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "last.pt").write_bytes(b"a training run's resume state")
    with pytest.raises(UserInputError, match="holds another run"):
        write_soup(soup, tmp_path / "other")
    # A soup where every other run lowers the best one is refused: there is nothing to average.
    with pytest.raises(UserInputError, match="nothing to average"):
        greedy_soup([a, shifted], va, log=lambda _: None)


def test_a_soup_refuses_what_cannot_be_averaged(tmp_path):
    from affectstream.training.fer.ensemble import combine_runs
    from affectstream.training.fer.soup import greedy_soup

    tr, va = _faces(128, 0), _faces(32, 1)
    cfg = TrainConfig(epochs=1, batch_size=32, model=SMALL, bf16=False, channels_last=False, threads=1)
    for name, shape in (("small", SMALL), ("wide", WIDER)):
        train(replace(cfg, model=shape), tr, va, tmp_path / name, progress_bar=False, log=lambda _: None)
    with pytest.raises(UserInputError, match="at least 2"):
        greedy_soup([tmp_path / "small"], va)
    with pytest.raises(UserInputError, match="hold the same weights"):
        greedy_soup([tmp_path / "small", tmp_path / "small"], va)
    (tmp_path / "same").mkdir()  # the same network under another folder (as an asset holds it)
    (tmp_path / "same" / "expr_cnn.safetensors").write_bytes((tmp_path / "small" / "best.safetensors").read_bytes())
    with pytest.raises(UserInputError, match="same and .*small hold the same weights"):
        greedy_soup([tmp_path / "small", tmp_path / "same"], va)
    with pytest.raises(UserInputError, match="give the run's folder, not its weights file"):
        greedy_soup([tmp_path / "small", tmp_path / "wide" / "best.safetensors"], va)
    with pytest.raises(UserInputError, match="wide/best.safetensors: architecture .* differs"):
        greedy_soup([tmp_path / "small", tmp_path / "wide"], va)
    with pytest.raises(UserInputError, match="empty: no best.safetensors or expr_cnn.safetensors"):
        (tmp_path / "empty").mkdir()
        greedy_soup([tmp_path / "small", tmp_path / "empty"], va)
    (tmp_path / "weights-only").mkdir()  # no history.json: refused before any scoring
    (tmp_path / "weights-only" / "best.safetensors").write_bytes((tmp_path / "wide" / "best.safetensors").read_bytes())
    with pytest.raises(UserInputError, match="weights-only/history.json: missing"):
        greedy_soup([tmp_path / "small", tmp_path / "weights-only"], va)
    combine_runs([tmp_path / "small", tmp_path / "wide"], tmp_path / "ens")
    with pytest.raises(UserInputError, match="not a single expr-cnn network"):
        greedy_soup([tmp_path / "small", tmp_path / "ens"], va)


def test_train_fer_soup_command(tmp_path, capsys, monkeypatch):
    """`train-fer soup RUN...` maps argv onto the soup step's options and makes the soup; exporting follows."""
    import affectstream.training.fer.steps as steps
    from affectstream.cli.main import main

    va, runs = _soup_ingredients(tmp_path)
    images = np.concatenate([va.images.numpy()] * 3)
    labels = np.concatenate([va.labels.numpy()] * 3)
    usage = np.array(["Training"] * 96 + ["PublicTest"] * 96 + ["PrivateTest"] * 96)
    np.savez(tmp_path / "fer.npz", images=images, labels=labels.astype(np.int8), usage=usage, classes=np.array(FER_CLASSES))
    exported = []
    monkeypatch.setattr(steps, "_finalize", lambda folder, splits, data, export: exported.append((folder, export)))
    args = ["train-fer", "soup", *map(str, runs), "--data", str(tmp_path / "fer.npz"), "--out", str(tmp_path / "soup"),
            "--threads", "1", "--flip-tta", "--int8"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "left out" in out and "2 of 3 runs averaged" in out
    assert load_weights(tmp_path / "soup" / "best.safetensors").config == SMALL
    assert exported == [(tmp_path / "soup", steps.ExportOptions(None, flip_tta=True, int8=True))]
    with pytest.raises(SystemExit):  # a soup of nothing
        main(["train-fer", "soup", "--out", str(tmp_path / "soup")])


def _card_asset(tmp_path, name: str, source: str, files=("metrics.json", "expr_cnn.onnx", "expr_cnn.safetensors")):
    """An asset folder holding a shipped asset's measured files (a real network's figures) under another name."""
    import shutil
    from pathlib import Path

    shipped = Path(__file__).resolve().parents[1] / "affectstream" / "assets" / source
    asset = tmp_path / name
    asset.mkdir()
    for file in files:
        shutil.copy(shipped / file, asset / file)
    return asset, shipped


def test_a_soup_card_names_every_run_tried_and_the_budget_its_notes_set(tmp_path):
    """The card of a soup asset: its runs (kept or not), the target its notes set, the asset its notes compare with."""
    import shutil

    from affectstream.training.fer.card import NOT_WRITTEN, render_card
    from affectstream.training.fer.soup import greedy_soup, write_soup

    va, runs = _soup_ingredients(tmp_path)
    shifted, a, near = runs
    write_soup(greedy_soup(runs, va, log=lambda _: None), tmp_path / "soup")
    asset, shipped = _card_asset(tmp_path, "expr-cnn-soup-test", "expr-cnn-soup-int8")
    shutil.copy(tmp_path / "soup" / "soup.json", asset / "soup.json")
    card = render_card(asset)
    assert "weights are the mean of 2 networks' weights (a model soup)" in card
    assert "1 of them also learnt the soft outputs of `teacher.safetensors`" in card
    assert "stays within the 5 ms budget" in card  # no notes: the default target
    assert card.count(NOT_WRITTEN) == 4  # how it was made, data, limitations, terms: a person writes those
    m = json.loads((shipped / "metrics.json").read_text())
    assert "affectstream train-fer export RUN --flip-tta --int8 --export-dir" in card  # no run recorded: a placeholder
    rows = [line.split("|") for line in card.splitlines() if line.startswith("| ") and "`" + str(tmp_path) in line]
    assert [row[11].strip() for row in rows] == ["yes", "yes", "no"]
    assert rows[1][3].strip() == "an asset (see How it was made)" and rows[1][4].strip() == "`teacher.safetensors`"
    (asset / "notes.md").write_text("target ms per face: 1.6\ncompare with: expr-cnn-base, the same graph\n\n"
                                    "## Terms\n\nFor research use.\n")
    card = render_card(asset)
    assert "stays within the 1.6 ms budget" in card and "<= 1.6 ms" in card and "For research use." in card
    assert "## Training: a greedy soup" in card and "Against `expr-cnn-base`" not in card  # no such asset beside it
    (tmp_path / "expr-cnn-base").mkdir()
    baseline = json.loads((shipped / "metrics.json").read_text())
    baseline["private_test"]["accuracy"] -= 0.01
    (tmp_path / "expr-cnn-base" / "metrics.json").write_text(json.dumps(baseline))
    ours = m["private_test"]["accuracy"]
    assert (f"Against `expr-cnn-base` (its card's measured figures, the same graph): PrivateTest "
            f"{100 * ours:.2f}% against {100 * ours - 1:.2f}% (+1.00 points); PublicTest") in render_card(asset)
    baseline["params"] += 1  # another network: no such sentence
    (tmp_path / "expr-cnn-base" / "metrics.json").write_text(json.dumps(baseline))
    assert "Against `expr-cnn-base`" not in render_card(asset)
    (asset / "notes.md").write_text("## History\n\nno such section\n")
    with pytest.raises(UserInputError, match="unknown section 'History'"):
        render_card(asset)


def test_a_single_run_card_gives_its_teacher_and_the_export_that_made_it(tmp_path):
    from affectstream.training.fer.card import render_card
    from affectstream.training.fer.distill import DistillConfig

    asset, shipped = _card_asset(tmp_path, "expr-cnn-kd-test", "expr-cnn-soup-int8", ("expr_cnn.onnx", "expr_cnn.safetensors"))
    metrics = json.loads((shipped / "metrics.json").read_text()) | {"run": "runs/kd", "training": {"wall_seconds": 540.0}}
    (asset / "metrics.json").write_text(json.dumps(metrics))
    config = TrainConfig(lr=0.01, epochs=40, distill=DistillConfig("runs/ens/best.safetensors")).to_json()
    (asset / "config.json").write_text(json.dumps(config))
    history = [{"epoch": e, "train_loss": 0.3, "train_acc": 0.78, "val_acc": 0.69 + e / 1000, "lr": 0.01,
                "seconds": 180.0 * e, "images_per_s": 170.0} for e in (1, 2, 3)]
    (asset / "history.json").write_text(json.dumps(history))
    card = render_card(asset)
    assert "affectstream train-fer export runs/kd --flip-tta --int8 --export-dir affectstream/assets/expr-cnn-kd-test" in card
    assert "Teacher: `runs/ens/best.safetensors`" in card and "kept epoch 3 of 3" in card and "**9.0 min**" in card
    assert "soft outputs of a teacher network (knowledge distillation)" in card


def test_nodes_left_in_float_stay_float_and_are_ranked_on_faces_outside_the_calibration_sample(tmp_path, capsys):
    from affectstream.cli.main import main
    from affectstream.core.features.expression_cnn import ExpressionCNN
    from affectstream.training.fer.card_text import export_command, quantization
    from affectstream.training.fer.export import export_onnx
    from affectstream.training.fer.quantize import (QuantOptions, calibration_sample_indices, float_nodes_of,
                                                    quantizable_nodes, quantize_int8, ranking_sample_indices,
                                                    sensitive_nodes)

    tr, va = _faces(256, 0), _faces(128, 1)
    cfg = TrainConfig(epochs=1, batch_size=32, lr=0.05, model=SMALL, bf16=False, channels_last=False, threads=1)
    train(cfg, tr, va, tmp_path / "run", progress_bar=False, log=lambda _: None)
    float_graph = export_onnx(load_weights(tmp_path / "run" / "best.safetensors"), tmp_path / "f.onnx", flip_tta=True)
    nodes = quantizable_nodes(float_graph)
    assert nodes[0].endswith("Conv") and nodes[-1].endswith("Gemm") and len(nodes) == len(set(nodes))
    options = QuantOptions(calibration_faces=64, batch=32)
    images = tr.images.numpy()

    mixed = quantize_int8(float_graph, tmp_path / "mixed.onnx", images, replace(options, float_nodes=(nodes[0],)))
    assert float_nodes_of(mixed) == [nodes[0]]  # its weights read as they are; every other node's dequantized
    assert float_nodes_of(quantize_int8(float_graph, tmp_path / "all.onnx", images, options)) == []
    assert ExpressionCNN(mixed).precision == "int8 with 1 float node"
    assert QuantOptions(float_nodes=(nodes[0],)).to_json()["float_nodes"] == [nodes[0]]
    # A node name the graph does not have is refused, not silently quantized.
    with pytest.raises(RuntimeError, match="left in float"):
        quantize_int8(float_graph, tmp_path / "x.onnx", images, replace(options, float_nodes=("/no/such/Conv",)))
    # The faces the nodes are ranked on are Training faces the calibration did not see.
    ranking_faces = ranking_sample_indices(len(images), options, 100)
    assert len(ranking_faces) == 100 and not set(ranking_faces) & set(calibration_sample_indices(len(images), options))
    assert len(ranking_sample_indices(len(images), options, 1000)) == len(images) - 64  # all that is left
    with pytest.raises(UserInputError, match="none is left"):
        ranking_sample_indices(64, options, 100)
    ranking = sensitive_nodes(float_graph, images, options, faces=64, log=lambda _: None)
    assert sorted(s.node for s in ranking.nodes) == sorted(nodes) and ranking.faces == 64
    # Only nodes that come closer to the float graph are kept float, however many are asked for.
    gaining = [s.node for s in ranking.nodes if s.gain > 0]
    assert ranking.float_nodes(len(nodes)) == tuple(gaining) and ranking.float_nodes(1) == tuple(gaining[:1])
    # The card says which nodes stayed float and how they were chosen, and its command gives the option.
    quant = {**QuantOptions(float_nodes=(nodes[0],)).to_json(), "sensitivity": ranking.to_json(),
             "check_against_float32": {"n": 10, "argmax_agreement": 1.0, "min_agreement": 0.97,
                                       "mean_abs_diff_probs": 0.001, "max_abs_diff_probs": 0.01},
             "float32": {"accuracy": 0.5, "macro_f1": 0.5, "ms_per_face_median": 1.0}}
    text = quantization(quant, 0.5)
    assert f"but `{nodes[0]}`, left in float (of the graph's {len(nodes)} such nodes, the one whose" in text
    assert "on 64 Training faces outside the calibration sample" in text
    assert export_command({"run": "r", "shipped_flip_tta": True, "quantization": quant}, "a").startswith(
        "affectstream train-fer export r --flip-tta --int8 --int8-keep-float 1 --export-dir")
    assert export_command({"run": "r", "quantization": QuantOptions().to_json()}, "a").startswith(
        "affectstream train-fer export r --int8 --export-dir")
    assert main(["train-fer", "export", str(tmp_path / "x"), "--int8-keep-float", "1"]) == 2
    assert "--int8-keep-float needs --int8" in capsys.readouterr().err


def test_the_mixed_precision_card_compares_with_the_same_weights_all_int8_and_gives_its_command(tmp_path):
    import shutil

    from affectstream.training.fer.card import render_card

    asset, shipped = _card_asset(tmp_path, "expr-cnn-soup-mixed", "expr-cnn-soup-mixed",
                                 ("metrics.json", "expr_cnn.onnx", "expr_cnn.safetensors", "soup.json", "notes.md"))
    assets = shipped.parent
    card = render_card(asset)
    assert "export runs/fer-soup --flip-tta --int8 --int8-keep-float 1 --export-dir affectstream/assets/expr-cnn-soup-mixed" in card
    assert "but `/stem/stem.0/Conv`, left in float (of the graph's 13 such nodes, the one whose" in card
    assert "Against `expr-cnn-soup-int8`" not in card  # no baseline beside it
    (tmp_path / "expr-cnn-soup-int8").mkdir()
    shutil.copy(assets / "expr-cnn-soup-int8" / "metrics.json", tmp_path / "expr-cnn-soup-int8" / "metrics.json")
    ours, theirs = (json.loads((assets / a / "metrics.json").read_text())["private_test"]["accuracy"]
                    for a in ("expr-cnn-soup-mixed", "expr-cnn-soup-int8"))
    assert (f"Against `expr-cnn-soup-int8` (its card's measured figures, the same weights with every node int8): "
            f"PrivateTest {100 * ours:.2f}% against {100 * theirs:.2f}%") in render_card(asset)
