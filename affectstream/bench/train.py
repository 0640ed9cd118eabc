"""`affectstream bench train`: training throughput, peak memory and streaming latency per encoder.

Sizes default to the paper's: 2134-dim features (768+512+512+342), hidden 1024,
250-frame segments, batch 8; the transformer uses TransformerConfig's defaults.
Each encoder runs in a fresh subprocess so that its peak resident memory is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from affectstream.core.atomic import write_text_atomic
from affectstream.bench.outputs import require_own_output
from affectstream.core.argtypes import whole_number_in
from affectstream.core.temporal.config import FRAMEWORKS

ENCODERS = ("gru", "lstm", "transformer", "mlp")
PAPER_FEATURE_DIM = 768 + 512 + 512 + 342
RESULT_MARK = "BENCH-RESULT "  # prefix of the worker's result line on stdout
# Caps on each setting: a batch of segments of features is allocated whole (batch x length x input-dim
# floats), and steps run one after another; beyond these a typo would exhaust memory or run for days.
MAX_STEPS, MAX_LATENCY_STEPS, MAX_THREADS = 1000, 100_000, 1024
MAX_BATCH, MAX_LENGTH, MAX_INPUT_DIM, MAX_HIDDEN = 512, 10_000, 65_536, 16_384


@dataclass(frozen=True)
class BenchSettings:
    input_dim: int = PAPER_FEATURE_DIM
    hidden: int = 1024  # GRU/LSTM/MLP hidden size; the transformer keeps its own defaults
    length: int = 250
    batch: int = 8
    steps: int = 3
    latency_steps: int = 30
    threads: int | None = None


@dataclass
class EncoderResult:
    encoder: str
    framework: str
    parameters: int
    step_seconds: list[float]  # the timed training steps, after one warm-up step
    frames_per_second: float  # batch * length * steps / total timed seconds
    peak_rss_mb: float  # the worker's peak resident memory
    model_rss_mb: float  # resident memory with the model built, before any training
    latency_frames: int  # frames one streaming step processes: 1, or the transformer's window
    latency_median_ms: float
    latency_p95_ms: float
    threads: int


def _rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux, bytes on macOS
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = int(position), min(int(position) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _model_config(encoder: str, framework: str, settings: BenchSettings):
    from affectstream.core.temporal import ModelConfig, make_encoder_config

    options = {} if encoder == "transformer" else {"hidden_size": settings.hidden}
    return ModelConfig(
        input_dim=settings.input_dim, encoder=make_encoder_config(encoder, **options), framework=framework
    )


def measure(encoder: str, framework: str, settings: BenchSettings) -> EncoderResult:
    """Run in the current process: training steps on random data, then streaming latency."""
    import torch

    from affectstream.core.temporal import MultiTaskModel
    from affectstream.training.loss import LossConfig, multitask_loss

    if settings.threads:
        torch.set_num_threads(settings.threads)
    torch.manual_seed(0)
    config = _model_config(encoder, framework, settings)
    model = MultiTaskModel(config)
    model_rss = _rss_mb()

    b, t = settings.batch, settings.length
    x = torch.randn(b, t, settings.input_dim)
    va = torch.rand(b, t, 2) * 2 - 1
    expr = torch.randint(0, 8, (b, t))
    au = torch.randint(0, 2, (b, t, 12)).float()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_config = LossConfig()
    model.train()
    state = model.init_state(b)
    step_seconds = []
    for step in range(settings.steps + 1):
        start = time.perf_counter()
        optimiser.zero_grad(set_to_none=True)
        out = model(x, state)
        multitask_loss(out, va, expr, au, loss_config).total.backward()
        optimiser.step()
        state = model.detach_state(out.state)
        if step:  # step 0 is the warm-up
            step_seconds.append(time.perf_counter() - start)

    model.eval()
    # the transformer has no carried state: each new frame re-reads a sliding window of max_len frames
    window = config.encoder.max_len if encoder == "transformer" else 1
    frame = torch.randn(1, window, settings.input_dim)
    stream_state = model.init_state(1)
    latencies = []
    with torch.no_grad():
        for step in range(settings.latency_steps + 3):
            start = time.perf_counter()
            stream_state = model(frame, stream_state).state
            if step >= 3:
                latencies.append((time.perf_counter() - start) * 1000.0)

    return EncoderResult(
        encoder=encoder,
        framework=framework,
        parameters=sum(p.numel() for p in model.parameters()),
        step_seconds=step_seconds,
        frames_per_second=b * t * len(step_seconds) / sum(step_seconds),
        peak_rss_mb=_rss_mb(),
        model_rss_mb=model_rss,
        latency_frames=window,
        latency_median_ms=statistics.median(latencies),
        latency_p95_ms=_percentile(latencies, 0.95),
        threads=torch.get_num_threads(),
    )


# -- worker process ---------------------------------------------------------------
def _settings_args(settings: BenchSettings) -> list[str]:
    return ["--settings", json.dumps(asdict(settings))]


def run_worker(encoder: str, framework: str, settings: BenchSettings) -> EncoderResult:
    """Measure in a fresh interpreter so that peak memory is this encoder's alone."""
    command = [sys.executable, "-m", "affectstream.bench.train", "--encoder", encoder, "--framework", framework]
    done = subprocess.run(command + _settings_args(settings), capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"{encoder}/{framework} worker failed (exit {done.returncode}): {tail}")
    return EncoderResult(**json.loads(lines[-1][len(RESULT_MARK):]))


def worker_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one encoder's measurement (used by `affectstream bench train`)")
    parser.add_argument("--encoder", required=True, choices=ENCODERS)
    parser.add_argument("--framework", required=True, choices=FRAMEWORKS)
    parser.add_argument("--settings", required=True, help="BenchSettings as JSON")
    args = parser.parse_args(argv)
    settings = BenchSettings(**json.loads(args.settings))
    result = measure(args.encoder, args.framework, settings)
    print(RESULT_MARK + json.dumps(asdict(result)), flush=True)
    return 0


# -- command ------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = BenchSettings()
    parser.add_argument("--encoders", nargs="+", default=["gru", "lstm", "transformer"], choices=ENCODERS)
    parser.add_argument("--frameworks", nargs="+", default=["basic"], choices=FRAMEWORKS)
    parser.add_argument("--steps", type=whole_number_in(1, MAX_STEPS), default=defaults.steps,
                        help="timed training steps after one warm-up")
    parser.add_argument("--latency-steps", type=whole_number_in(1, MAX_LATENCY_STEPS), default=defaults.latency_steps,
                        help="timed streaming steps")
    parser.add_argument("--threads", type=whole_number_in(1, MAX_THREADS), default=None,
                        help="torch threads (default: torch's, all cores)")
    parser.add_argument("--batch", type=whole_number_in(1, MAX_BATCH), default=defaults.batch)
    parser.add_argument("--length", type=whole_number_in(1, MAX_LENGTH), default=defaults.length,
                        help="segment length l")
    parser.add_argument("--input-dim", type=whole_number_in(1, MAX_INPUT_DIM), default=defaults.input_dim)
    parser.add_argument("--hidden", type=whole_number_in(1, MAX_HIDDEN), default=defaults.hidden,
                        help="GRU/LSTM/MLP hidden size")
    parser.add_argument("--out", type=Path, default=Path("bench-results/train.json"))


def _settings_from_args(args: argparse.Namespace) -> BenchSettings:
    return BenchSettings(
        input_dim=args.input_dim,
        hidden=args.hidden,
        length=args.length,
        batch=args.batch,
        steps=args.steps,
        latency_steps=args.latency_steps,
        threads=args.threads,
    )


def machine_info() -> dict[str, Any]:
    import torch

    return {
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_default_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


def format_table(results: Sequence[EncoderResult]) -> str:
    header = (
        f"{'encoder':<12}{'framework':<14}{'params':>9}{'step s':>9}{'frames/s':>10}"
        f"{'peak MB':>9}{'lat frames':>11}{'lat med ms':>11}{'lat p95 ms':>11}"
    )
    rows = [header, "-" * len(header)]
    for r in results:
        rows.append(
            f"{r.encoder:<12}{r.framework:<14}{r.parameters / 1e6:>8.1f}M{statistics.median(r.step_seconds):>9.2f}"
            f"{r.frames_per_second:>10.0f}{r.peak_rss_mb:>9.0f}{r.latency_frames:>11d}"
            f"{r.latency_median_ms:>11.2f}{r.latency_p95_ms:>11.2f}"
        )
    return "\n".join(rows)


def run(args: argparse.Namespace) -> int:
    require_own_output(args.out, "train")  # before the measurements, not after; and only over its own output
    settings = _settings_from_args(args)
    results: list[EncoderResult] = []
    failures: list[str] = []
    for framework in args.frameworks:
        for encoder in args.encoders:
            print(f"measuring {encoder} ({framework}) ...", file=sys.stderr, flush=True)
            try:
                results.append(run_worker(encoder, framework, settings))
            except RuntimeError as exc:
                failures.append(str(exc))
                print(exc, file=sys.stderr)
    print(format_table(results))
    report = {
        "bench": "train",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": asdict(settings),
        "results": [asdict(r) for r in results],
        "failures": failures,
    }
    write_text_atomic(args.out, json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(worker_main())
