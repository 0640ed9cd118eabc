"""Feature extractors registered by name (in the manner of timm's model registry).

An extractor turns one analysed face into a fixed-length float32 vector::

    extractor = create_extractor("blendshapes")
    vector = extractor.extract(frame_bgr, face, aligned)   # (extractor.dim,)

``face`` is the FaceResult (landmarks, blendshapes, head pose) and ``aligned``
the face warped onto the template at the extractor's ``input_size`` and colour
(``None`` for extractors whose ``input`` is ``"face"``). ``extract`` is called
per frame in the live loop, so implementations keep their sessions and buffers
between calls and do no file access there. ``extract_batch`` takes lists and
returns (n, dim); its default loops over ``extract``.

Extractors register with the ``@register_extractor`` class decorator; each
class carries a frozen ``default_config``. ``create_extractor(name, **overrides)``
builds one; overrides are the class's keyword arguments.

The FER2013 expression backbones (``expr-cnn-soup-mixed``, ``expr-cnn-soup-int8``) are registered in
``affectstream/core/features/extractors/expr_cnn.py``: input ``aligned``, ``dim = embedding + 8`` (the
penultimate embedding followed by the 8 ABAW-ordered expression probabilities).

The registry dict is the one piece of module-level mutable state: it is filled
once, by the decorators, when affectstream.core.features.extractors is imported.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from affectstream.core.errors import UserInputError

INPUT_KINDS = ("face", "aligned")
COLOURS = ("rgb", "bgr", "grey")
LAYOUTS = ("NCHW", "NHWC")

# Names kept for extractors that later issues add, with what they will be.
RESERVED: dict[str, str] = {}

class ExtractorError(UserInputError):
    """An unknown extractor, a bad option, or a model that cannot be used."""

@dataclass(frozen=True)
class ExtractorConfig:
    """What an extractor needs and gives; stored with its features (FeatureSpec.config)."""

    name: str
    dim: int
    input: str = "face"  # "face": landmarks/blendshapes/pose; "aligned": an aligned crop
    input_size: int | None = None  # aligned crop side in pixels
    colour: str | None = None  # colour of the crop the model sees: rgb, bgr or grey
    mean: tuple[float, ...] = ()  # per channel, after multiplying pixels by `scale`
    std: tuple[float, ...] = ()
    scale: float = 1.0 / 255.0
    layout: str | None = None  # NCHW or NHWC for image models
    licence: str = ""
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)  # extractor-specific, JSON-able

    def __post_init__(self) -> None:
        if self.input not in INPUT_KINDS:
            raise ExtractorError(f"extractor {self.name!r}: input must be one of {INPUT_KINDS}, not {self.input!r}")
        if self.input == "aligned" and not self.input_size:
            raise ExtractorError(f"extractor {self.name!r}: an aligned-crop extractor needs input_size")
        if self.colour is not None and self.colour not in COLOURS:
            raise ExtractorError(f"extractor {self.name!r}: colour must be one of {COLOURS}, not {self.colour!r}")
        if self.layout is not None and self.layout not in LAYOUTS:
            raise ExtractorError(f"extractor {self.name!r}: layout must be one of {LAYOUTS}, not {self.layout!r}")
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    @property
    def grey(self) -> bool:
        return self.colour == "grey"

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["mean"], data["std"] = list(self.mean), list(self.std)
        return data

class FeatureExtractor(ABC):
    """The extractor protocol; subclasses set ``config`` in __init__ or as default_config."""

    default_config: ExtractorConfig
    config: ExtractorConfig
    # An "aligned" extractor that frames the face itself from its landmarks when it has them
    # reads the aligned crop only for pre-aligned sources: the chain then skips warping it.
    aligned_only_without_face: bool = False

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def dim(self) -> int:
        return self.config.dim

    @abstractmethod
    def extract(self, frame_bgr: np.ndarray, face, aligned) -> np.ndarray:
        """(dim,) float32 features of one face."""

    def extract_batch(self, frames: Sequence[np.ndarray], faces: Sequence, aligned: Sequence) -> np.ndarray:
        if not faces:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.extract(f, face, a) for f, face, a in zip(frames, faces, aligned)])

    def close(self) -> None:
        pass

    def __enter__(self) -> "FeatureExtractor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

_REGISTRY: dict[str, type[FeatureExtractor]] = {}
_EXTRACTORS_PACKAGE = "affectstream.core.features.extractors"

def register_extractor(cls: type[FeatureExtractor]) -> type[FeatureExtractor]:
    """Class decorator: register under ``cls.default_config.name``."""
    name = cls.default_config.name
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"extractor {name!r} is already registered by {_REGISTRY[name].__qualname__}")
    _REGISTRY[name] = cls
    return cls

def _load() -> dict[str, type[FeatureExtractor]]:
    importlib.import_module(_EXTRACTORS_PACKAGE)  # registers the built-in extractors
    return _REGISTRY

def list_extractors(pattern: str = "*") -> list[str]:
    """Registered names matching an fnmatch pattern, sorted."""
    return sorted(n for n in _load() if fnmatch.fnmatchcase(n, pattern))

def extractor_config(name: str) -> ExtractorConfig:
    """The default config of a registered extractor (without building it)."""
    return _lookup(name).default_config


def one_thread_each(extractor_options: dict[str, dict], names: Sequence[str]) -> dict[str, dict]:
    """Extractor options where each of ``names`` that takes a thread count (an onnxruntime session)
    runs on one thread unless told otherwise: several worker processes share the cores, and a thread
    per core in each would oversubscribe them."""
    threaded = [n for n in names if "threads" in inspect.signature(_lookup(n).__init__).parameters]
    return {**extractor_options, **{n: {"threads": 1, **extractor_options.get(n, {})} for n in threaded}}


def create_extractor(name: str, **overrides: Any) -> FeatureExtractor:
    cls = _lookup(name)
    try:
        return cls(**overrides)
    except TypeError as exc:
        raise ExtractorError(f"extractor {name!r}: bad options {sorted(overrides)} ({exc})") from exc

def _lookup(name: str) -> type[FeatureExtractor]:
    registry = _load()
    if name in registry:
        return registry[name]
    if name in RESERVED:
        raise ExtractorError(f"extractor {name!r} is reserved for {RESERVED[name]}")
    raise ExtractorError(f"unknown extractor {name!r}; registered: {', '.join(sorted(registry))}")
