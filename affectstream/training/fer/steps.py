"""The steps of `affectstream train-fer`, one call each: train a run, export one, join runs as an ensemble or a soup.

Each takes a frozen options object (the command line maps argv onto it and calls the step) and checks, before
the data loads and again under the folder's lock, that it writes only into a folder of its own kind
(affectstream.training.fer.folders). Joining and exporting end in finalize: PrivateTest figures, the ONNX graph
(float or int8), the shipped files and the model card.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from affectstream.core.atomic import check_inputs_kept, check_writable_dir, output_folder_lock
from affectstream.core.errors import UserInputError
from affectstream.training.fer.folders import check_own_folder, runs_read, step_outputs


@dataclass(frozen=True)
class DataOptions:
    path: Path  # fer2013.npz
    threads: int = 2
    limit_train: int | None = None  # a fixed random subset (smoke tests)
    limit_eval: int | None = None
    seed: int = 0  # of those subsets


@dataclass(frozen=True)
class ExportOptions:
    export_dir: Path | None = None  # where to ship; None: the run folder only
    flip_tta: bool = False  # ship the graph that also runs the mirror image
    int8: bool = False  # ship it quantized (ranges from Training faces)
    int8_keep_float: int = 0  # with int8: the K nodes that lose most to int8 stay float

    def __post_init__(self) -> None:
        if self.int8_keep_float and not self.int8:
            raise UserInputError("--int8-keep-float needs --int8 (it chooses which nodes of the int8 graph stay float)")


@dataclass(frozen=True)
class TrainOptions:
    data: DataOptions
    out: Path
    config: object  # affectstream.training.fer.loop.TrainConfig (typed loosely: that module loads torch)
    progress: bool = True


@dataclass(frozen=True)
class ExportRunOptions:
    data: DataOptions
    run: Path
    export: ExportOptions


@dataclass(frozen=True)
class JoinOptions:
    """An ensemble's or a soup's: the finished runs joined, where the result goes, how it is exported."""

    data: DataOptions
    runs: tuple[Path, ...]
    out: Path
    export: ExportOptions


def train_run(options: TrainOptions) -> None:
    cfg = options.config
    teacher = cfg.distill.teacher if cfg.distill else None
    _check("train", options.out, {"--data": options.data.path, "--init-from": cfg.init_from, "--teacher": teacher},
           step_outputs(options.out, None))
    from affectstream.training.fer.loop import train

    train_split, val_split, _ = _splits(options.data)
    with output_folder_lock(options.out):
        check_own_folder("train", options.out)
        result = train(cfg, train_split, val_split, options.out, progress_bar=options.progress,
                       data_file=options.data.path)
    print(f"best PublicTest accuracy {result.best_val_acc:.4f} at epoch {result.best_epoch}; "
          f"training wall time {result.wall_seconds / 60:.1f} min")


def export_run(options: ExportRunOptions) -> None:
    """Finalize a finished run (or a joined folder) where it is, and ship it to the export folder if given."""
    _check("export", options.run, {"--data": options.data.path},
           step_outputs(options.run, options.export.export_dir, option="RUN"))
    splits = _splits(options.data)
    with output_folder_lock(options.run, "RUN"):
        check_own_folder("export", options.run)
        _finalize(options.run, splits, options.data, options.export)


def ensemble_runs(options: JoinOptions) -> None:
    """Finished runs as one expr-cnn (probabilities averaged, embeddings side by side), then exported."""
    _check("ensemble", options.out, {"--data": options.data.path} | runs_read("RUN", options.runs),
           step_outputs(options.out, options.export.export_dir, members=len(options.runs)))
    from affectstream.training.fer.ensemble import combine_runs

    splits = _splits(options.data)
    with output_folder_lock(options.out):
        check_own_folder("ensemble", options.out)
        print(f"wrote {combine_runs(list(options.runs), options.out)} ({len(options.runs)} members)")
        _finalize(options.out, splits, options.data, options.export)


def soup_runs(options: JoinOptions) -> None:
    """The weights of runs from one start averaged greedily on PublicTest (one network), then exported."""
    _check("soup", options.out, {"--data": options.data.path} | runs_read("RUN", options.runs),
           step_outputs(options.out, options.export.export_dir))
    import torch

    from affectstream.training.fer.soup import greedy_soup, write_soup

    splits = _splits(options.data)
    with output_folder_lock(options.out):
        check_own_folder("soup", options.out)
        torch.set_num_threads(options.data.threads)
        soup = greedy_soup(list(options.runs), splits[1])
        print(f"wrote {write_soup(soup, options.out)}: {len(soup.kept)} of {len(options.runs)} runs averaged, "
              f"PublicTest {soup.public_test_accuracy:.4f}")
        _finalize(options.out, splits, options.data, options.export)


def _check(step: str, out: Path, inputs: dict, outputs: list) -> None:
    """Before the data loads: the folder takes files, no output replaces an input, the folder is the step's own."""
    check_writable_dir(out, "RUN" if step == "export" else "--out")  # a file there was "File exists" after loading
    check_inputs_kept(inputs, outputs)
    check_own_folder(step, out)


def _splits(data: DataOptions):
    """(Training, PublicTest, PrivateTest), each cut to its fixed subset where a limit is given."""
    from affectstream.training.fer.data import fixed_sample, load_fer2013

    splits = load_fer2013(data.path)
    train_split, val_split, test_split = splits["Training"], splits["PublicTest"], splits["PrivateTest"]
    if data.limit_train:
        train_split = fixed_sample(train_split, data.limit_train, seed=data.seed)
    if data.limit_eval:
        val_split = fixed_sample(val_split, data.limit_eval, seed=data.seed)
        test_split = fixed_sample(test_split, data.limit_eval, seed=data.seed)
    return train_split, val_split, test_split


def _finalize(folder: Path, splits, data: DataOptions, export: ExportOptions) -> None:
    from affectstream.training.fer.finalize import finalize

    train_split, val_split, test_split = splits
    finalize(folder, val_split, test_split, export_dir=export.export_dir, threads=data.threads,
             flip_tta=export.flip_tta, int8_calibration=train_split if export.int8 else None,
             int8_keep_float=export.int8_keep_float)
