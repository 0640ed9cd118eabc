"""Int8 static quantization of an exported expr-cnn graph, checked against the float graph it came from.

Why: on the 2-core CPU the float graph of the ensemble with mirror images costs about
5 ms per face with two networks (the whole budget) and 8 with three; int8 convolutions
(VNNI) bring that to about 2.3 and 3.2 ms. What is
quantized: every Conv and Gemm, weights per output channel as int8 in the 7-bit range
(so CPUs without VNNI, whose u8 x s8 kernels sum pairs in 16 bits, cannot saturate),
activations per tensor as uint8. Their ranges come from FER2013 ``Training`` faces run
through the graph (percentile calibration), never from the splits that are reported.

The float graph stays the reference: it is checked equal to torch (affectstream.training.fer.export),
and the int8 graph is checked against it here with a tolerance for quantization.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectstream.atomic import atomic_write
from affectstream.features.expression_cnn import INPUT_NAME, PRECISION_KEY, ExpressionCNN


@dataclass(frozen=True)
class QuantOptions:
    calibration_faces: int = 1000  # FER2013 Training faces, a seeded random sample
    seed: int = 0
    method: str = "Percentile"  # an onnxruntime.quantization.CalibrationMethod name
    reduce_range: bool = True  # 7-bit weights: no 16-bit saturation on AVX2 CPUs without VNNI
    batch: int = 100  # faces per calibration call

    def to_json(self) -> dict:
        return {"calibration": f"{self.calibration_faces} FER2013 Training faces (seed {self.seed})",
                "method": self.method.lower(), "weights": "int8 per output channel" + (" (7-bit range)" if self.reduce_range else ""),
                "activations": "uint8 per tensor", "ops": ["Conv", "Gemm"]}


@dataclass(frozen=True)
class QuantCheck:
    n: int
    argmax_agreement: float  # same predicted class as the float graph
    max_abs_diff_probs: float
    mean_abs_diff_probs: float
    min_agreement: float

    @property
    def ok(self) -> bool:
        return self.argmax_agreement >= self.min_agreement

    def to_json(self) -> dict:
        return {"n": self.n, "argmax_agreement": self.argmax_agreement, "max_abs_diff_probs": self.max_abs_diff_probs,
                "mean_abs_diff_probs": self.mean_abs_diff_probs, "min_agreement": self.min_agreement}


def calibration_sample(training_u8: np.ndarray, options: QuantOptions) -> np.ndarray:
    n = min(options.calibration_faces, len(training_u8))
    idx = np.sort(np.random.default_rng(options.seed).choice(len(training_u8), n, replace=False))
    return np.asarray(training_u8)[idx]


def quantize_int8(float_path: Path, out_path: Path, training_u8: np.ndarray,
                  options: QuantOptions = QuantOptions()) -> Path:
    """Write the int8 version of the float expr-cnn graph at ``float_path`` to ``out_path`` (atomically)."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    faces = calibration_sample(training_u8, options)
    # Equal batches only: the calibrator stacks per-batch outputs, so a short last batch is dropped.
    batch = min(options.batch, len(faces))
    starts = range(0, len(faces) // batch * batch, batch)

    class Faces(CalibrationDataReader):
        def __init__(self) -> None:
            self._starts = iter(starts)

        def get_next(self) -> dict | None:
            start = next(self._starts, None)
            if start is None:
                return None
            return {INPUT_NAME: faces[start : start + batch, None].astype(np.float32)}

    with tempfile.TemporaryDirectory(prefix="expr-cnn-int8-") as tmp:
        prepared, quantized = Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
        quant_pre_process(str(float_path), str(prepared))  # shape inference and folding, as the quantizer wants
        quantize_static(
            str(prepared), str(quantized), Faces(), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=["Conv", "Gemm"],
            calibrate_method=getattr(CalibrationMethod, options.method), reduce_range=options.reduce_range,
        )
        graph = onnx.load(str(quantized))
    # The float graph's metadata (networks, mirror image) still holds; add the precision.
    props = {p.key: p.value for p in onnx.load(str(float_path), load_external_data=False).metadata_props}
    onnx.helper.set_model_props(graph, {**props, PRECISION_KEY: "int8"})
    with atomic_write(out_path) as fh:
        fh.write(graph.SerializeToString())
    return Path(out_path)


def check_int8(float_path: Path, int8_path: Path, faces_u8: np.ndarray, min_agreement: float = 0.97,
               threads: int = 2) -> QuantCheck:
    """Run both graphs on the same faces: how often the int8 one predicts the float one's class, and how far off."""
    faces_u8 = np.asarray(faces_u8)
    reference, quantized = ExpressionCNN(float_path, threads=threads), ExpressionCNN(int8_path, threads=threads)
    p_float, p_int8 = reference.probs_fer(faces_u8), quantized.probs_fer(faces_u8)
    diff = np.abs(p_float - p_int8)
    return QuantCheck(
        n=len(faces_u8),
        argmax_agreement=float((p_float.argmax(1) == p_int8.argmax(1)).mean()),
        max_abs_diff_probs=float(diff.max()),
        mean_abs_diff_probs=float(diff.mean()),
        min_agreement=min_agreement,
    )
