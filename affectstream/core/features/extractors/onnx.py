"""``onnx``: any ONNX image backbone from a user's file, with its preprocessing.

For people's own exports of the paper's backbones (MAE, IResNet, DenseNet...).
The model sees the aligned crop at ``input_size``, in ``colour`` order, as
``(pixel * scale - mean) / std``, laid out NCHW or NHWC; the named output (the
first by default) is flattened into the feature vector. onnxruntime runs it on
CUDA when that provider is available, else on the CPU.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from affectstream.core.digest import file_sha256
from affectstream.core.errors import is_finite_number, is_whole_number
from affectstream.core.onnx_providers import choose_providers
from affectstream.core.faces.alignment import MAX_CROP_SIZE, MIN_CROP_SIZE
from affectstream.core.features.registry import (COLOURS, LAYOUTS, ExtractorConfig, ExtractorError, FeatureExtractor,
                                            register_extractor)


def _channel_values(value: object) -> bool:
    """One value for every channel, or one per colour channel."""
    return isinstance(value, list) and len(value) in (1, 3) and all(is_finite_number(v) for v in value)


# Each key a preprocessing config (``extract --onnx-config``) may set, a keyword of the extractor, and what its
# value must be: checked before the extractor is built, so that a bad value is one line naming the key, not a
# traceback from inside onnxruntime or OpenCV.
CONFIG_KEYS: dict[str, tuple[Callable[[object], bool], str]] = {
    "input_size": (lambda v: is_whole_number(v) and MIN_CROP_SIZE <= v <= MAX_CROP_SIZE,
                   f"a whole number from {MIN_CROP_SIZE} to {MAX_CROP_SIZE}"),
    "colour": (lambda v: v in COLOURS, f"one of {', '.join(COLOURS)}"),
    "mean": (_channel_values, "a list of 1 or 3 finite numbers"),
    "std": (lambda v: _channel_values(v) and 0 not in v, "a list of 1 or 3 finite numbers, none of them 0"),
    "scale": (lambda v: is_finite_number(v) and v > 0, "a finite number above 0"),
    "layout": (lambda v: v in LAYOUTS, f"one of {', '.join(LAYOUTS)}"),
    "output": (lambda v: isinstance(v, str) and bool(v), "the name of one of the model's outputs"),
    "licence": (lambda v: isinstance(v, str), "text"),
    "description": (lambda v: isinstance(v, str), "text"),
    "threads": (lambda v: is_whole_number(v) and 0 <= v <= 1024, "a whole number of threads, 0 (onnxruntime's choice) to 1024"),
}
# Keywords of the extractor that a config must not set, and why.
REFUSED_KEYS = {
    "name": "the features of --onnx-model are stored as 'onnx'; the extractor cannot be built under another name",
    "model": "the model is --onnx-model",
}


def check_config(config: dict, where: str) -> None:
    """Every key of a preprocessing config is one it may set, with a value of the right kind; ``where`` names
    the config in the message."""
    for key, value in config.items():
        if key in REFUSED_KEYS:
            raise ExtractorError(f"{where}: key {key!r} cannot be set ({REFUSED_KEYS[key]})")
        if key not in CONFIG_KEYS:
            raise ExtractorError(f"{where}: unknown key {key!r}; the keys are {', '.join(CONFIG_KEYS)}")
        valid, wanted = CONFIG_KEYS[key]
        if not valid(value):
            raise ExtractorError(f"{where}: {key!r} must be {wanted}, got {json.dumps(value)}")


@register_extractor
class OnnxExtractor(FeatureExtractor):
    default_config = ExtractorConfig(
        name="onnx",
        dim=0,  # known once a model is given
        input="aligned",
        input_size=112,
        colour="rgb",
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        layout="NCHW",
        description="an ONNX backbone from the user's file; see its params",
    )

    def __init__(
        self,
        model: str | Path | None = None,
        name: str = "onnx",
        input_size: int = 112,
        colour: str = "rgb",
        mean: Sequence[float] = (0.5, 0.5, 0.5),
        std: Sequence[float] = (0.5, 0.5, 0.5),
        scale: float = 1.0 / 255.0,
        layout: str = "NCHW",
        output: str | None = None,
        threads: int = 0,
        licence: str = "as given by the model's author",
        description: str = "",
    ) -> None:
        import onnxruntime as ort

        if model is None:
            raise ExtractorError("the onnx extractor needs a model file (--onnx-model PATH)")
        path = Path(model).expanduser().resolve()
        if not path.is_file():
            raise ExtractorError(f"ONNX model not found: {path}")
        channels = 1 if colour == "grey" else 3
        mean, std = tuple(float(v) for v in mean), tuple(float(v) for v in std)
        for label, values in (("mean", mean), ("std", std)):
            if len(values) not in (1, channels):
                raise ExtractorError(f"{path.name}: {label} has {len(values)} values for {channels} channel(s)")
        if any(v == 0 for v in std):
            raise ExtractorError(f"{path.name}: std must not contain 0")
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads)
        options.log_severity_level = 3
        providers = choose_providers(ort.get_available_providers())
        try:
            self._session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ExtractorError(f"{path}: cannot load the ONNX model ({exc})") from exc
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ExtractorError(f"{path.name}: expected one image input, the model has {len(inputs)}")
        self._input_name = inputs[0].name
        outputs = [o.name for o in self._session.get_outputs()]
        if output is not None and output not in outputs:
            raise ExtractorError(f"{path.name}: no output named {output!r}; outputs: {outputs}")
        self._output = output or outputs[0]
        batch_dim = inputs[0].shape[0] if inputs[0].shape else 1
        self._batched = not isinstance(batch_dim, int) or batch_dim != 1
        self._size, self._layout, self._colour = int(input_size), layout, colour
        self._scale = np.float32(scale)
        self._mean = np.array(mean, dtype=np.float32)
        self._std = np.array(std, dtype=np.float32)
        # Provisional config so that preprocessing validates; dim comes from a dry run.
        self.config = ExtractorConfig(name=name, dim=0, input="aligned", input_size=self._size, colour=colour,
                                      mean=mean, std=std, scale=float(scale), layout=layout)
        try:
            probe = self._session.run([self._output], {self._input_name: self._preprocess([np.zeros(
                (self._size, self._size, channels) if channels == 3 else (self._size, self._size), np.uint8)])})[0]
        except Exception as exc:
            raise ExtractorError(
                f"{path.name}: a {self._size}x{self._size} {colour} {layout} input does not run ({exc}); "
                "check input_size, colour and layout"
            ) from exc
        self.config = ExtractorConfig(
            name=name, dim=int(np.prod(probe.shape[1:])), input="aligned", input_size=self._size, colour=colour,
            mean=mean, std=std, scale=float(scale), layout=layout, licence=licence,
            description=description or f"ONNX backbone {path.name}",
            params={"model": str(path), "sha256": file_sha256(path), "output": self._output},
        )

    def _preprocess(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        batch = []
        for crop in crops:
            if crop.shape[0] != self._size or crop.shape[1] != self._size:
                crop = cv2.resize(crop, (self._size, self._size), interpolation=cv2.INTER_AREA)
            if self._colour == "grey":
                crop = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
                crop = crop[:, :, None]
            else:
                if crop.ndim == 2:
                    crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
                if self._colour == "rgb":
                    crop = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
            batch.append(crop)
        x = (np.stack(batch).astype(np.float32) * self._scale - self._mean) / self._std
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2) if self._layout == "NCHW" else x)

    def _run(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        out = self._session.run([self._output], {self._input_name: self._preprocess(crops)})[0]
        return out.reshape(len(crops), -1).astype(np.float32, copy=False)

    def extract(self, frame_bgr, face, aligned) -> np.ndarray:
        return self._run([aligned.image])[0]

    def extract_batch(self, frames, faces, aligned) -> np.ndarray:
        crops = [a.image for a in aligned]
        if not crops:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._batched:
            return self._run(crops)
        return np.concatenate([self._run([c]) for c in crops])

    @property
    def providers(self) -> list[str]:
        """The onnxruntime providers in use (not part of the config: results do not depend on them)."""
        return list(self._session.get_providers())

    def close(self) -> None:
        self._session = None

