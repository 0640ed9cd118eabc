"""Options refused in one line before any work (issue 36): a landmarker file that is no Face Landmarker bundle,
an absurd crop size, --onnx-config keys, --workers below 1, all-zero loss weights, and the benchmarks'
numbers (NaN, inf, zero, absurd sizes) and output files.

Each test replaces the command's first piece of work with one that fails the test, so a check that comes too
late (or not at all) shows as that failure, never as a long run.
"""

from __future__ import annotations

import re
import zipfile

import pytest

from affectstream.cli.main import main
from tests.media import shared_file


def refused(argv: list[str], capsys) -> str:
    """The error line of a command refused with exit status 2 (by argparse or by the command's own checks)."""
    try:
        status = main(argv)
    except SystemExit as stop:  # argparse's refusal
        status = stop.code
    assert status == 2, argv
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def must_not_run(what: str):
    def fail(*args, **kwargs):
        raise AssertionError(f"{what} started before the options were checked")

    return fail


# -- the Face Landmarker file ------------------------------------------------------------------------------

def landmarker_impostors(folder):
    """A file that is not a zip, and a zip holding only the detector (a bundle MediaPipe cannot build from)."""
    text = folder / "bogus.task"
    text.write_text("not a model\n")
    partial = folder / "partial.task"
    with zipfile.ZipFile(partial, "w") as bundle:
        bundle.writestr("face_detector.tflite", b"\x1c\x00\x00\x00TFL3" + bytes(32))
    return text, partial


def test_a_landmarker_file_that_is_no_bundle_is_refused_naming_it(tmp_path, capsys, monkeypatch):
    """annotate --landmarker-model bogus.task --accept-landmarker-hash ended in 'RuntimeError: Unable to open
    zip archive'; the face search's read of the detector in a zipfile traceback."""
    from affectstream.core.faces.model_file import ModelFileError, locate_face_landmarker
    from affectstream.core.faces.search import read_detector_model

    monkeypatch.setattr("affectstream.core.engine.AffectEngine.from_checkpoint", must_not_run("annotation"))
    monkeypatch.setattr("affectstream.jobs.extract_run.run_extraction", must_not_run("extraction"))
    video = shared_file("videos", "single_face.mp4")
    for impostor in landmarker_impostors(tmp_path):
        for command, out in (("annotate", tmp_path / "annotated"), ("extract", tmp_path / "features")):
            err = refused([command, str(video), "--out", str(out), "--landmarker-model", str(impostor),
                           "--accept-landmarker-hash", "--no-progress"], capsys)
            assert str(impostor) in err and "not a Face Landmarker model bundle" in err, err
            assert len(err.strip().splitlines()) == 1 and not out.exists()
        with pytest.raises(ModelFileError, match="not a Face Landmarker model bundle"):
            locate_face_landmarker(impostor, accept_any_hash=True)
        with pytest.raises(ModelFileError, match=re.escape(str(impostor))):
            read_detector_model(impostor)


# -- crop sizes ------------------------------------------------------------------------------------------------

def test_an_absurd_crop_size_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    """extract --save-crops d --crop-size 100000 (and bench faces --crop-size) ran out of memory in cv2 mid-batch."""
    from affectstream.jobs.extract import MAX_CROP_SIZE, ExtractError, ExtractOptions

    monkeypatch.setattr("affectstream.jobs.extract_run.run_extraction", must_not_run("extraction"))
    monkeypatch.setattr("affectstream.bench.faces.bench_video", must_not_run("bench faces"))
    video = shared_file("videos", "single_face.mp4")
    crops, store = tmp_path / "crops", tmp_path / "store"
    err = refused(["extract", str(video), "--out", str(store), "--save-crops", str(crops), "--crop-size", "100000"],
                  capsys)
    assert "--crop-size must be at most 512, got 100000" in err
    assert not crops.exists() and not store.exists()
    err = refused(["bench", "faces", str(video), "--crop-size", "100000", "--out", str(tmp_path / "f.json")], capsys)
    assert "--crop-size" in err and "100000" in err
    with pytest.raises(ExtractError, match="--crop-size must be at most 512, got 100000"):
        ExtractOptions(store_root=store, crop_size=100000)
    assert ExtractOptions(store_root=store, crop_size=MAX_CROP_SIZE).crop_size == MAX_CROP_SIZE
    assert "16 to 512" in " ".join(capture_help(["extract", "--help"], capsys).split())


def capture_help(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit):
        main(argv)
    return capsys.readouterr().out


# -- --onnx-config ---------------------------------------------------------------------------------------------

def tiny_onnx_model(path):
    """An ONNX 'backbone' of a 64x64 colour crop: the mean of each channel (3 features)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("GlobalAveragePool", ["x"], ["y"])], "mean",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 64, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 1, 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_onnx_config_keys_work_or_are_refused_naming_the_key(tmp_path, capsys, monkeypatch):
    """--onnx-config with "name" (a key its help listed) ended in 'TypeError ... multiple values for argument
    'name''; every key the help lists must reach the extractor, and any other be refused in one line."""
    import json

    from affectstream.core.features.extractors.onnx import CONFIG_KEYS, check_config
    from affectstream.core.features.registry import create_extractor

    # Without the check, "name" failed in building the chain, inside the extraction.
    monkeypatch.setattr("affectstream.jobs.extract_run.run_extraction", must_not_run("extraction"))
    video = shared_file("videos", "single_face.mp4")
    model = tiny_onnx_model(tmp_path / "tiny.onnx")
    config = tmp_path / "config.json"
    for given, said in (({"name": "mae"}, "key 'name' cannot be set"),
                        ({"model": "other.onnx"}, "key 'model' cannot be set"),
                        ({"input_sise": 64}, "unknown key 'input_sise'"),
                        ({"input_size": "big"}, "'input_size' must be a whole number from 16 to 512"),
                        ({"mean": "0.5"}, "'mean' must be a list of 1 or 3 finite numbers"),
                        ({"layout": "CHW"}, "'layout' must be one of NCHW, NHWC")):
        config.write_text(json.dumps(given))
        err = refused(["extract", str(video), "--out", str(tmp_path / "store"), "--onnx-model", str(model),
                       "--onnx-config", str(config), "--no-progress"], capsys)
        assert said in err and str(config) in err, err
        assert not (tmp_path / "store").exists()
    # Every key the help names builds the extractor with its value.
    helped = " ".join(capture_help(["extract", "--help"], capsys).split())
    listed = helped.split("preprocessing (")[1].split(")")[0].split(", ")
    assert set(listed) <= set(CONFIG_KEYS) and "name" not in listed
    every = {"input_size": 64, "colour": "bgr", "mean": [0.5, 0.5, 0.5], "std": [0.25], "scale": 0.004,
             "layout": "NCHW", "output": "y", "licence": "MIT", "description": "channel means", "threads": 1}
    assert set(every) == set(CONFIG_KEYS)
    check_config(every, str(config))
    extractor = create_extractor("onnx", model=str(model), **every)
    config_built = extractor.config
    assert (config_built.input_size, config_built.colour, config_built.std, config_built.licence) == (
        64, "bgr", (0.25,), "MIT") and extractor.dim == 3
    extractor.close()


# -- worker counts -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("workers", ["0", "-3"])
def test_extract_workers_below_one_are_refused(tmp_path, capsys, monkeypatch, workers):
    """extract --workers 0 and -3 were taken (annotate refuses 0)."""
    monkeypatch.setattr("affectstream.jobs.extract_run.run_extraction", must_not_run("extraction"))
    video = shared_file("videos", "single_face.mp4")
    err = refused(["extract", str(video), "--out", str(tmp_path / "store"), "--workers", workers], capsys)
    assert "--workers" in err and workers in err and not (tmp_path / "store").exists()


# -- loss weights ------------------------------------------------------------------------------------------------

def test_loss_weights_that_train_nothing_are_refused_before_the_run_folder(tiny_data, tmp_path, capsys, monkeypatch):
    """train --loss-weights 0 0 0 0 trained nothing and wrote best.safetensors, rc 0."""
    import affectstream.cli.train as train_cli
    from affectstream.core.errors import UserInputError
    from affectstream.training.loop import TrainOptions
    from affectstream.training.loss import LossConfig
    from affectstream.training.synthetic import BACKBONES

    monkeypatch.setattr(train_cli, "train", must_not_run("training"))
    out = tmp_path / "run"
    base = ["train", "--train", str(tiny_data.train_annotations), "--val", str(tiny_data.val_annotations),
            "--features", str(tiny_data.features), "--backbones", *BACKBONES, "--out", str(out), "--no-progress"]
    err = refused([*base, "--loss-weights", "0", "0", "0", "0"], capsys)
    assert "--loss-weights must not all be 0" in err and not out.exists()
    for weights in (["-1", "1", "1", "1"], ["1", "nan", "1", "1"], ["1", "1", "inf", "1"]):
        err = refused([*base, "--loss-weights", *weights], capsys)
        assert "--loss-weights" in err and not out.exists()
    with pytest.raises(UserInputError, match="--loss-weights must not all be 0"):
        TrainOptions("t", "v", "f", ("b",), str(out), loss=LossConfig(0.0, 0.0, 0.0, 0.0))
    assert TrainOptions("t", "v", "f", ("b",), str(out), loss=LossConfig(0.0, 0.0, 1.0, 0.0)).loss.gamma == 1.0


# -- the benchmarks' numbers ---------------------------------------------------------------------------------------

BENCH_WORK = {  # each benchmark's first piece of work, replaced in the tests by a failure
    "soak": "affectstream.bench.soak.LoopedVideo",
    "live": "affectstream.core.engine.AffectEngine",
    "faces": "affectstream.bench.faces.bench_video",
    "gui": "affectstream.bench.gui.choose_checkpoint",
    "annotate": "affectstream.bench.annotate.looped",
    "fer": "affectstream.training.fer.peer.FerPeer",
    "train": "affectstream.bench.train.run_worker",
}


def stop_every_bench(monkeypatch) -> None:
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # bench gui sets it when unset; restored after the test
    for bench, target in BENCH_WORK.items():
        monkeypatch.setattr(target, must_not_run(f"bench {bench}"))


@pytest.mark.parametrize("bench, option, value", [
    ("soak", "--minutes", "inf"), ("soak", "--minutes", "nan"), ("soak", "--every", "1e-12"), ("soak", "--every", "0"),
    ("gui", "--minutes", "inf"), ("gui", "--minutes", "1e9"), ("gui", "--sample-s", "nan"),
    ("gui", "--sample-s", "0"),
    ("live", "--seconds", "inf"), ("live", "--group-seconds", "nan"), ("live", "--group-seconds", "inf"),
    ("live", "--group-seconds", "0"), ("live", "--group-seconds", "-5"), ("live", "--warmup", "-1"),
    ("live", "--repeats", "0"), ("live", "--max-faces", "50"), ("live", "--hidden", "0"), ("live", "--camera", "-1"),
    ("faces", "--max-faces", "50"), ("faces", "--max-faces", "0"), ("faces", "--warmup", "-1"),
    ("annotate", "--seconds", "inf"), ("annotate", "--seconds", "0"), ("annotate", "--seconds", "nan"),
    ("fer", "--threads", "0"), ("fer", "--limit", "0"),
    ("train", "--batch", "100000"), ("train", "--length", "0"), ("train", "--hidden", "-1"),
])
def test_bench_numbers_are_refused_when_they_make_no_sense(bench, option, value, capsys, monkeypatch):
    """--minutes inf: OverflowError (a C++ abort in bench gui); --every 1e-12 hung; --group-seconds nan|inf a
    traceback and 0 or -5 an empty mp4; bench faces --max-faces 50 was taken (the rest of the tool takes 1..10)."""
    stop_every_bench(monkeypatch)
    err = refused(["bench", bench, option, value], capsys)
    assert f"argument {option}" in err and repr(value) in err, err


@pytest.mark.parametrize("bench", ["soak", "live", "faces", "gui", "annotate", "fer"])
def test_a_bench_output_that_is_a_folder_is_refused_before_the_work(bench, tmp_path, capsys, monkeypatch):
    """bench soak --out DIR was refused only after the whole 10-minute run."""
    shared_file("videos", "single_face.mp4")
    stop_every_bench(monkeypatch)
    folder = tmp_path / "a_folder"
    folder.mkdir()
    err = refused(["bench", bench, "--out", str(folder)], capsys)
    assert "is a directory" in err and str(folder) in err, err
